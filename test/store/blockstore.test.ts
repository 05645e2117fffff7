import { describe, expect, it } from 'vitest'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import { identity } from 'multiformats/hashes/identity'
import * as dagPb from '@ipld/dag-pb'
import { Blockstore, verifyBlock } from '../../store/blockstore.js'
import { memorySublevel } from '../helpers/memory-sublevel.js'
import { tempDir } from '../protocols/artifacts/helpers.js'

async function rawBlock (text: string): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = new TextEncoder().encode(text)
  return { cid: CID.createV1(raw.code, await sha256.digest(bytes)), bytes }
}

async function node (links: CID[]): Promise<{ cid: CID, bytes: Uint8Array }> {
  const bytes = dagPb.encode({ Links: links.map(Hash => ({ Hash, Tsize: 1 })) })
  return { cid: CID.createV1(dagPb.code, await sha256.digest(bytes)), bytes }
}

describe('blockstore', () => {
  it('keeps pinned blocks through gc and removes unpinned ones', async () => {
    const { dir, cleanup } = await tempDir()
    try {
      const pins = memorySublevel<any>()
      const refs = memorySublevel<number>()
      const bs = await Blockstore.open({ dir, pins, refs })
      const a = await rawBlock('a'); const b = await rawBlock('b'); const c = await rawBlock('c')
      const root = await node([a.cid, b.cid])
      for (const blk of [a, b, c, root]) await bs.put(blk.cid, blk.bytes)
      await bs.pin(root.cid)
      expect(await bs.gc()).toEqual({ removedBlocks: 1, freedBytes: 1 })
      expect(bs.has(c.cid)).toBe(false)
      expect(bs.has(a.cid) && bs.has(b.cid) && bs.has(root.cid)).toBe(true)

      // a second pin sharing a block: unpinning one keeps the shared block
      const root2 = await node([a.cid])
      await bs.put(root2.cid, root2.bytes)
      await bs.pin(root2.cid)
      await bs.unpin(root.cid)
      await bs.gc()
      expect(bs.has(a.cid)).toBe(true)
      expect(bs.has(b.cid)).toBe(false)
      expect(bs.has(root.cid)).toBe(false)

      // pins and refs survive a reopen
      const again = await Blockstore.open({ dir, pins, refs })
      expect(again.isPinned(root2.cid)).toBe(true)
      expect(await again.gc()).toEqual({ removedBlocks: 0, freedBytes: 0 })
      expect(new TextDecoder().decode(await again.getBytes(a.cid))).toBe('a')
    } finally { await cleanup() }
  })

  it('never collects a block an open session holds', async () => {
    const { dir, cleanup } = await tempDir()
    try {
      const bs = await Blockstore.open({ dir, pins: memorySublevel(), refs: memorySublevel() })
      const a = await rawBlock('held')
      const s = bs.session()
      await bs.put(a.cid, a.bytes, { session: s })
      await bs.gc()
      expect(bs.has(a.cid)).toBe(true)
      s.close()
      await bs.gc()
      expect(bs.has(a.cid)).toBe(false)
    } finally { await cleanup() }
  })

  it('refuses a block past the quota with QUOTA_EXCEEDED and rolls back a session', async () => {
    const { dir, cleanup } = await tempDir()
    try {
      const bs = await Blockstore.open({ dir, pins: memorySublevel(), refs: memorySublevel(), quotaBytes: 10 })
      const s = bs.session()
      const a = await rawBlock('12345678')
      await bs.put(a.cid, a.bytes, { session: s })
      const b = await rawBlock('abc')
      await expect(bs.put(b.cid, b.bytes, { session: s })).rejects.toMatchObject({ code: 'QUOTA_EXCEEDED' })
      await bs.rollback(s)
      expect(bs.stat()).toMatchObject({ blocks: 0, bytes: 0 })
    } finally { await cleanup() }
  })

  it('checks blocks against their CID', async () => {
    const a = await rawBlock('good')
    expect(() => { verifyBlock(a.cid, new TextEncoder().encode('evil')) }).toThrow(expect.objectContaining({ code: 'BLOCK_INVALID' }))
    expect(() => { verifyBlock(a.cid, a.bytes) }).not.toThrow()
    const id = CID.createV1(raw.code, identity.digest(a.bytes))
    expect(() => { verifyBlock(id, a.bytes) }).toThrow(expect.objectContaining({ code: 'CID_UNSUPPORTED' }))
  })

  it('will not pin an incomplete DAG', async () => {
    const { dir, cleanup } = await tempDir()
    try {
      const bs = await Blockstore.open({ dir, pins: memorySublevel(), refs: memorySublevel() })
      const a = await rawBlock('missing')
      const root = await node([a.cid])
      await bs.put(root.cid, root.bytes)
      await expect(bs.pin(root.cid)).rejects.toMatchObject({ code: 'DAG_INCOMPLETE' })
    } finally { await cleanup() }
  })
})
