import { Writable } from 'node:stream'
import { inspect } from 'node:util'
import pino from 'pino'
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest'
import { createHetznerRegistry, HetznerError, type HetznerRegistry } from '../../../../roles/registry/hetzner/index.js'
import { FakeHetzner } from '../../../helpers/fake-hetzner.js'

const API_TOKEN = 'hz-api-token-jEheVytlAoFl7F8MqUQ7jAo2hOXASztX'
const INVITE = 'ctpf1.eyJ2IjoxLCJtZXNoIjoiYWJjIn0.c2lnbmF0dXJlLW9mLXRoZS1pbnZpdGVy'
const MESH = '0123456789abcdef'
const install = { url: 'https://seed.example.net/artifacts/bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi', sha256: 'a'.repeat(64) }

function capture (): { logger: pino.Logger, lines: string[] } {
  const lines: string[] = []
  const stream = new Writable({ write (chunk, _enc, cb) { lines.push(String(chunk)); cb() } })
  return { logger: pino({ level: 'trace' }, stream), lines }
}

async function codeOf (p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (err) {
    if (err instanceof HetznerError) return err.code
    throw err
  }
  return 'resolved'
}

describe('Hetzner Cloud adapter against a local fake of the API', () => {
  let fake: FakeHetzner
  let log: ReturnType<typeof capture>
  let hz: HetznerRegistry

  beforeAll(async () => { fake = await FakeHetzner.start({ token: API_TOKEN, actionSteps: 2 }) })
  afterAll(async () => { await fake.stop() })
  beforeEach(() => {
    fake.servers.clear()
    fake.requests.length = 0
    log = capture()
    hz = createHetznerRegistry({ meshId: MESH, token: API_TOKEN, endpoint: fake.url, actionPollMs: 10, retryBaseMs: 20, timeoutMs: 5000 }, { logger: log.logger })
  })
  afterEach(() => {
    // whatever a test did, neither secret reached a log line, a URL or a serialisation
    const all = log.lines.join('\n')
    expect(all).not.toContain(API_TOKEN)
    expect(all).not.toContain(INVITE)
    for (const r of fake.requests) expect(r.url).not.toContain(API_TOKEN)
    expect(JSON.stringify(hz)).not.toContain(API_TOKEN)
    expect(inspect(hz, { depth: 10 })).not.toContain(API_TOKEN)
  })

  it('creates a server labelled for the mesh, waits for the action and maps it to a host record', async () => {
    const progress: number[] = []
    const { host, actionId } = await hz.createServer({
      name: 'edge-1', serverType: 'cx22', image: 'debian-12', location: 'nbg1', inviteToken: INVITE, agentInstall: install, sshKeys: ['ops']
    }, { onProgress: p => progress.push(p.progress) })
    expect(host).toMatchObject({ id: `hetzner-${host.serverId}`, name: 'edge-1', dc: 'hetzner-nbg1', location: 'nbg1', status: 'installed', providerStatus: 'running', serverType: 'cx22' })
    expect(host.addresses).toHaveLength(2)
    expect(host.addresses[0]).toMatch(/^203\.0\.113\.\d+$/)
    expect(host.addresses[1]).toMatch(/^2001:db8:[0-9a-f]+::1$/)
    expect(progress).toEqual([50, 100])
    expect(fake.actions.get(actionId)?.status).toBe('success')

    const post = fake.requests.find(r => r.method === 'POST')
    expect(post?.authorization).toBe(`Bearer ${API_TOKEN}`)
    const body = post?.body as Record<string, unknown>
    expect(body).toMatchObject({ name: 'edge-1', server_type: 'cx22', image: 'debian-12', location: 'nbg1', start_after_create: true, ssh_keys: ['ops'], labels: { 'ctpf-mesh': MESH, 'ctpf-dc': 'hetzner-nbg1' } })
    const userData = fake.servers.get(host.serverId)?.userData ?? ''
    expect(userData.startsWith('#cloud-config\n')).toBe(true)
    expect(userData).toContain(INVITE)
    expect(userData).toContain('--join-file /etc/ctpf/join-token')
    expect(userData).toContain('--tag dc=hetzner-nbg1')
  })

  it('lists only this mesh\'s servers, across pages', async () => {
    for (let i = 0; i < 120; i++) fake.addServer({ name: `ours-${i}`, labels: { 'ctpf-mesh': MESH, 'ctpf-dc': 'hetzner-fsn1' } })
    fake.addServer({ name: 'other-mesh', labels: { 'ctpf-mesh': 'ffffffffffffffff' } })
    fake.addServer({ name: 'unlabelled' })
    fake.addServer({ name: 'ours-last', location: 'hel1', status: 'off', labels: { 'ctpf-mesh': MESH } })
    const hosts = await hz.listServers()
    expect(hosts.map(h => h.name)).toEqual([...Array.from({ length: 120 }, (_, i) => `ours-${i}`), 'ours-last'])
    expect(hosts.at(-1)).toMatchObject({ dc: 'hetzner-hel1', status: 'off', providerStatus: 'off' })
    const gets = fake.requests.filter(r => r.method === 'GET')
    // 121 servers at 50 per page: three pages, each asked with the mesh's label selector
    expect(gets.map(r => new URL(r.url, 'http://x').searchParams.get('page'))).toEqual(['1', '2', '3'])
    for (const r of gets) {
      const q = new URL(r.url, 'http://x').searchParams
      expect(q.get('per_page')).toBe('50')
      expect(q.get('label_selector')).toBe(`ctpf-mesh==${MESH}`)
    }
  })

  it('deletes its own server and waits until it is gone; refuses servers of others', async () => {
    const ours = fake.addServer({ name: 'ours', labels: { 'ctpf-mesh': MESH } })
    const theirs = fake.addServer({ name: 'theirs', labels: { 'ctpf-mesh': 'ffffffffffffffff' } })
    await hz.deleteServer(ours.id)
    expect(fake.servers.has(ours.id)).toBe(false)
    expect(await codeOf(hz.deleteServer(theirs.id))).toBe('ERR_HETZNER_NOT_OURS')
    expect(fake.servers.get(theirs.id)?.status).toBe('running')
    expect(fake.requests.filter(r => r.method === 'DELETE')).toHaveLength(1)
    expect(await codeOf(hz.deleteServer(999_999))).toBe('ERR_HETZNER_NOT_FOUND')
  })

  it('a 429 is retried after the wait the rate-limit headers ask for', async () => {
    fake.addServer({ name: 'ours', labels: { 'ctpf-mesh': MESH } })
    fake.rateLimitNext(1)
    const started = Date.now()
    const hosts = await hz.listServers()
    const elapsed = Date.now() - started
    expect(hosts.map(h => h.name)).toEqual(['ours'])
    expect(fake.requests.map(r => r.status)).toEqual([429, 200])
    // RateLimit-Limit 3600/h refills one request per second; retryBaseMs is only 20 ms
    expect(elapsed).toBeGreaterThanOrEqual(900)
    expect(hz.rateLimit.limit).toBe(3600)
    expect(log.lines.some(l => l.includes('"status":429') && l.includes('retried'))).toBe(true)
  })

  it('Retry-After wins over the refill estimate; persistent 429 ends in ERR_HETZNER_RATE_LIMITED', async () => {
    const quick = createHetznerRegistry({ meshId: MESH, token: API_TOKEN, endpoint: fake.url, retryBaseMs: 10, maxRetries: 2, maxRetryDelayMs: 50 }, { logger: log.logger })
    fake.rateLimitNext(3)
    expect(await codeOf(quick.listServers())).toBe('ERR_HETZNER_RATE_LIMITED')
    expect(fake.requests.map(r => r.status)).toEqual([429, 429, 429])
    fake.requests.length = 0
    fake.rateLimitNext(1, { retryAfterSeconds: 0 })
    const started = Date.now()
    await hz.listServers()
    expect(Date.now() - started).toBeLessThan(800)
    expect(fake.requests.map(r => r.status)).toEqual([429, 200])
  })

  it('a create refused with 429 is sent again (it was not processed) and makes one server', async () => {
    fake.rateLimitNext(1, { retryAfterSeconds: 0 })
    const { host } = await hz.createServer({ name: 'edge-429', serverType: 'cx22', image: 'debian-12', location: 'hel1', inviteToken: INVITE, agentInstall: install })
    expect(fake.requests.filter(r => r.method === 'POST').map(r => r.status)).toEqual([429, 201])
    expect([...fake.servers.values()].map(s => s.name)).toEqual(['edge-429'])
    expect(host.dc).toBe('hetzner-hel1')
  })

  it('an API error message that echoes the request is scrubbed of the invite token', async () => {
    const { createServer } = await import('node:http')
    const srv = createServer((req, res) => {
      let body = ''
      req.on('data', c => { body += String(c) })
      req.on('end', () => {
        const text = JSON.stringify({ error: { code: 'invalid_input', message: `cannot use ${body}` } })
        res.writeHead(422, { 'content-type': 'application/json' }).end(text)
      })
    })
    await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', () => resolve()))
    try {
      const echo = createHetznerRegistry({ meshId: MESH, token: API_TOKEN, endpoint: `http://127.0.0.1:${(srv.address() as { port: number }).port}/v1` }, { logger: log.logger })
      const err = await echo.createServer({ name: 'edge-5', serverType: 'cx22', image: 'debian-12', location: 'fsn1', inviteToken: INVITE, agentInstall: install }).catch(e => e)
      expect(err.code).toBe('ERR_HETZNER_API')
      expect(err.apiCode).toBe('invalid_input')
      expect(String(err)).toContain('[redacted]')
      expect(String(err)).not.toContain(INVITE)
    } finally {
      srv.closeAllConnections()
      await new Promise<void>(resolve => srv.close(() => resolve()))
    }
  })

  it('5xx is retried for reads, never for a create (it may have happened)', async () => {
    fake.failNext(503, 502)
    expect(await hz.listServers()).toEqual([])
    expect(fake.requests.map(r => r.status)).toEqual([503, 502, 200])
    fake.requests.length = 0
    fake.failNext(500)
    const err = await hz.createServer({ name: 'edge-2', serverType: 'cx22', image: 'debian-12', location: 'fsn1', inviteToken: INVITE, agentInstall: install }).catch(e => e)
    expect(err.code).toBe('ERR_HETZNER_API')
    expect(err.status).toBe(500)
    expect(err.apiCode).toBe('service_error')
    expect(fake.requests).toHaveLength(1)
  })

  it('a wrong token is ERR_HETZNER_UNAUTHORIZED and the token is not in the error', async () => {
    const wrongToken = 'wrong-token-Zz9Yy8Xx7Ww6'
    const bad = createHetznerRegistry({ meshId: MESH, token: wrongToken, endpoint: fake.url, retryBaseMs: 10 }, { logger: log.logger })
    const err = await bad.listServers().catch(e => e)
    expect(err.code).toBe('ERR_HETZNER_UNAUTHORIZED')
    expect(err.apiCode).toBe('unauthorized')
    expect(fake.requests).toHaveLength(1) // not retried
    expect(`${String(err)} ${inspect(err)} ${JSON.stringify(err)}`).not.toContain(wrongToken)
    expect(log.lines.join('\n')).not.toContain(wrongToken)
  })

  it('API errors keep Hetzner\'s code: a duplicate name is uniqueness_error', async () => {
    fake.addServer({ name: 'taken', labels: { 'ctpf-mesh': MESH } })
    const err = await hz.createServer({ name: 'taken', serverType: 'cx22', image: 'debian-12', location: 'fsn1', inviteToken: INVITE, agentInstall: install }).catch(e => e)
    expect(err.code).toBe('ERR_HETZNER_API')
    expect(err.apiCode).toBe('uniqueness_error')
    expect(err.status).toBe(409)
    expect(String(err)).not.toContain(INVITE)
  })

  it('a failed create action is ERR_HETZNER_ACTION_FAILED with the action\'s error code', async () => {
    fake.failNextAction('placement_error', 'no capacity in nbg1')
    const err = await hz.createServer({ name: 'edge-3', serverType: 'cx22', image: 'debian-12', location: 'nbg1', inviteToken: INVITE, agentInstall: install }).catch(e => e)
    expect(err.code).toBe('ERR_HETZNER_ACTION_FAILED')
    expect(err.apiCode).toBe('placement_error')
  })

  it('create without waiting returns the initializing server; abort stops waiting', async () => {
    const { host, actionId } = await hz.createServer({ name: 'edge-4', serverType: 'cx22', image: 'debian-12', location: 'fsn1', inviteToken: INVITE, agentInstall: install }, { wait: false })
    expect(host).toMatchObject({ status: 'booting', providerStatus: 'initializing', dc: 'hetzner-fsn1' })
    fake.actionSteps = 1_000_000
    const ac = new AbortController()
    const waiting = hz.waitForAction(actionId, { signal: ac.signal })
    setTimeout(() => ac.abort(), 50)
    expect(await codeOf(waiting)).toBe('ERR_HETZNER_ABORTED')
    fake.actionSteps = 2
  })

  it('refuses bad input before any request', async () => {
    const spec = { name: 'ok', serverType: 'cx22', image: 'debian-12', location: 'fsn1', inviteToken: INVITE, agentInstall: install }
    expect(await codeOf(hz.createServer({ ...spec, name: 'bad name' }))).toBe('ERR_HETZNER_CONFIG')
    expect(await codeOf(hz.createServer({ ...spec, inviteToken: 'not-a-token' }))).toBe('ERR_HETZNER_CONFIG')
    expect(await codeOf(hz.createServer({ ...spec, agentInstall: { ...install, sha256: 'xyz' } }))).toBe('ERR_HETZNER_CONFIG')
    expect(await codeOf(hz.createServer({ ...spec, agentInstall: { ...install, url: 'file:///etc/passwd' } }))).toBe('ERR_HETZNER_CONFIG')
    expect(await codeOf(hz.createServer({ ...spec, tags: { role: 'a b' } }))).toBe('ERR_HETZNER_CONFIG')
    expect(await codeOf(hz.createServer({ ...spec, labels: { 'hetzner.cloud/x': 'y' } }))).toBe('ERR_HETZNER_CONFIG')
    expect(fake.requests).toHaveLength(0)
    expect(() => createHetznerRegistry({ meshId: MESH, token: API_TOKEN, endpoint: 'http://api.example.net/v1' })).toThrow(expect.objectContaining({ code: 'ERR_HETZNER_CONFIG' }))
    expect(() => createHetznerRegistry({ meshId: MESH, token: 'has space' })).toThrow(expect.objectContaining({ code: 'ERR_HETZNER_CONFIG' }))
    expect(() => createHetznerRegistry({ meshId: 'bad mesh', token: API_TOKEN })).toThrow(expect.objectContaining({ code: 'ERR_HETZNER_CONFIG' }))
  })

  it('a response that is not the documented shape is ERR_HETZNER_BAD_RESPONSE; a silent API times out', async () => {
    const { createServer } = await import('node:http')
    const srv = createServer((req, res) => {
      if (req.url?.startsWith('/v1/servers') === true) { res.writeHead(200, { 'content-type': 'application/json' }); res.end('{"servers":"nope"}'); return }
      // never answers
    })
    await new Promise<void>(resolve => srv.listen(0, '127.0.0.1', () => resolve()))
    const port = (srv.address() as { port: number }).port
    try {
      const odd = createHetznerRegistry({ meshId: MESH, token: API_TOKEN, endpoint: `http://127.0.0.1:${port}/v1`, timeoutMs: 200, maxRetries: 1, retryBaseMs: 10 }, { logger: log.logger })
      expect(await codeOf(odd.listServers())).toBe('ERR_HETZNER_BAD_RESPONSE')
      expect(await codeOf(odd.waitForAction(1))).toBe('ERR_HETZNER_TIMEOUT')
    } finally {
      srv.closeAllConnections()
      await new Promise<void>(resolve => srv.close(() => resolve()))
    }
  })
})
