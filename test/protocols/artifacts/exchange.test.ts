import { createHash } from 'node:crypto'
import { afterEach, describe, expect, it } from 'vitest'
import { Artifacts, BlockExchange, BLOCKS_PROTOCOL } from '../../../protocols/artifacts/index.js'
import { encodeVarint, writeFrame } from '../../../protocols/artifacts/wire.js'
import { createTestNode, openBlockstore, pseudoRandomStream, silent, tempDir } from './helpers.js'
import type { ArtifactProgress, FetchResult } from '../../../protocols/artifacts/index.js'
import type { Blockstore } from '../../../store/blockstore.js'
import type { TestNode } from './helpers.js'
import type { CID } from 'multiformats/cid'

const MiB = 1024 * 1024

interface Agent { node: TestNode, bs: Blockstore, artifacts: Artifacts, id: string }
const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}) })

async function agent (init: { window?: number, giveUpMs?: number, quota?: number } = {}): Promise<Agent> {
  const { dir, cleanup } = await tempDir()
  const node = await createTestNode()
  await node.start()
  const bs = await openBlockstore(dir, init.quota)
  const names = new Map<string, unknown>()
  const artifacts = new Artifacts({
    self: node.peerId.toString(),
    libp2p: node,
    routing: node.contentRouting,
    blockstore: bs,
    names: { write: async (k, v) => { names.set(k, v) }, get: <T>(k: string) => names.get(k) as T },
    logger: silent
  }, { fetch: { window: init.window, giveUpMs: init.giveUpMs ?? 5_000, notFoundMs: 3_000 } })
  await artifacts.start()
  cleanups.push(async () => { await artifacts.stop(); await node.stop(); await cleanup() })
  return { node, bs, artifacts, id: node.peerId.toString() }
}

async function connect (a: Agent, b: Agent): Promise<void> {
  await a.node.dial(b.node.getMultiaddrs()[0])
}

async function sha (source: AsyncIterable<Uint8Array>): Promise<string> {
  const h = createHash('sha256')
  for await (const c of source) h.update(c)
  return h.digest('hex')
}

const streamSha = async (size: number, seed: number): Promise<string> => await sha(pseudoRandomStream(size, seed))

