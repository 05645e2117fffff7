/** Browser module /ui/views.js: renders API answers into the page's tables. */
export const VIEWS_JS = String.raw`import { el, clear, byId, show, ident, time, bytes } from './dom.js'

function tagChips (tags, skip) {
  return Object.entries(tags || {}).filter(([k]) => k !== skip).map(([k, v]) => el('span', { class: 'chip', text: k + '=' + v }))
}

/** Agents: members of the mesh and the peers connected to this agent, with their path. */
export function renderMesh (self, members, peers) {
  const rows = byId('mesh-rows')
  clear(rows)
  const peerById = new Map(peers.map(p => [p.peerId, p]))
  const ids = [...new Set([self.peerId, ...members.map(m => m.peerId), ...peers.map(p => p.peerId)])]
  const memberById = new Map(members.map(m => [m.peerId, m]))
  for (const id of ids) {
    const member = memberById.get(id)
    const peer = peerById.get(id)
    const tags = member ? member.tags : (id === self.peerId ? self.tags : {})
    const caps = member ? member.caps : []
    const role = id === self.peerId ? 'this agent' : member ? 'member' : 'not a member'
    const path = id === self.peerId ? '—' : peer ? peer.path : 'not connected'
    const address = id === self.peerId ? (self.addresses[0] || '') : peer ? (peer.addresses[0] || '') : ''
    rows.append(el('tr', { 'data-peer': id },
      el('td', {}, ident(id)),
      el('td', { text: role }),
      el('td', { text: tags.dc || '—' }),
      el('td', { class: 'wrap' }, tagChips(tags, 'dc')),
      el('td', {}, caps.map(c => el('span', { class: 'chip', text: c }))),
      el('td', { class: 'path-' + path, text: path }),
      el('td', {}, el('span', { class: 'addr mono muted', title: address, text: address }))
    ))
  }
}

export function renderJobs (jobs, selectedId, onSelect) {
  const rows = byId('jobs-rows')
  clear(rows)
  show(byId('jobs-empty'), jobs.length === 0)
  for (const job of jobs) {
    const row = el('tr', {
      class: 'clickable' + (job.id === selectedId ? ' selected' : ''),
      tabindex: 0,
      'data-job': job.id,
      onclick: () => onSelect(job),
      onkeydown: e => { if (e.key === 'Enter') onSelect(job) }
    },
    el('td', {}, ident(job.id)),
    el('td', { text: job.kind }),
    el('td', { class: 'mono', text: job.selector || 'any' }),
    el('td', {}, el('span', { class: 'status status-' + job.status, text: job.status })),
    el('td', { text: job.attempts + ' / ' + job.maxAttempts }),
    el('td', {}, job.claim ? ident(job.claim.peer) : '—'),
    el('td', { text: time(job.updatedAt) })
    )
    rows.append(row)
  }
}

export function renderJobHeader (job) {
  byId('job-title').textContent = job.kind + ' ' + job.id
  const status = byId('job-status')
  status.textContent = job.status
  status.className = 'status status-' + job.status
}

export function appendLogLine (line) {
  const list = byId('job-log')
  list.append(el('li', { 'data-seq': line.seq }, el('span', { class: 'at', text: time(line.at) }), line.line))
  list.scrollTop = list.scrollHeight
}

export function renderArtifacts (pins, names) {
  const pinRows = byId('pins-rows')
  clear(pinRows)
  show(byId('pins-empty'), pins.length === 0)
  for (const p of pins) {
    pinRows.append(el('tr', {}, el('td', {}, ident(p.cid)), el('td', { text: p.blocks }), el('td', { text: bytes(p.bytes) }), el('td', { text: time(p.pinnedAt) })))
  }
  const nameRows = byId('names-rows')
  clear(nameRows)
  show(byId('names-empty'), names.length === 0)
  for (const n of names) {
    nameRows.append(el('tr', {}, el('td', { class: 'mono', text: n.name }), el('td', {}, ident(n.cid)), el('td', { text: time(n.at) }), el('td', {}, ident(n.by))))
  }
}

/** Hosts of the registry with their lifecycle; null when this mesh has none. */
export function renderHosts (hosts) {
  const empty = byId('hosts-empty')
  const table = byId('hosts-table')
  const rows = byId('hosts-rows')
  clear(rows)
  if (hosts == null || hosts.length === 0) {
    empty.textContent = hosts == null ? 'No registry in this mesh.' : 'No hosts registered yet.'
    show(empty, true)
    show(table, false)
    return
  }
  for (const h of hosts) {
    const lifecycle = (h.events || []).slice(-6).map(e => e.status).join(' → ')
    rows.append(el('tr', { 'data-host': h.id },
      el('td', { text: h.hostname || h.id }),
      el('td', { class: 'mono', text: h.mac || '—' }),
      el('td', { text: h.dc || '—' }),
      el('td', {}, el('span', { class: 'status status-' + h.status, text: h.status || '—' })),
      el('td', { class: 'muted wrap', text: lifecycle || '—' }),
      el('td', { text: h.profile || '—' }),
      el('td', { class: 'mono wrap', text: (h.addresses || []).join(', ') || '—' }),
      el('td', { text: time(h.lastSeen) })
    ))
  }
  show(empty, false)
  show(table, true)
}

export function addEvent (name, detail) {
  const feed = byId('event-feed')
  let summary = typeof detail === 'string' ? detail : JSON.stringify(detail)
  if (summary.length > 160) summary = summary.slice(0, 157) + '...'
  feed.prepend(el('li', {}, el('span', { class: 'muted', text: new Date().toLocaleTimeString() }), el('span', { class: 'name', text: name }), el('span', { class: 'muted', text: summary })))
  while (feed.children.length > 30) feed.lastElementChild.remove()
}

/** Empties every view, so nothing of a session stays on screen after logging out. */
export function clearAll () {
  for (const id of ['mesh-rows', 'jobs-rows', 'job-log', 'pins-rows', 'names-rows', 'hosts-rows', 'event-feed']) clear(byId(id))
  for (const id of ['job-title', 'job-status', 'self', 'hosts-empty']) byId(id).textContent = ''
  show(byId('job-detail'), false)
}
`
