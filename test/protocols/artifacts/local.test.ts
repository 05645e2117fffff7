import { createHash } from 'node:crypto'
import { describe, expect, it } from 'vitest'
import { CarBlockIterator } from '@ipld/car'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { Artifacts } from '../../../protocols/artifacts/index.js'
import { collect, openBlockstore, pseudoRandom, pseudoRandomStream, silent, tempDir } from './helpers.js'
import type { NameState } from '../../../protocols/artifacts/index.js'
import type { Blockstore } from '../../../store/blockstore.js'

function fakeState (): NameState & { map: Map<string, unknown> } {
  const map = new Map<string, unknown>()
  return {
    map,
    write: async (k, v) => { v == null ? map.delete(k) : map.set(k, v) },
    get: <T>(k: string) => map.get(k) as T | undefined,
    list: <T>(prefix: string) => [...map].filter(([k]) => k.startsWith(prefix)).sort(([a], [b]) => a < b ? -1 : 1).map(([key, value]) => ({ key, value: value as T }))
  }
}

function offline (blockstore: Blockstore): Artifacts {
  return new Artifacts({
    self: 'self',
    libp2p: { handle: async () => {}, unhandle: async () => {}, dialProtocol: async () => { throw new Error('offline') }, getConnections: () => [] } as any,
    routing: { provide: async () => {}, findProviders: async function * () {} },
    blockstore,
    names: fakeState(),
    logger: silent
  }, { fetch: { notFoundMs: 300 } })
}

async function withArtifacts (fn: (a: Artifacts, bs: Blockstore) => Promise<void>, quota?: number): Promise<void> {
  const { dir, cleanup } = await tempDir()
  try {
    const bs = await openBlockstore(dir, quota)
    const a = offline(bs)
    await a.start()
    await a.start()
    try { await fn(a, bs) } finally { await a.stop(); await a.stop() }
  } finally { await cleanup() }
}

