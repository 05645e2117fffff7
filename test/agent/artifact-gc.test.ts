import { createHash, randomBytes } from 'node:crypto'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { CarBlockIterator } from '@ipld/car'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startAgent, tempDir } from '../helpers/agents.js'
import type { RunningAgent } from '../helpers/agents.js'

describe('artifact pins, garbage collection and CAR export on a running agent', () => {
  let a: RunningAgent
  const dir = tempDir()
  beforeAll(async () => { a = await startAgent() })
  afterAll(async () => { await a?.stop('SIGKILL') })

  async function add (size: number): Promise<string> {
    const path = join(dir, `f${size}`)
    writeFileSync(path, randomBytes(size))
    const r = await runCli(['artifact', 'add', path, '--json', '--data-dir', a.dir])
    expect(r.code, r.stderr).toBe(0)
    return JSON.parse(r.stdout).cid
  }

  it('gc removes what is unpinned and keeps what is pinned', async () => {
    const kept = await add(3 * 1024 * 1024)
    const dropped = await add(2 * 1024 * 1024 + 5)
    expect((await runCli(['artifact', 'unpin', dropped, '--data-dir', a.dir])).code).toBe(0)
    const gc = await runCli(['artifact', 'gc', '--json', '--data-dir', a.dir])
    expect(gc.code, gc.stderr).toBe(0)
    expect(JSON.parse(gc.stdout).removedBlocks).toBeGreaterThanOrEqual(3)
    expect((await a.api('GET', `/artifacts/${dropped}/stat`)).body.local).toBe(false)
    expect((await a.api('GET', `/artifacts/${kept}/stat`)).body).toMatchObject({ local: true, pinned: true })
    const ls = (await a.api('GET', '/artifacts')).body as Array<{ cid: string }>
    expect(ls.map(x => x.cid)).toContain(kept)
    expect(ls.map(x => x.cid)).not.toContain(dropped)
  })

  it('a CAR export verifies with an independent decoder: every block hashes to its CID', async () => {
    const cid = await add(2_500_000)
    const res = await fetch(`${a.url}/v1/artifacts/${cid}/car`, { headers: { authorization: `Bearer ${a.token}` } })
    const bytes = new Uint8Array(await res.arrayBuffer())
    const iter = await CarBlockIterator.fromBytes(bytes)
    expect((await iter.getRoots()).map(r => r.toString())).toEqual([cid])
    let blocks = 0
    for await (const { cid: c, bytes: b } of iter) {
      expect(c.multihash.code).toBe(0x12)
      expect(Buffer.from(c.multihash.digest).equals(createHash('sha256').update(b).digest())).toBe(true)
      blocks++
    }
    expect(blocks).toBeGreaterThanOrEqual(4)
  })
})
