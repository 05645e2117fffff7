/**
 * The artifact blockstore, layered like Helia: raw block files on disk (fs-blocks.ts); a
 * check of a block against its CID (`verifyBlock`, used for every block that comes from the
 * network); and on top pins, reference counts, garbage collection and a disk quota.
 *
 * A pin is recursive: pinning a root walks its DAG (every block must be present) and counts
 * one reference on each distinct block; unpinning takes them back. Pins and reference counts
 * live in level. Blocks being written or read by an operation are held by its `Session`; GC
 * removes only blocks with no reference that no open session holds.
 *
 * @example
 * const bs = await Blockstore.open({ dir: join(dataDir, 'blocks'), pins: db.sublevel('artifact-pins'), refs: db.sublevel('artifact-refs'), quotaBytes: 10 * 2 ** 30 })
 * const session = bs.session()
 * await bs.put(cid, bytes, { session, verify: true })
 * await bs.pin(root)
 * session.close()
 * await bs.gc()
 */
import { createHash } from 'node:crypto'
import * as dagPb from '@ipld/dag-pb'
import type { CID } from 'multiformats/cid'
import { BlockInvalidError, BlockNotFoundError, DagIncompleteError, NotPinnedError, QuotaExceededError, SessionClosedError, UnsupportedCidError } from './blockstore-errors.js'
import { FsBlocks } from './fs-blocks.js'
import type { Sublevel } from './db.js'

export * from './blockstore-errors.js'

export const RAW_CODE = 0x55
export const DAG_PB_CODE = 0x70
export const SHA2_256_CODE = 0x12
/** The largest block accepted (the IPFS convention). */
export const MAX_BLOCK_BYTES = 2 * 1024 * 1024

export interface PinRecord { pinnedAt: number, blocks: number, bytes: number }

export interface BlockstoreInit {
  /** Directory of the block files. */
  dir: string
  pins: Sublevel<PinRecord>
  refs: Sublevel<number>
  /** Most bytes of blocks kept on disk; unlimited when absent. */
  quotaBytes?: number
}

export interface BlockstoreStat { blocks: number, bytes: number, quotaBytes?: number, pins: number }

/** The key a block is stored under: its CIDv1 string. */
export function blockKey (cid: CID): string {
  return cid.version === 1 ? cid.toString() : cid.toV1().toString()
}

/** Throws unless the CID is one this store accepts: sha2-256 over raw or dag-pb. */
export function checkCid (cid: CID): void {
  if (cid.multihash.code !== SHA2_256_CODE) throw new UnsupportedCidError(cid.toString(), `hash 0x${cid.multihash.code.toString(16)}`)
  if (cid.code !== RAW_CODE && cid.code !== DAG_PB_CODE) throw new UnsupportedCidError(cid.toString(), `codec 0x${cid.code.toString(16)}`)
}

/** Checks bytes against the CID they claim to be. Throws BlockInvalidError. */
export function verifyBlock (cid: CID, bytes: Uint8Array): void {
  checkCid(cid)
  if (bytes.byteLength > MAX_BLOCK_BYTES) throw new BlockInvalidError(cid.toString(), `${bytes.byteLength} bytes is more than ${MAX_BLOCK_BYTES}`)
  const digest = createHash('sha256').update(bytes).digest()
  if (!digest.equals(cid.multihash.digest)) throw new BlockInvalidError(cid.toString(), 'sha2-256 mismatch')
}

/** The CIDs a block links to (none for raw leaves). */
export function linksOf (cid: CID, bytes: Uint8Array): CID[] {
  if (cid.code !== DAG_PB_CODE) return []
  return dagPb.decode(bytes).Links.map(l => l.Hash)
}

/** Blocks an operation is writing or reading: GC leaves them alone until the session closes. */
export class Session {
  readonly held = new Set<string>()
  /** Blocks this session wrote that were not on disk before: what a rollback removes. */
  readonly created = new Set<string>()
  /** Writes still under way: a rollback waits for them. */
  readonly pending = new Set<Promise<unknown>>()
  rolledBack = false
  constructor (readonly close: () => void) {}
  hold (cid: CID): void { this.held.add(blockKey(cid)) }
}