describe('block exchange between agents', () => {
  it('fetches 64 MiB from a provider found in the DHT, byte for byte, in bounded memory', async () => {
    const a = await agent()
    const b = await agent()
    await connect(b, a)
    const { cid } = await a.artifacts.add(pseudoRandomStream(64 * MiB, 7))
    await a.node.contentRouting.provide((await import('multiformats/cid')).CID.parse(cid))
    const events: ArtifactProgress[] = []
    const before = process.memoryUsage().rss
    const started = Date.now()
    const result = await b.artifacts.fetch(cid, { onProgress: e => events.push(e) })
    const ms = Date.now() - started
    const grew = process.memoryUsage().rss - before
    expect(result.fetchedBlocks).toBe(65)
    expect(result.byProvider).toEqual({ [a.id]: 65 })
    expect(events.some(e => e.type === 'fetch:progress' && e.bytes > 0)).toBe(true)
    expect(events.some(e => e.type === 'provider:found' && e.peer === a.id)).toBe(true)
    expect(await sha((await b.artifacts.cat(cid)).body)).toBe(await streamSha(64 * MiB, 7))
    expect(grew).toBeLessThan(200 * MiB)
    console.info(`64 MiB fetched in ${ms} ms (${(64 / (ms / 1000)).toFixed(0)} MiB/s), rss grew ${(grew / MiB).toFixed(0)} MiB`)
  })

  it('drops a provider that sends a block not matching its CID and completes from an honest one', async () => {
    const honest = await agent()
    const liar = await agent()
    const d = await agent()
    await connect(d, honest)
    await connect(d, liar)
    const { cid } = await honest.artifacts.add(pseudoRandomStream(24 * MiB, 3))
    await liar.artifacts.add(pseudoRandomStream(24 * MiB, 3))
    // the liar serves its blocks through an exchange that flips a byte in every raw leaf
    await liar.artifacts.stop()
    const lying = new BlockExchange({
      libp2p: liar.node,
      logger: silent,
      blocks: {
        has: c => liar.bs.has(c),
        getBytes: async (c: CID) => {
          const bytes = Uint8Array.prototype.slice.call(await liar.bs.getBytes(c))
          if (c.code === 0x55) bytes[0] ^= 0xff
          return bytes
        }
      }
    })
    await lying.start()
    cleanups.push(async () => { await lying.stop() })

    const events: ArtifactProgress[] = []
    const result = await d.artifacts.fetch(cid, { providers: [liar.id, honest.id], onProgress: e => events.push(e) })
    expect(result.liars).toEqual([liar.id])
    expect(events).toContainEqual(expect.objectContaining({ type: 'provider:dropped', peer: liar.id, reason: 'invalid-block' }))
    expect(result.byProvider[liar.id] ?? 0).toBeLessThanOrEqual(1) // at most the (honest) root
    expect(await sha((await d.artifacts.cat(cid)).body)).toBe(await streamSha(24 * MiB, 3))
  })

  it('continues from another provider when one dies mid-transfer, fetching each block once', async () => {
    const p1 = await agent()
    const p2 = await agent()
    const d = await agent({ window: 4 })
    await connect(d, p1)
    await connect(d, p2)
    const { cid } = await p1.artifacts.add(pseudoRandomStream(48 * MiB, 5))
    await p2.artifacts.add(pseudoRandomStream(48 * MiB, 5))
    let killed = false
    const events: ArtifactProgress[] = []
    const result = await d.artifacts.fetch(cid, {
      providers: [p1.id, p2.id],
      onProgress: e => {
        events.push(e)
        if (!killed && e.type === 'fetch:progress' && e.blocks >= 8) { killed = true; void p1.node.stop() }
      }
    })
    expect(killed).toBe(true)
    expect(events).toContainEqual(expect.objectContaining({ type: 'provider:dropped', peer: p1.id, reason: 'failed' }))
    // 48 leaves + root: every block fetched exactly once, across both providers
    expect(result.fetchedBlocks).toBe(49)
    expect((result.byProvider[p1.id] ?? 0) + (result.byProvider[p2.id] ?? 0)).toBe(49)
    expect(result.byProvider[p2.id]).toBeGreaterThan(0)
    expect(await sha((await d.artifacts.cat(cid)).body)).toBe(await streamSha(48 * MiB, 5))
  })

  it('resumes a fetch whose only provider died without fetching verified blocks again', async () => {
    const p1 = await agent()
    const p2 = await agent()
    const d = await agent({ window: 2, giveUpMs: 1_500 })
    await connect(d, p1)
    const { cid } = await p1.artifacts.add(pseudoRandomStream(32 * MiB, 6))
    let killed = false
    let first: FetchResult | undefined
    const err = await d.artifacts.fetch(cid, {
      providers: [p1.id],
      onProgress: e => { if (!killed && e.type === 'fetch:progress' && e.blocks >= 8) { killed = true; void p1.node.stop() } }
    }).then(r => { first = r }, (e: unknown) => e)
    expect(first).toBeUndefined()
    expect(err).toMatchObject({ code: 'FETCH_FAILED' })
    const have = d.bs.stat().blocks
    expect(have).toBeGreaterThanOrEqual(8)
    expect(have).toBeLessThan(33)

    await p2.artifacts.add(pseudoRandomStream(32 * MiB, 6))
    await connect(d, p2)
    const second = await d.artifacts.fetch(cid, { providers: [p2.id] })
    expect(second.heldBlocks).toBe(have)
    expect(second.fetchedBlocks).toBe(33 - have)
    expect(await sha((await d.artifacts.cat(cid)).body)).toBe(await streamSha(32 * MiB, 6))
  })

  it('swarms: downloaders serve each other the blocks they already have', async () => {
    const seed = await agent()
    const peers = await Promise.all([agent(), agent(), agent(), agent()])
    for (const p of peers) {
      await connect(p, seed)
      for (const q of peers) if (q !== p) await connect(p, q).catch(() => {})
    }
    const { cid } = await seed.artifacts.add(pseudoRandomStream(32 * MiB, 8))
    // the seeder sits behind a slow link: one block at a time, 40 ms each
    await seed.artifacts.stop()
    let link = Promise.resolve()
    let served = 0
    const slow = new BlockExchange({
      libp2p: seed.node,
      logger: silent,
      blocks: {
        has: c => seed.bs.has(c),
        getBytes: async (c: CID) => {
          const turn = link.then(async () => { await new Promise(resolve => setTimeout(resolve, 40)) })
          link = turn
          await turn
          served++
          return await seed.bs.getBytes(c)
        }
      }
    })
    await slow.start()
    cleanups.push(async () => { await slow.stop() })
    const all = [seed, ...peers].map(a => a.id)
    const started = Date.now()
    const results = await Promise.all(peers.map(async p => await p.artifacts.fetch(cid, { providers: all })))
    const ms = Date.now() - started
    const want = await streamSha(32 * MiB, 8)
    for (const p of peers) expect(await sha((await p.artifacts.cat(cid)).body)).toBe(want)
    const fromPeers = results.reduce((n, r) => n + Object.entries(r.byProvider).filter(([k]) => k !== seed.id).reduce((a, [, v]) => a + v, 0), 0)
    console.info(`swarm: 4 × 32 MiB in ${ms} ms; ${fromPeers} of ${33 * peers.length} blocks came from other downloaders; seeder served ${served}`)
    // without swarming the seeder sends every block to every downloader: 4 × 33
    expect(served).toBeLessThan(33 * peers.length * 0.8)
    expect(fromPeers).toBe(33 * peers.length - served)
  })

  it('reports a CID nobody has as ARTIFACT_NOT_FOUND', async () => {
    const a = await agent()
    const b = await agent()
    await connect(a, b)
    await expect(a.artifacts.cat('bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4', { providers: [b.id] })).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' })
  })

  it('refuses a fetch that would not fit the quota before downloading, keeping nothing', async () => {
    const a = await agent()
    const d = await agent({ quota: 8 * MiB })
    await connect(d, a)
    const { cid } = await a.artifacts.add(pseudoRandomStream(24 * MiB, 2))
    await expect(d.artifacts.fetch(cid, { providers: [a.id] })).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' })
    expect(d.bs.stat()).toMatchObject({ blocks: 0, pins: 0 })
    expect((await d.artifacts.stat(cid)).local).toBe(false)
  })

  it('resets a block stream that sends a malformed request', async () => {
    const a = await agent()
    const b = await agent()
    await connect(b, a)
    const stream = await b.node.dialProtocol(a.node.peerId, BLOCKS_PROTOCOL)
    await writeFrame(stream, [encodeVarint(5), Uint8Array.of(1, 2, 3, 4, 5)])
    const ended = await (async () => { try { for await (const _ of stream) { /* nothing comes */ } return 'closed' } catch { return 'reset' } })()
    expect(ended).toBe('reset')
    expect(a.artifacts.exchange.metrics.protocolErrors).toBe(1)
  })

  it('stops a fetch when its signal aborts, with ABORTED, keeping verified blocks for a resume', async () => {
    const a = await agent()
    const d = await agent({ window: 2 })
    await connect(d, a)
    const { cid } = await a.artifacts.add(pseudoRandomStream(32 * MiB, 9))
    const ctl = new AbortController()
    await expect(d.artifacts.fetch(cid, {
      providers: [a.id],
      signal: ctl.signal,
      onProgress: e => { if (e.type === 'fetch:progress' && e.blocks >= 8) ctl.abort() }
    })).rejects.toMatchObject({ code: 'ABORTED' })
    expect(d.bs.isPinned((await import('multiformats/cid')).CID.parse(cid))).toBe(false)
    const again = await d.artifacts.fetch(cid, { providers: [a.id] })
    expect(again.heldBlocks).toBeGreaterThanOrEqual(8)
    expect(again.heldBlocks + again.fetchedBlocks).toBe(33)
  })
})
