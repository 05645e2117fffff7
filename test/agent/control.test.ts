import { once } from 'node:events'
import { writeFileSync, mkdirSync, readdirSync } from 'node:fs'
import { createServer } from 'node:net'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startAgent, tempDir, waitFor } from '../helpers/agents.js'
import type { RunningAgent } from '../helpers/agents.js'

describe('the control endpoint', () => {
  let agent: RunningAgent
  beforeAll(async () => { agent = await startAgent() })
  afterAll(async () => { await agent.stop('SIGKILL') })

  it('refuses requests without the bearer token (401)', async () => {
    for (const headers of [{}, { authorization: 'Bearer wrong' }, { authorization: agent.token }]) {
      const res = await fetch(`${agent.url}/v1/status`, { headers })
      expect(res.status).toBe(401)
      expect((await res.json()).error.code).toBe('UNAUTHORIZED')
    }
  })

  it('listens on loopback only and writes its URL and a 0600 token', async () => {
    expect(agent.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/)
    const { statSync } = await import('node:fs')
    expect(statSync(join(agent.dir, 'control.token')).mode & 0o777).toBe(0o600)
    expect(statSync(join(agent.dir, 'identity.key')).mode & 0o777).toBe(0o600)
    expect(statSync(join(agent.dir, 'root.key')).mode & 0o777).toBe(0o600)
  })

  it('answers a malformed body with 400 and says what is wrong', async () => {
    const bad = await fetch(`${agent.url}/v1/invites`, { method: 'POST', headers: { authorization: `Bearer ${agent.token}`, 'content-type': 'application/json' }, body: '{"ttl' })
    expect(bad.status).toBe(400)
    expect((await bad.json()).error.code).toBe('BAD_REQUEST')
    const wrong = await agent.api('POST', '/invites', { ttlSeconds: 'soon', tags: { 'Bad Key': 'x' } })
    expect(wrong.status).toBe(400)
    expect(wrong.body.error.message).toMatch(/ttlSeconds/)
    expect(wrong.body.error.message).toMatch(/tags/)
    const unknown = await agent.api('POST', '/invites', { admin: true })
    expect(unknown.status).toBe(400)
    const tags = await agent.api('PUT', '/tags', { tags: 'dc=nbg1' })
    expect(tags.status).toBe(400)
    const revoke = await agent.api('POST', '/members/not-a-peer/revoke')
    expect(revoke.status).toBe(400)
    const missing = await agent.api('GET', '/nothing')
    expect(missing.status).toBe(404)
    expect(missing.body.error.code).toBe('NOT_FOUND')
  })

  it('serves an OpenAPI document of the fixed routes', async () => {
    const doc = (await agent.api('GET', '/openapi.json')).body
    expect(doc.openapi).toBe('3.1.0')
    for (const p of ['/status', '/members', '/invites', '/members/{peerId}/revoke', '/peers', '/events']) expect(Object.keys(doc.paths)).toContain(p)
    expect(doc.paths['/invites'].post.requestBody.content['application/json'].schema.properties).toHaveProperty('ttlSeconds')
  })

  it('streams events as server-sent events', async () => {
    const ac = new AbortController()
    const res = await fetch(`${agent.url}/v1/events`, { headers: { authorization: `Bearer ${agent.token}` }, signal: ac.signal })
    expect(res.headers.get('content-type')).toContain('text/event-stream')
    const reader = res.body!.getReader()
    let text = ''
    const reading = (async () => {
      for (;;) {
        const { value, done } = await reader.read()
        if (done) return
        text += Buffer.from(value).toString()
      }
    })().catch(() => {})
    await new Promise(r => setTimeout(r, 100))
    expect((await agent.api('PUT', '/tags', { tags: { role: 'scripts' } })).status).toBe(200)
    await waitFor(() => text.includes('event: member:updated'), { what: 'member:updated event' })
    expect(text).toContain('"role":"scripts"')
    ac.abort()
    await reading
  })

  it('the CLI prints JSON with --json and clear errors without a running agent', async () => {
    const s = await runCli(['status', '--json', '--data-dir', agent.dir])
    expect(s.code).toBe(0)
    expect(JSON.parse(s.stdout).peerId).toBe((await agent.status()).peerId)
    const none = await runCli(['status', '--data-dir', tempDir()])
    expect(none.code).toBe(1)
    expect(none.stderr).toContain('AGENT_NOT_RUNNING')
  })
})