export class Blockstore {
  readonly #fs: FsBlocks
  readonly #init: BlockstoreInit
  readonly #sizes: Map<string, number>
  readonly #refs = new Map<string, number>()
  readonly #pinned = new Set<string>()
  readonly #writing = new Map<string, Promise<void>>()
  readonly #sessions = new Set<Session>()
  #used = 0
  #lock: Promise<unknown> = Promise.resolve()

  private constructor (init: BlockstoreInit, fs: FsBlocks, sizes: Map<string, number>) {
    this.#init = init
    this.#fs = fs
    this.#sizes = sizes
    for (const n of sizes.values()) this.#used += n
  }

  static async open (init: BlockstoreInit): Promise<Blockstore> {
    const fs = new FsBlocks(init.dir)
    const bs = new Blockstore(init, fs, await fs.open())
    for await (const [k, n] of init.refs.entries()) if (n > 0) bs.#refs.set(k, n)
    for await (const [k] of init.pins.entries()) bs.#pinned.add(k)
    return bs
  }

  get quotaBytes (): number | undefined { return this.#init.quotaBytes }
  get usedBytes (): number { return this.#used }

  has (cid: CID): boolean { return this.#sizes.has(blockKey(cid)) }
  sizeOf (cid: CID): number | undefined { return this.#sizes.get(blockKey(cid)) }

  async getBytes (cid: CID): Promise<Uint8Array> {
    const key = blockKey(cid)
    if (!this.#sizes.has(key)) throw new BlockNotFoundError(cid.toString())
    return await this.#fs.read(key)
  }

  /** interface-blockstore's `get` (what ipfs-unixfs-exporter reads through). */
  async * get (cid: CID): AsyncGenerator<Uint8Array> {
    yield await this.getBytes(cid)
  }

  /** Throws QuotaExceededError unless `bytes` more would fit. */
  checkQuota (bytes: number): void {
    const quota = this.#init.quotaBytes
    if (quota != null && this.#used + bytes > quota) throw new QuotaExceededError(this.#used, bytes, quota)
  }

  /**
   * Stores a block. With `verify`, checks it against its CID first (every block from the
   * network). Counts against the quota; an already stored block costs nothing.
   */
  async put (cid: CID, bytes: Uint8Array, options: { session?: Session, verify?: boolean } = {}): Promise<CID> {
    const session = options.session
    if (session == null) return await this.#put(cid, bytes, options)
    if (session.rolledBack) throw new SessionClosedError()
    const p = this.#put(cid, bytes, options)
    session.pending.add(p)
    try { return await p } finally { session.pending.delete(p) }
  }

  async #put (cid: CID, bytes: Uint8Array, options: { session?: Session, verify?: boolean }): Promise<CID> {
    if (options.verify === true) verifyBlock(cid, bytes)
    else checkCid(cid)
    const key = blockKey(cid)
    options.session?.held.add(key)
    // wait out a write or a removal of the same block in progress
    for (let p = this.#writing.get(key); p != null; p = this.#writing.get(key)) await p.catch(() => {})
    if (this.#sizes.has(key)) return cid
    this.checkQuota(bytes.byteLength)
    this.#used += bytes.byteLength
    const write = this.#fs.write(key, bytes)
    this.#writing.set(key, write)
    try {
      await write
      this.#sizes.set(key, bytes.byteLength)
      options.session?.created.add(key)
    } catch (err) {
      this.#used -= bytes.byteLength
      throw err
    } finally {
      this.#writing.delete(key)
    }
    return cid
  }

  session (): Session {
    const s: Session = new Session(() => { this.#sessions.delete(s) })
    this.#sessions.add(s)
    return s
  }

  async #exclusive<T> (fn: () => Promise<T>): Promise<T> {
    const run = this.#lock.then(fn, fn)
    this.#lock = run.catch(() => {})
    return await run
  }

  /** Every distinct block of a DAG, from local blocks. Throws DagIncompleteError. */
  async dagBlocks (root: CID): Promise<Map<string, number>> {
    const seen = new Map<string, number>()
    const stack = [root]
    while (stack.length > 0) {
      const cid = stack.pop() as CID
      const key = blockKey(cid)
      if (seen.has(key)) continue
      const size = this.#sizes.get(key)
      if (size == null) throw new DagIncompleteError(root.toString(), cid.toString())
      seen.set(key, size)
      if (cid.code === DAG_PB_CODE) stack.push(...linksOf(cid, await this.#fs.read(key)).reverse())
    }
    return seen
  }

  isPinned (cid: CID): boolean { return this.#pinned.has(blockKey(cid)) }

  async pin (root: CID): Promise<PinRecord> {
    checkCid(root)
    return await this.#exclusive(async () => {
      const key = blockKey(root)
      const existing = await this.#init.pins.get(key)
      if (existing != null) return existing
      const blocks = await this.dagBlocks(root)
      const ops = [...blocks.keys()].map(k => ({ type: 'put' as const, key: k, value: (this.#refs.get(k) ?? 0) + 1 }))
      // references before the pin: a crash in between leaks blocks, never loses them
      await this.#init.refs.batch(ops)
      for (const o of ops) this.#refs.set(o.key, o.value)
      const record: PinRecord = { pinnedAt: Date.now(), blocks: blocks.size, bytes: [...blocks.values()].reduce((a, b) => a + b, 0) }
      await this.#init.pins.put(key, record)
      this.#pinned.add(key)
      return record
    })
  }

  async unpin (root: CID): Promise<void> {
    await this.#exclusive(async () => {
      const key = blockKey(root)
      if (!this.#pinned.has(key)) throw new NotPinnedError(root.toString())
      const blocks = await this.dagBlocks(root)
      await this.#init.pins.del(key)
      this.#pinned.delete(key)
      const ops = [...blocks.keys()].map(k => {
        const n = (this.#refs.get(k) ?? 1) - 1
        return n > 0 ? { type: 'put' as const, key: k, value: n } : { type: 'del' as const, key: k }
      })
      await this.#init.refs.batch(ops)
      for (const o of ops) o.type === 'put' ? this.#refs.set(o.key, o.value) : this.#refs.delete(o.key)
    })
  }

  async * pins (): AsyncGenerator<{ cid: string } & PinRecord> {
    for await (const [cid, r] of this.#init.pins.entries()) yield { cid, ...r }
  }

  #removable (key: string, except?: Session): boolean {
    if ((this.#refs.get(key) ?? 0) > 0 || this.#writing.has(key)) return false
    for (const s of this.#sessions) if (s !== except && s.held.has(key)) return false
    return true
  }

  async #remove (keys: Iterable<string>, except?: Session): Promise<{ removedBlocks: number, freedBytes: number }> {
    let removedBlocks = 0
    let freedBytes = 0
    for (const key of keys) {
      const size = this.#sizes.get(key)
      // checked again right before: a session may have taken the block meanwhile
      if (size == null || !this.#removable(key, except)) continue
      this.#sizes.delete(key)
      const removal = this.#fs.remove(key)
      this.#writing.set(key, removal)
      try { await removal } finally { this.#writing.delete(key) }
      this.#used -= size
      removedBlocks++
      freedBytes += size
    }
    return { removedBlocks, freedBytes }
  }

  /** Removes every block that no pin references and no open session holds. */
  async gc (): Promise<{ removedBlocks: number, freedBytes: number }> {
    return await this.#exclusive(async () => await this.#remove([...this.#sizes.keys()]))
  }

  /** Undoes a failed operation: removes the blocks it created that nothing else needs, closes it. */
  async rollback (session: Session): Promise<void> {
    session.rolledBack = true
    await Promise.allSettled([...session.pending])
    await this.#exclusive(async () => {
      await this.#remove([...session.created], session)
    })
    session.close()
  }

  stat (): BlockstoreStat {
    return { blocks: this.#sizes.size, bytes: this.#used, quotaBytes: this.#init.quotaBytes, pins: this.#pinned.size }
  }
}
