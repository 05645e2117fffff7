import { createHash, randomBytes } from 'node:crypto'
import { createReadStream, createWriteStream, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { invite, runCli, startAgent, tempDir, waitFor } from '../helpers/agents.js'
import type { RunningAgent } from '../helpers/agents.js'

async function sha256 (path: string): Promise<string> {
  const h = createHash('sha256')
  for await (const chunk of createReadStream(path)) h.update(chunk as Buffer)
  return h.digest('hex')
}

async function bigFile (path: string, mib: number): Promise<void> {
  const out = createWriteStream(path)
  for (let i = 0; i < mib; i++) {
    if (!out.write(randomBytes(1024 * 1024))) await new Promise(resolve => out.once('drain', resolve))
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => { if (err != null) reject(err); else resolve() }))
}

describe('artifacts through the agents\' API and CLI', () => {
  let a: RunningAgent
  let b: RunningAgent
  const dir = tempDir()

  beforeAll(async () => {
    a = await startAgent()
    b = await startAgent({ joinToken: await invite(a) })
    await waitFor(async () => ((await b.api('GET', '/peers')).body as unknown[]).length > 0, { what: 'connected' })
  })
  afterAll(async () => { await Promise.all([a?.stop('SIGKILL'), b?.stop('SIGKILL')]) })

  it('round-trips files from 0 bytes to 300 MiB byte for byte, added on one agent and fetched through the other', async () => {
    const sizes = [0, 1, 1024 * 1024 + 1]
    const files: Array<{ path: string, size: number }> = sizes.map((size, i) => {
      const path = join(dir, `f${i}`)
      writeFileSync(path, randomBytes(size))
      return { path, size }
    })
    const big = join(dir, 'big')
    await bigFile(big, 300)
    files.push({ path: big, size: 300 * 1024 * 1024 })
    for (const [i, f] of files.entries()) {
      const add = await runCli(['artifact', 'add', f.path, '--name', `test/file-${i}`, '--json', '--data-dir', a.dir])
      expect(add.code, add.stderr).toBe(0)
      const { cid, size } = JSON.parse(add.stdout)
      expect(size).toBe(f.size)
      expect(cid).toMatch(/^b[a-z2-7]+$/)
      // by CID on the other agent (fetched through the mesh), and by name
      const out = join(dir, `out-${i}`)
      const get = await runCli(['artifact', 'get', cid, '-o', out, '--data-dir', b.dir])
      expect(get.code, get.stderr).toBe(0)
      expect(statSync(out).size).toBe(f.size)
      expect(await sha256(out)).toBe(await sha256(f.path))
      await waitFor(async () => (await b.api('GET', `/names/test/file-${i}`)).status === 200, { what: 'name replicated' })
      const byName = await runCli(['artifact', 'get', `test/file-${i}`, '-o', `${out}-n`, '--data-dir', b.dir])
      expect(byName.code, byName.stderr).toBe(0)
      expect(await sha256(`${out}-n`)).toBe(await sha256(f.path))
    }
  }, 600_000)

  it('answers byte ranges, and clear errors for unknown and malformed CIDs and names', async () => {
    const path = join(dir, 'ranged')
    const data = randomBytes(200_000)
    writeFileSync(path, data)
    const { cid } = JSON.parse((await runCli(['artifact', 'add', path, '--json', '--data-dir', a.dir])).stdout)
    const res = await fetch(`${b.url}/v1/artifacts/${cid}`, { headers: { authorization: `Bearer ${b.token}`, range: 'bytes=1000-1999' } })
    expect(res.status).toBe(206)
    expect(Buffer.from(await res.arrayBuffer()).equals(data.subarray(1000, 2000))).toBe(true)
    const unknown = await b.api('GET', '/artifacts/bafybeigaxdudfgvm2sgxyb57wmzpi6ma5jiefjwa4g53ffn4w6zdoxxv2v/stat')
    expect([400, 404]).toContain(unknown.status)
    const missingName = await b.api('GET', '/names/no/such/name')
    expect(missingName.status).toBe(404)
    const bad = await runCli(['artifact', 'get', 'not-a-cid-nor-name', '-o', join(dir, 'x'), '--data-dir', b.dir])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toMatch(/NAME_NOT_FOUND|CID_INVALID/)
  })

  it('exports a CAR on one agent that imports on another, where it is then held and pinned', async () => {
    const path = join(dir, 'for-car')
    writeFileSync(path, randomBytes(3 * 1024 * 1024 + 17))
    const { cid } = JSON.parse((await runCli(['artifact', 'add', path, '--json', '--data-dir', a.dir])).stdout)
    expect((await b.api('GET', `/artifacts/${cid}/stat`)).body.local).toBe(false)
    const car = await fetch(`${a.url}/v1/artifacts/${cid}/car`, { headers: { authorization: `Bearer ${a.token}` } })
    expect(car.headers.get('content-type')).toContain('application/vnd.ipld.car')
    const carPath = join(dir, 'x.car')
    writeFileSync(carPath, Buffer.from(await car.arrayBuffer()))
    const imported = await runCli(['artifact', 'import', carPath, '--json', '--data-dir', b.dir])
    expect(imported.code, imported.stderr).toBe(0)
    expect(JSON.parse(imported.stdout).roots).toEqual([cid])
    const stat = (await b.api('GET', `/artifacts/${cid}/stat`)).body
    expect(stat).toMatchObject({ local: true, pinned: true, size: 3 * 1024 * 1024 + 17 })
    // a CAR that is not one is refused and leaves nothing
    writeFileSync(join(dir, 'bad.car'), randomBytes(5000))
    const bad = await runCli(['artifact', 'import', join(dir, 'bad.car'), '--data-dir', b.dir])
    expect(bad.code).toBe(1)
    expect(bad.stderr).toContain('CAR_INVALID')
  })

  it('reports a fetch\'s progress and its providers on the event stream', async () => {
    const path = join(dir, 'progress')
    writeFileSync(path, randomBytes(40 * 1024 * 1024))
    const { cid } = JSON.parse((await runCli(['artifact', 'add', path, '--json', '--data-dir', a.dir])).stdout)
    const ac = new AbortController()
    const res = await fetch(`${b.url}/v1/events`, { headers: { authorization: `Bearer ${b.token}` }, signal: ac.signal })
    let text = ''
    const reading = (async () => { for await (const c of res.body as unknown as AsyncIterable<Uint8Array>) text += Buffer.from(c).toString() })().catch(() => {})
    const got = await runCli(['artifact', 'get', cid, '-o', join(dir, 'progress-out'), '--data-dir', b.dir])
    expect(got.code, got.stderr).toBe(0)
    await waitFor(() => text.includes('event: artifact:progress'), { what: 'progress events' })
    expect(text).toContain('event: provider:found')
    expect(text).toMatch(/"type":"fetch:progress","root":"[^"]+","bytes":\d+/)
    ac.abort()
    await reading
  })

  it('a truncated upload is refused and leaves no artifact, no name and no blocks', async () => {
    const { request } = await import('node:http')
    const before = (await a.api('GET', '/metrics')).body
    const pinsBefore = ((await a.api('GET', '/artifacts')).body as unknown[]).length
    // the body promises 3 MiB and delivers 1 MiB: the agent must notice, answer, and keep nothing
    const status = await new Promise<number>((resolve, reject) => {
      const req = request(`${a.url}/v1/artifacts?name=test/truncated`, {
        method: 'POST',
        headers: { authorization: `Bearer ${a.token}`, 'content-type': 'application/octet-stream', 'content-length': String(3 * 1024 * 1024) }
      }, res => { res.resume(); resolve(res.statusCode ?? 0) })
      req.on('error', () => { resolve(-1) })
      req.write(randomBytes(1024 * 1024), () => { setTimeout(() => { req.destroy() }, 200) })
      setTimeout(() => { reject(new Error('no answer')) }, 20_000).unref()
    })
    expect(status === -1 || status === 400).toBe(true)
    await waitFor(async () => (await a.api('GET', '/metrics')).body.artifactsBytes === before.artifactsBytes, { what: 'partial blocks removed', timeoutMs: 5000 })
    expect((await a.api('GET', '/names/test/truncated')).status).toBe(404)
    expect(((await a.api('GET', '/artifacts')).body as unknown[]).length).toBe(pinsBefore)
  })
})