describe('artifacts on one agent', () => {
  it('round-trips content byte for byte from 0 bytes to several blocks', async () => {
    await withArtifacts(async a => {
      for (const size of [0, 1, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 5 * 1024 * 1024 + 77]) {
        const data = pseudoRandom(size, size + 3)
        const { cid, size: added } = await a.add(data)
        expect(added).toBe(size)
        expect(cid).toMatch(/^baf/)
        const { body, size: s } = await a.cat(cid)
        expect(s).toBe(size)
        expect(Buffer.compare(await collect(body), Buffer.from(data))).toBe(0)
      }
    })
  })

  it('gives small content the CID of its single raw block, as ipfs add --cid-version 1 --raw-leaves does', async () => {
    await withArtifacts(async a => {
      // a single raw leaf: the CID is the raw block's, CIDv1(raw, sha2-256(bytes))
      const bytes = new TextEncoder().encode('hello world\n')
      const { cid } = await a.add(bytes)
      expect(cid).toBe(CID.createV1(raw.code, await sha256.digest(bytes)).toString())
    })
  })

  it('serves byte ranges', async () => {
    await withArtifacts(async a => {
      const data = pseudoRandom(3 * 1024 * 1024 + 5, 9)
      const { cid } = await a.add(data)
      for (const [offset, length] of [[0, 1], [1024 * 1024 - 2, 10], [2 * 1024 * 1024, 1024 * 1024 + 5], [3 * 1024 * 1024 + 4, 100]]) {
        const r = await a.cat(cid, { offset, length })
        expect(Buffer.compare(await collect(r.body), Buffer.from(data.subarray(offset, offset + length)))).toBe(0)
      }
      await expect(a.cat(cid, { offset: data.length })).rejects.toMatchObject({ code: 'RANGE_NOT_SATISFIABLE' })
    })
  })

  it('refuses malformed and unsupported CIDs with typed errors', async () => {
    await withArtifacts(async a => {
      for (const bad of ['', 'hello', 'bafy!!', 'Qm123', 'bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2deve']) {
        await expect(a.cat(bad)).rejects.toMatchObject({ code: 'CID_INVALID' })
      }
      // identity hash: a valid CID this store does not accept
      await expect(a.stat('bafkqaaa')).rejects.toMatchObject({ code: 'CID_UNSUPPORTED' })
    })
  })

  it('reports an unknown CID as ARTIFACT_NOT_FOUND and keeps nothing', async () => {
    await withArtifacts(async (a, bs) => {
      await expect(a.cat('bafkreifjjcie6lypi6ny7amxnfftagclbuxndqonfipmb64f2km2devei4')).rejects.toMatchObject({ code: 'ARTIFACT_NOT_FOUND' })
      expect(bs.stat().blocks).toBe(0)
    })
  })

  it('fails a truncated upload with UPLOAD_TRUNCATED and leaves no blocks behind', async () => {
    await withArtifacts(async (a, bs) => {
      async function * broken (): AsyncGenerator<Uint8Array> {
        yield pseudoRandom(3 * 1024 * 1024, 5)
        throw new Error('connection reset')
      }
      await expect(a.add(broken())).rejects.toMatchObject({ code: 'UPLOAD_TRUNCATED' })
      await expect(a.add(pseudoRandom(1000), { expectedSize: 2000 })).rejects.toMatchObject({ code: 'UPLOAD_TRUNCATED' })
      expect(bs.stat()).toMatchObject({ blocks: 0, bytes: 0, pins: 0 })
    })
  })

  it('stops at the quota with QUOTA_EXCEEDED, keeps no partial artifact, and keeps what was there', async () => {
    await withArtifacts(async (a, bs) => {
      const small = await a.add(pseudoRandom(1024 * 1024, 1))
      await expect(a.add(pseudoRandomStream(8 * 1024 * 1024, 2), { name: 'big/file' })).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' })
      expect(bs.stat()).toMatchObject({ blocks: 1, bytes: 1024 * 1024, pins: 1 })
      expect(a.getName('big/file')).toBeUndefined()
      expect((await a.stat(small.cid)).local).toBe(true)
    }, 4 * 1024 * 1024)
  })

  it('keeps pinned artifacts through gc and collects unpinned ones', async () => {
    await withArtifacts(async (a, bs) => {
      const kept = await a.add(pseudoRandom(2 * 1024 * 1024 + 1, 1))
      const dropped = await a.add(pseudoRandom(2 * 1024 * 1024 + 2, 2))
      await a.unpin(dropped.cid)
      const { removedBlocks } = await a.gc()
      expect(removedBlocks).toBe(4)
      expect((await a.stat(kept.cid)).local).toBe(true)
      expect((await a.stat(dropped.cid)).local).toBe(false)
      expect(Buffer.compare(await collect((await a.cat(kept.cid)).body), Buffer.from(pseudoRandom(2 * 1024 * 1024 + 1, 1)))).toBe(0)
      await expect(a.unpin(dropped.cid)).rejects.toMatchObject({ code: 'NOT_PINNED' })
      expect((await a.ls()).map(p => p.cid)).toEqual([kept.cid])
      expect(bs.stat().pins).toBe(1)
    })
  })

  it('exports a CAR that an independent reader verifies, and imports it elsewhere', async () => {
    const data = pseudoRandom(3 * 1024 * 1024 + 11, 4)
    let car!: Buffer
    let root!: string
    await withArtifacts(async a => {
      root = (await a.add(data)).cid
      car = await collect(await a.exportCar(root))
    })
    const reader = await CarBlockIterator.fromBytes(car)
    expect((await reader.getRoots()).map(String)).toEqual([root])
    let blocks = 0
    for await (const { cid, bytes } of reader) {
      expect(Buffer.from(cid.multihash.digest).equals(createHash('sha256').update(bytes).digest())).toBe(true)
      blocks++
    }
    expect(blocks).toBe(5)
    await withArtifacts(async a => {
      expect(await a.importCar((async function * () { yield car })())).toEqual({ roots: [root] })
      expect(Buffer.compare(await collect((await a.cat(root)).body), Buffer.from(data))).toBe(0)
    })
  })

  it('refuses a CAR with a corrupt or missing block and keeps nothing of it', async () => {
    let car!: Buffer
    await withArtifacts(async a => {
      const { cid } = await a.add(pseudoRandom(2 * 1024 * 1024 + 3, 4))
      car = await collect(await a.exportCar(cid))
    })
    await withArtifacts(async (a, bs) => {
      const corrupt = Buffer.from(car)
      corrupt[corrupt.length - 10] ^= 0xff
      await expect(a.importCar((async function * () { yield corrupt })())).rejects.toMatchObject({ code: 'CAR_INVALID' })
      await expect(a.importCar((async function * () { yield car.subarray(0, car.length - 1000) })())).rejects.toMatchObject({ code: 'CAR_INVALID' })
      await expect(a.importCar((async function * () { yield Buffer.from('not a car') })())).rejects.toMatchObject({ code: 'CAR_INVALID' })
      expect(bs.stat()).toMatchObject({ blocks: 0, pins: 0 })
    })
  })

  it('names an artifact and keeps the history of a name', async () => {
    await withArtifacts(async a => {
      const one = await a.add(pseudoRandom(10, 1), { name: 'ipxe/undionly.kpxe' })
      const two = await a.add(pseudoRandom(10, 2))
      await a.setName('ipxe/undionly.kpxe', two.cid)
      expect(a.resolveName('ipxe/undionly.kpxe')).toBe(two.cid)
      expect(a.getName('ipxe/undionly.kpxe')?.history.map(h => h.cid)).toEqual([one.cid])
      expect(() => a.resolveName('ipxe/none')).toThrow(expect.objectContaining({ code: 'NAME_NOT_FOUND' }))
      await a.setName('grub/core.efi', one.cid)
      expect(a.names.list('ipxe/').map(n => [n.name, n.cid])).toEqual([['ipxe/undionly.kpxe', two.cid]])
      expect(a.names.list().map(n => n.name)).toEqual(['grub/core.efi', 'ipxe/undionly.kpxe'])
      await expect(a.setName('../etc', two.cid)).rejects.toMatchObject({ code: 'NAME_INVALID' })
      await expect(a.setName('ok/name', 'nonsense')).rejects.toMatchObject({ code: 'CID_INVALID' })
    })
  })
})