describe('bad start conditions end in one clear message and a non-zero exit', () => {
  const run = async (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stderr: string }> =>
    await runCli(['agent', '--listen', '/ip4/127.0.0.1/tcp/0', ...args], { CTPF_LOG_LEVEL: 'silent', ...env })

  const expectClear = (r: { code: number | null, stderr: string }, code: string): void => {
    expect(r.code).toBe(1)
    expect(r.stderr).toContain(`[${code}]`)
    expect(r.stderr).not.toMatch(/\n\s+at /) // no stack trace
  }

  it('a control port already in use', async () => {
    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const port = (blocker.address() as { port: number }).port
    try {
      expectClear(await run(['--data-dir', tempDir(), '--control', `127.0.0.1:${port}`]), 'ADDRESS_IN_USE')
    } finally {
      blocker.close()
    }
  })

  it('a mesh listen port already in use', async () => {
    const blocker = createServer()
    blocker.listen(0, '127.0.0.1')
    await once(blocker, 'listening')
    const port = (blocker.address() as { port: number }).port
    try {
      const r = await runCli(['agent', '--data-dir', tempDir(), '--listen', `/ip4/127.0.0.1/tcp/${port}`], { CTPF_LOG_LEVEL: 'silent' })
      expect(r.code).toBe(1)
      expect(r.stderr).toMatch(/\[(ADDRESS_IN_USE|LISTEN_FAILED)\]/)
    } finally {
      blocker.close()
    }
  })

  it('a data directory that is not a directory', async () => {
    const file = join(tempDir(), 'plain-file')
    writeFileSync(file, 'x')
    expectClear(await run(['--data-dir', file]), 'DATA_DIR_UNUSABLE')
  })

  it('a corrupt store', async () => {
    const dir = tempDir()
    const first = await startAgent({ dir })
    await first.stop()
    const db = join(dir, 'db')
    for (const f of readdirSync(db)) if (f.startsWith('CURRENT') || f.startsWith('MANIFEST')) writeFileSync(join(db, f), 'garbage\n')
    expectClear(await run(['--data-dir', dir]), 'STORE_CORRUPT')
  })

  it('a second agent on the same data directory', async () => {
    const a = await startAgent()
    try {
      expectClear(await run(['--data-dir', a.dir]), 'STORE_LOCKED')
    } finally {
      await a.stop()
    }
  })

  it('a bad config file and a non-loopback control address', async () => {
    const dir = tempDir()
    mkdirSync(dir, { recursive: true })
    writeFileSync(join(dir, 'config.json'), '{ "listen": 5 }')
    expectClear(await run(['--data-dir', dir]), 'CONFIG_INVALID')
    expectClear(await run(['--data-dir', tempDir(), '--control', '0.0.0.0:0']), 'CONFIG_INVALID')
    // an overlay route that is neither an IPv4 nor an IPv6 prefix
    const dir2 = tempDir()
    mkdirSync(dir2, { recursive: true })
    writeFileSync(join(dir2, 'config.json'), JSON.stringify({ overlay: { range: '100.96.0.0/16', routes: ['fd00:10::/64', '192.168.1.0/24', 'fd00:10::1/64'] } }))
    const r = await run(['--data-dir', dir2])
    expectClear(r, 'CONFIG_INVALID')
    expect(r.stderr).toMatch(/overlay\.routes\.2.*an IPv4 or IPv6 prefix/s)
  })

  it('SIGINT shuts down cleanly with exit 0 and removes control.url', async () => {
    const a = await startAgent()
    expect(await a.stop('SIGINT')).toBe(0)
    const { existsSync } = await import('node:fs')
    expect(existsSync(join(a.dir, 'control.url'))).toBe(false)
  })
})
