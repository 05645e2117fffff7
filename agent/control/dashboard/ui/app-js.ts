/** Browser module /ui/app.js: login, navigation, loading the views and live updates. */
export const APP_JS = String.raw`import { byId, show } from './dom.js'
import * as api from './api.js'
import * as views from './views.js'

const VIEWS = ['mesh', 'jobs', 'artifacts', 'hosts']
const EVENTS = {
  mesh: ['member:joined', 'member:updated', 'member:revoked', 'peer:connect', 'peer:disconnect'],
  jobs: ['job:submitted', 'job:claimed', 'job:finished'],
  artifacts: ['artifact:stored'],
  hosts: ['host:status']
}

// the event stream carries what happens on this agent; a slow poll catches the rest
const POLL_MS = 10000

const state = { self: null, view: 'mesh', job: null, follow: null, unsubscribe: null, poll: null, timers: {} }

function fail (err) {
  if (err && err.status === 401) { showLogin(); return }
  if (err && err.name === 'AbortError') return
  const box = byId('error')
  box.textContent = err && err.message ? err.message : String(err)
  show(box, true)
}

async function loadMesh () {
  const [self, members, peers] = await Promise.all([api.get('/v1/status'), api.get('/v1/members'), api.get('/v1/peers')])
  state.self = self
  byId('self').textContent = self.peerId + '  ·  mesh ' + self.meshId + '  ·  v' + self.version
  views.renderMesh(self, members, peers)
}

async function loadJobs () {
  const jobs = await api.get('/v1/jobs')
  jobs.sort((a, b) => b.createdAt - a.createdAt)
  views.renderJobs(jobs, state.job, selectJob)
  const current = jobs.find(j => j.id === state.job)
  if (current) views.renderJobHeader(current)
}

async function loadArtifacts () {
  const pins = await api.get('/v1/artifacts')
  const keys = await api.get('/v1/state?prefix=' + encodeURIComponent('names/'))
  const names = []
  for (const entry of keys.slice(0, 100)) {
    const name = entry.key.slice('names/'.length)
    try {
      const rec = await api.get('/v1/names/' + name.split('/').map(encodeURIComponent).join('/'))
      names.push({ name, cid: rec.cid, at: rec.at, by: rec.by })
    } catch (err) {
      if (err.status !== 404) throw err
    }
  }
  views.renderArtifacts(pins, names)
}

async function loadHosts () {
  try {
    views.renderHosts(await api.get('/v1/hosts'))
  } catch (err) {
    if (err.status === 404) views.renderHosts(null)
    else throw err
  }
}

const LOADERS = { mesh: loadMesh, jobs: loadJobs, artifacts: loadArtifacts, hosts: loadHosts }

/** Loads a view; a success clears an earlier error. */
function load (view) {
  LOADERS[view]().then(() => show(byId('error'), false), fail)
}

/** Reloads a view soon; events arriving in a burst cause one reload. */
function refresh (view) {
  clearTimeout(state.timers[view])
  state.timers[view] = setTimeout(() => { load(view) }, 150)
}

function selectJob (job) {
  if (state.follow) state.follow.abort()
  state.job = job.id
  const follow = new AbortController()
  state.follow = follow
  byId('job-log').replaceChildren()
  show(byId('job-log-end'), false)
  views.renderJobHeader(job)
  show(byId('job-detail'), true)
  for (const row of byId('jobs-rows').children) row.classList.toggle('selected', row.dataset.job === job.id)
  api.followLog(job.id, views.appendLogLine, follow.signal)
    .then(() => {
      if (state.follow !== follow) return
      show(byId('job-log-end'), true)
      // job:finished is emitted only where the job ran: the end of its log is our news
      refresh('jobs')
    })
    .catch(fail)
}

function showView (view) {
  if (!VIEWS.includes(view)) view = 'mesh'
  state.view = view
  for (const v of VIEWS) show(byId('view-' + v), v === view)
  for (const b of document.querySelectorAll('#nav button')) {
    if (b.dataset.view === view) b.setAttribute('aria-current', 'page')
    else b.removeAttribute('aria-current')
  }
  if (location.hash !== '#' + view) history.replaceState(null, '', '#' + view)
  load(view)
}

function setLive (what) {
  const badge = byId('live')
  badge.textContent = what
  badge.classList.toggle('live', what === 'live')
  // a closed stream usually means the session ended
  if (what === 'closed') api.session().then(() => { setTimeout(subscribe, 2000) }, fail)
}

function subscribe () {
  if (state.unsubscribe) state.unsubscribe()
  const names = Object.values(EVENTS).flat()
  state.unsubscribe = api.subscribe(names, (name, detail) => {
    views.addEvent(name, detail)
    for (const [view, list] of Object.entries(EVENTS)) if (list.includes(name)) refresh(view)
  }, setLive)
}

function showLogin () {
  if (state.unsubscribe) { state.unsubscribe(); state.unsubscribe = null }
  if (state.follow) { state.follow.abort(); state.follow = null }
  clearInterval(state.poll)
  state.job = null
  views.clearAll()
  for (const v of VIEWS) show(byId('view-' + v), false)
  for (const id of ['nav', 'live', 'logout', 'activity', 'error']) show(byId(id), false)
  show(byId('login'), true)
  byId('token').focus()
}

function enter () {
  show(byId('login'), false)
  for (const id of ['nav', 'live', 'logout', 'activity']) show(byId(id), true)
  subscribe()
  clearInterval(state.poll)
  state.poll = setInterval(() => refresh(state.view), POLL_MS)
  const hash = location.hash.slice(1)
  const view = VIEWS.includes(hash) ? hash : 'mesh'
  // the header shows this agent, which the mesh view loads
  if (view !== 'mesh') loadMesh().catch(fail)
  showView(view)
}

async function onLogin (e) {
  e.preventDefault()
  const input = byId('token')
  const message = byId('login-error')
  message.textContent = ''
  try {
    await api.login(input.value.trim())
    input.value = ''
    enter()
  } catch (err) {
    message.textContent = err.status === 401 ? 'That is not this agent\'s control token.' : (err.message || String(err))
  }
}

/** Submits a probe job (state-changing: the request carries the CSRF header) and follows its log. */
async function onProbe (e) {
  e.preventDefault()
  const message = byId('probe-error')
  message.textContent = ''
  try {
    const { id } = await api.request('POST', '/v1/jobs', { kind: 'probe', selector: byId('probe-selector').value.trim(), spec: { ms: 0 } })
    selectJob({ id, kind: 'probe', status: 'queued' })
    refresh('jobs')
  } catch (err) {
    if (err.status === 401) fail(err)
    else message.textContent = err.message || String(err)
  }
}

async function onLogout () {
  try { await api.logout() } catch (err) { if (err.status !== 401) fail(err) }
  showLogin()
}

byId('login-form').addEventListener('submit', onLogin)
byId('logout').addEventListener('click', onLogout)
byId('probe-form').addEventListener('submit', onProbe)
for (const b of document.querySelectorAll('#nav button')) b.addEventListener('click', () => showView(b.dataset.view))
window.addEventListener('hashchange', () => { if (!byId('nav').hidden) showView(location.hash.slice(1)) })

api.session().then(enter, err => { if (err.status === 401) showLogin(); else fail(err) })
`
