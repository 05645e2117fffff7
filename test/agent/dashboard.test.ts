/**
 * The web dashboard in a real headless Chromium (Debian's /usr/bin/chromium driven by
 * playwright-core) against a real mesh of two agent processes.
 */
import { existsSync, rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { ASSETS, PAGE, SessionStore } from '../../agent/control/dashboard/index.js'
import { invite, startAgent, tempDir, waitFor } from '../helpers/agents.js'
import { isCI, isRoot } from '../helpers/privileged.js'
import type { RunningAgent } from '../helpers/agents.js'

const CHROMIUM = '/usr/bin/chromium'

/** The part of playwright-core this test uses (imported by name at run time, so it may be absent). */
interface Locator { textContent: () => Promise<string | null>, isVisible: () => Promise<boolean>, click: () => Promise<void>, fill: (v: string) => Promise<void>, count: () => Promise<number> }
interface Page {
  goto: (url: string) => Promise<unknown>
  locator: (selector: string) => Locator
  evaluate: <R, A>(fn: (arg: A) => R | Promise<R>, arg: A) => Promise<R>
  content: () => Promise<string>
  setDefaultTimeout: (ms: number) => void
  waitForSelector: (selector: string, opts?: { state?: 'visible' | 'hidden' | 'attached' }) => Promise<unknown>
  on: (event: 'pageerror', fn: (err: Error) => void) => void
}
interface Context { newPage: () => Promise<Page>, cookies: () => Promise<Array<{ name: string, value: string, httpOnly: boolean, sameSite: string }>>, close: () => Promise<void> }
interface Browser { newContext: () => Promise<Context>, close: () => Promise<void> }
interface Playwright { chromium: { launch: (o: { executablePath: string, headless: boolean, args: string[] }) => Promise<Browser> } }

const PLAYWRIGHT = 'playwright-core'
let playwright: Playwright | undefined
const missing: string[] = []
try { playwright = await import(PLAYWRIGHT) as Playwright } catch { missing.push('playwright-core (npm install)') }
if (!existsSync(CHROMIUM)) missing.push(`${CHROMIUM} (apt-get install chromium; scripts/install-test-deps.sh)`)
if (missing.length > 0) {
  const why = `the dashboard browser test needs ${missing.join(' and ')}`
  if (isCI) throw new Error(`CI=true and ${why}`)
  console.warn(`\n*** SKIPPING ${why}\n`)
}

describe('the dashboard files', () => {
  it('never hand data to the HTML parser and load nothing from elsewhere', () => {
    for (const [name, asset] of Object.entries(ASSETS)) {
      expect(asset.body, name).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function/)
      expect(asset.body, name).not.toMatch(/https?:\/\//)
    }
    expect(PAGE.body).not.toMatch(/<script(?![^>]*src="\/ui\/)/)
    expect(PAGE.body).not.toMatch(/ on[a-z]+="/)
  })
})

describe('dashboard sessions', () => {
  it('expire after their lifetime and are never the id itself in memory', () => {
    let now = 1_000
    const sessions = new SessionStore({ ttlMs: 60_000, now: () => now })
    const { id, expiresAt } = sessions.create()
    expect(id).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(expiresAt).toBe(61_000)
    expect(sessions.check(id)).toBe(61_000)
    expect(sessions.check(id.slice(1))).toBeUndefined()
    now = 61_000
    expect(sessions.check(id)).toBeUndefined()
    expect(sessions.size).toBe(0)
  })

  it('keep at most max sessions, dropping the oldest', () => {
    const sessions = new SessionStore({ max: 2 })
    const a = sessions.create().id
    const b = sessions.create().id
    const c = sessions.create().id
    expect([a, b, c].map(id => sessions.check(id) != null)).toEqual([false, true, true])
    sessions.delete(b)
    expect(sessions.check(b)).toBeUndefined()
  })
})

describe.skipIf(missing.length > 0)('the web dashboard in headless Chromium', () => {
  const dirs = [tempDir('ctpf-dash-'), tempDir('ctpf-dash-')]
  let a: RunningAgent
  let b: RunningAgent
  let peerA: string
  let peerB: string
  let browser: Browser
  let context: Context
  let page: Page
  const pageErrors: string[] = []

  beforeAll(async () => {
    a = await startAgent({ dir: dirs[0], args: ['--tag', 'dc=fsn1'] })
    b = await startAgent({ dir: dirs[1], joinToken: await invite(a), args: ['--tag', 'dc=nbg1'] })
    peerA = (await a.status()).peerId
    peerB = (await b.status()).peerId
    for (const x of [a, b]) await waitFor(async () => ((await x.api('GET', '/members')).body as unknown[]).length === 2, { what: '2 members', timeoutMs: 30_000 })
    browser = await playwright!.chromium.launch({ executablePath: CHROMIUM, headless: true, args: isRoot ? ['--no-sandbox'] : [] })
    context = await browser.newContext()
    page = await context.newPage()
    page.setDefaultTimeout(20_000)
    page.on('pageerror', err => { pageErrors.push(err.message) })
  }, 120_000)

  afterAll(async () => {
    await context?.close().catch(() => {})
    await browser?.close().catch(() => {})
    await Promise.all([a, b].map(async x => await x?.stop('SIGKILL')))
    for (const d of dirs) rmSync(d, { recursive: true, force: true })
  })

  const text = async (selector: string): Promise<string> => (await page.locator(selector).textContent()) ?? ''
  const pageFetch = async (path: string, init: { method?: string, headers?: Record<string, string>, body?: string } = {}): Promise<{ status: number, code?: string }> =>
    await page.evaluate(async ([p, i]) => {
      const res = await fetch(p, i)
      const body = await res.json().catch(() => ({})) as { error?: { code?: string } }
      return { status: res.status, code: body?.error?.code }
    }, [path, init] as const)
  const sessionCookie = async (): Promise<{ name: string, value: string, httpOnly: boolean, sameSite: string } | undefined> =>
    (await context.cookies()).find(c => c.name.startsWith('ctpf_session_'))

  it('serves the page without credentials, showing only a login form', async () => {
    const res = await fetch(`${a.url}/`)
    expect(res.status).toBe(200)
    expect(res.headers.get('content-security-policy')).toContain("script-src 'self'")
    await page.goto(`${a.url}/`)
    await page.waitForSelector('#login-form', { state: 'visible' })
    expect(await page.locator('#nav').isVisible()).toBe(false)
    expect(await page.locator('#mesh-rows tr').count()).toBe(0)
    expect(await page.content()).not.toContain(peerA)
    expect(await pageFetch('/v1/status')).toEqual({ status: 401, code: 'UNAUTHORIZED' })
    expect(await pageFetch('/v1/events')).toMatchObject({ status: 401 })
  })

  it('refuses a wrong token', async () => {
    await page.locator('#token').fill('not-the-token')
    await page.locator('#login-form button').click()
    await waitFor(async () => (await text('#login-error')).length > 0, { what: 'the login error' })
    expect(await text('#login-error')).toMatch(/not this agent's control token/)
    expect(await sessionCookie()).toBeUndefined()
    expect(await page.locator('#nav').isVisible()).toBe(false)
  })

  it('logs in with the control token and lists both agents with their dc and path', async () => {
    await page.locator('#token').fill(a.token)
    await page.locator('#login-form button').click()
    await page.waitForSelector('#view-mesh', { state: 'visible' })
    await waitFor(async () => { const t = await text('#mesh-rows'); return t.includes(peerA) && t.includes(peerB) }, { what: 'both agents in the mesh view' })
    const rowB = await text(`#mesh-rows tr[data-peer="${peerB}"]`)
    expect(rowB).toContain('nbg1')
    await waitFor(async () => (await text(`#mesh-rows tr[data-peer="${peerB}"]`)).includes('direct'), { what: 'the path to b' })
    expect(await text(`#mesh-rows tr[data-peer="${peerA}"]`)).toContain('fsn1')
    expect(await text('#self')).toContain(peerA)
    // the cookie holds a random session id, never the token, and scripts cannot read it
    const cookie = await sessionCookie()
    expect(cookie).toMatchObject({ httpOnly: true, sameSite: 'Strict' })
    expect(cookie!.value).not.toContain(a.token)
    expect(await page.evaluate(() => (globalThis as unknown as { document: { cookie: string } }).document.cookie, undefined)).toBe('')
  })

  it('refuses a state change by cookie without the CSRF header', async () => {
    expect(await pageFetch('/v1/invites', { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' })).toEqual({ status: 403, code: 'CSRF_HEADER_MISSING' })
    expect(await pageFetch('/v1/invites', { method: 'POST', headers: { 'content-type': 'application/json', 'x-ctpf-csrf': '1' }, body: '{}' })).toMatchObject({ status: 200 })
    // the same from outside the browser, and the cookie of one agent means nothing to another
    const cookie = await sessionCookie()
    const header = `${cookie!.name}=${cookie!.value}`
    const post = async (url: string, headers: Record<string, string>): Promise<number> =>
      (await fetch(`${url}/v1/tags`, { method: 'PUT', headers: { cookie: header, 'content-type': 'application/json', ...headers }, body: JSON.stringify({ tags: { dc: 'fsn1' } }) })).status
    expect(await post(a.url, {})).toBe(403)
    expect(await post(a.url, { 'x-ctpf-csrf': '1' })).toBe(200)
    expect(await post(b.url, { 'x-ctpf-csrf': '1' })).toBe(401)
    expect((await fetch(`${b.url}/v1/status`, { headers: { cookie: `ctpf_session_${new URL(b.url).port}=${cookie!.value}` } })).status).toBe(401)
  })

  it("shows a job and its log lines as they arrive", async () => {
    await page.locator('#nav button[data-view="jobs"]').click()
    await page.waitForSelector('#view-jobs', { state: 'visible' })
    const submitted = await a.api('POST', '/jobs', { kind: 'probe', spec: { ms: 4000 } })
    expect(submitted.status).toBe(200)
    const id = submitted.body.id as string
    // the row appears without a reload: job:submitted on the event stream
    await page.waitForSelector(`#jobs-rows tr[data-job="${id}"]`, { state: 'visible' })
    await page.locator(`#jobs-rows tr[data-job="${id}"]`).click()
    await page.waitForSelector('#job-detail', { state: 'visible' })
    await waitFor(async () => (await text('#job-log')).includes('probe on'), { what: 'the first log line', timeoutMs: 20_000 })
    // the first line is on screen while the job still runs: it arrived live
    expect((await a.api('GET', `/jobs/${id}`)).body.status).not.toBe('succeeded')
    expect(await text('#job-log')).not.toContain('probe done')
    await waitFor(async () => (await text('#job-log')).includes('probe done'), { what: 'the last log line', timeoutMs: 20_000 })
    await waitFor(async () => (await text('#job-status')) === 'succeeded', { what: 'the job to show succeeded' })
    await page.waitForSelector('#job-log-end', { state: 'visible' })
    expect(await text(`#jobs-rows tr[data-job="${id}"]`)).toContain('succeeded')
    expect(await page.locator('#job-log li').count()).toBe(2)
  })

  it('runs a probe from the page and shows where its selector landed', async () => {
    await page.locator('#probe-selector').fill('dc=nbg1')
    await page.locator('#probe-form button').click()
    await waitFor(async () => (await text('#job-log')).includes(`probe on ${peerB}`), { what: 'the probe on b', timeoutMs: 20_000 })
    await waitFor(async () => (await text('#job-status')) === 'succeeded', { what: 'the probe to show succeeded' })
    expect(((await a.api('GET', '/jobs')).body as Array<{ selector: string }>).filter(j => j.selector === 'dc=nbg1')).toHaveLength(1)
  })

  it('lists artifacts and their names', async () => {
    const res = await fetch(`${a.url}/v1/artifacts?name=${encodeURIComponent('demo/hello.txt')}`, { method: 'POST', headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/octet-stream' }, body: 'hello <b>dashboard</b>\n' })
    expect(res.status).toBe(200)
    const { cid } = await res.json() as { cid: string }
    await page.locator('#nav button[data-view="artifacts"]').click()
    await waitFor(async () => (await text('#pins-rows')).includes(cid), { what: 'the artifact' })
    await waitFor(async () => (await text('#names-rows')).includes('demo/hello.txt'), { what: 'its name' })
  })

  it('shows the hosts, or says that the mesh has no registry', async () => {
    const hosts = await a.api('GET', '/hosts')
    await page.locator('#nav button[data-view="hosts"]').click()
    await page.waitForSelector('#view-hosts', { state: 'visible' })
    if (hosts.status === 404) await waitFor(async () => (await text('#hosts-empty')) === 'No registry in this mesh.', { what: 'the no-registry note' })
    else if (hosts.status === 200) await waitFor(async () => await page.locator('#hosts-table').isVisible() || (await text('#hosts-empty')) === 'No hosts registered yet.', { what: 'the hosts' })
    else await waitFor(async () => (await text('#error')).includes(hosts.body.error.message as string), { what: 'the failure on the page' })
  })

  it('logs out: the page forgets its data and the session stops working', async () => {
    const cookie = await sessionCookie()
    await page.locator('#logout').click()
    await page.waitForSelector('#login-form', { state: 'visible' })
    expect(await page.locator('#mesh-rows tr').count()).toBe(0)
    expect(await page.locator('#jobs-rows tr').count()).toBe(0)
    expect(await page.content()).not.toContain(peerB)
    expect(await sessionCookie()).toBeUndefined()
    expect((await fetch(`${a.url}/v1/status`, { headers: { cookie: `${cookie!.name}=${cookie!.value}` } })).status).toBe(401)
    expect(await pageFetch('/v1/status')).toMatchObject({ status: 401 })
    expect(pageErrors).toEqual([])
  })
})
