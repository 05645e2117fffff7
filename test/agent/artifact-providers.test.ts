import { createHash, randomBytes } from 'node:crypto'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterEach, describe, expect, it } from 'vitest'
import { invite, runCli, startAgent, tempDir, waitFor } from '../helpers/agents.js'
import type { RunningAgent } from '../helpers/agents.js'

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex')

describe('artifact providers that lie or die, with agents as separate processes', () => {
  const agents: RunningAgent[] = []
  afterEach(async () => { await Promise.all(agents.splice(0).map(async a => await a.stop('SIGKILL'))) })

  async function mesh (n: number, env: Array<Record<string, string>> = []): Promise<RunningAgent[]> {
    const founder = await startAgent({ env: env[0] })
    agents.push(founder)
    for (let i = 1; i < n; i++) agents.push(await startAgent({ joinToken: await invite(founder), env: env[i] }))
    for (const a of agents) await waitFor(async () => ((await a.api('GET', '/peers')).body as unknown[]).length >= n - 1, { what: 'full mesh', timeoutMs: 20_000 })
    return [...agents]
  }

  async function add (a: RunningAgent, data: Buffer): Promise<string> {
    const path = join(tempDir(), 'data')
    writeFileSync(path, data)
    const r = await runCli(['artifact', 'add', path, '--json', '--data-dir', a.dir])
    expect(r.code, r.stderr).toBe(0)
    return JSON.parse(r.stdout).cid
  }

  async function get (a: RunningAgent, cid: string): Promise<Buffer> {
    const out = join(tempDir(), 'out')
    const r = await runCli(['artifact', 'get', cid, '-o', out, '--data-dir', a.dir])
    expect(r.code, r.stderr).toBe(0)
    return readFileSync(out)
  }

  it('a provider that serves blocks not matching their CIDs is dropped, and the fetch completes from an honest one', async () => {
    const [honest, liar, fetcher] = await mesh(3, [{}, { CTPF_TEST_HOOKS: '1', CTPF_TEST_CORRUPT_BLOCKS: '1' }, {}])
    const data = randomBytes(24 * 1024 * 1024)
    const cid = await add(honest, data)
    // the liar holds the real blocks (it fetched them itself, verified) but serves them flipped
    expect(sha(await get(liar, cid))).toBe(sha(data))
    const got = await get(fetcher, cid)
    expect(sha(got)).toBe(sha(data))
    const liarServed = (await liar.api('GET', '/metrics')).body.artifactsBlocksServed
    expect(liarServed, 'the liar was asked for blocks').toBeGreaterThan(0)
    expect((await fetcher.api('GET', `/artifacts/${cid}/stat`)).body).toMatchObject({ local: true, size: data.length })
    expect(honest).toBeDefined()
  }, 120_000)

  it('a provider killed mid-transfer: the fetch completes from another provider', async () => {
    const [origin, mirror, fetcher] = await mesh(3)
    const data = randomBytes(160 * 1024 * 1024)
    const cid = await add(origin, data)
    expect(sha(await get(mirror, cid))).toBe(sha(data))
    const fetching = get(fetcher, cid)
    await waitFor(async () => ((await fetcher.api('GET', '/metrics')).body.artifactsBytes ?? 0) > 8 * 1024 * 1024, { what: 'transfer under way', intervalMs: 20, timeoutMs: 30_000 })
    await origin.stop('SIGKILL')
    expect(sha(await fetching)).toBe(sha(data))
  }, 180_000)
})
