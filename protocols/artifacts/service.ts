/**
 * The artifact service of an agent: add content, read it back (fetching through the mesh when
 * it is not held), pins and GC, CAR export and import, names. Serves blocks to other agents
 * on the block exchange and announces what it holds in the DHT.
 *
 * Nothing partial is ever visible: an add or a CAR import that fails removes the blocks it
 * wrote (unless something else holds them) and never pins; content is read only once its
 * whole DAG is held and verified. A failed fetch keeps its verified blocks, unpinned, so the
 * next fetch resumes from them.
 */
import { CID } from 'multiformats/cid'
import { checkCid } from '../../store/blockstore.js'
import { importCar as readCar, exportCar as writeCar } from './car.js'
import { ArtifactError, InvalidCidError } from './errors.js'
import { BlockExchange, type BlockSource } from './exchange.js'
import { readContent, fileSize, resolveRange } from './exporter.js'
import { fetchDag } from './fetch.js'
import { importContent } from './importer.js'
import { Names, checkName } from './names.js'
import type { AddOptions, AddSource } from './importer.js'
import type { ExchangeInit, ExchangeLibp2p, ExchangeMetrics } from './exchange.js'
import type { ByteRange } from './exporter.js'
import type { FetchOptions, FetchResult, Routing } from './fetch.js'
import type { NameRecord, NameState } from './names.js'
import type { OperationOptions } from './progress.js'
import type { Blockstore, BlockstoreStat, PinRecord, Session } from '../../store/blockstore.js'
import type { Logger } from 'pino'

export interface ArtifactsComponents {
  /** This agent's peer id. */
  self: string
  libp2p: ExchangeLibp2p
  /** `node.contentRouting` (the kad-dht). */
  routing: Routing
  blockstore: Blockstore
  /** `{ write: (k, v) => state.write(k, v), get: k => state.store.get(k), list: p => state.store.list(p) }` */
  names: NameState
  logger: Logger
}

export interface ArtifactsInit {
  exchange?: ExchangeInit
  /** Defaults for every fetch (window, maxProviders, timeouts). */
  fetch?: Omit<FetchOptions, 'signal' | 'onProgress' | 'providers'>
  chunkSize?: number
  /** What the exchange serves from (default: the blockstore). Tests wrap it to play a lying provider. */
  serveFrom?: (blockstore: BlockSource) => BlockSource
}

export interface FetchCallOptions extends OperationOptions { providers?: string[], pin?: boolean }
export interface ArtifactStat { cid: string, local: boolean, pinned: boolean, size?: number, blocks?: number, dagBytes?: number }
export interface CatResult { size: number, offset: number, length: number, body: AsyncGenerator<Uint8Array> }

export class Artifacts {
  readonly exchange: BlockExchange
  readonly names: Names
  readonly #c: ArtifactsComponents
  readonly #init: ArtifactsInit
  readonly #log: Logger
  #started = false
  #stopping = new AbortController()
  #announcing: Promise<void> = Promise.resolve()

  constructor (components: ArtifactsComponents, init: ArtifactsInit = {}) {
    this.#c = components
    this.#init = init
    this.#log = components.logger
    const blocks = init.serveFrom != null ? init.serveFrom(components.blockstore) : components.blockstore
    this.exchange = new BlockExchange({ libp2p: components.libp2p, blocks, logger: components.logger }, init.exchange)
    this.names = new Names(components.names, components.self)
  }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    this.#stopping = new AbortController()
    await this.exchange.start()
    for await (const p of this.#c.blockstore.pins()) this.#announce(CID.parse(p.cid))
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    this.#stopping.abort(new Error('artifacts stopped'))
    await this.exchange.stop()
  }

  get metrics (): ExchangeMetrics & BlockstoreStat { return { ...this.exchange.metrics, ...this.#c.blockstore.stat() } }

  /** Parses a CID string: CID_INVALID when it is not one, CID_UNSUPPORTED when not sha2-256 raw/dag-pb. */
  parseCid (input: string | CID): CID {
    if (typeof input !== 'string') { checkCid(input); return input }
    let cid: CID
    try { cid = CID.parse(input.trim()) } catch (err) { throw new InvalidCidError(input, err) }
    checkCid(cid)
    return cid
  }

  /** Imports content; pins it (unless `pin: false`), names it, announces it. */
  async add (source: AddSource, options: AddOptions & { pin?: boolean, name?: string } = {}): Promise<{ cid: string, size: number }> {
    const bs = this.#c.blockstore
    if (options.name != null) checkName(options.name)
    const session = bs.session()
    let pinnedHere: CID | undefined
    try {
      const { cid, size } = await importContent(source, bs, session, { chunkSize: this.#init.chunkSize, ...options })
      if (options.pin !== false && !bs.isPinned(cid)) {
        await bs.pin(cid)
        pinnedHere = cid
      }
      if (options.name != null) await this.names.set(options.name, cid.toString())
      session.close()
      this.#announce(cid)
      this.#log.info({ cid: cid.toString(), size }, 'artifact added')
      return { cid: cid.toString(), size }
    } catch (err) {
      if (pinnedHere != null) await bs.unpin(pinnedHere).catch(() => {})
      await bs.rollback(session)
      throw err
    }
  }

  /** Makes the whole DAG local (from the mesh when needed); pins it unless `pin: false`. */
  async fetch (cid: string | CID, options: FetchCallOptions = {}): Promise<FetchResult> {
    const root = this.parseCid(cid)
    const session = this.#c.blockstore.session()
    try {
      const result = await this.#fetchInto(root, session, options)
      if (options.pin !== false) await this.#c.blockstore.pin(root)
      session.close()
      return result
    } catch (err) {
      await this.#release(session, err)
      throw err
    }
  }

  /**
   * After a failed fetch: verified blocks stay (unpinned, so GC may take them) and the next
   * fetch resumes from them; after a full disk or quota they go at once.
   */
  async #release (session: Session, err: unknown): Promise<void> {
    const code = (err as { code?: string })?.code
    if (code === 'QUOTA_EXCEEDED' || code === 'DISK_FULL') await this.#c.blockstore.rollback(session)
    else session.close()
  }

  async #fetchInto (root: CID, session: Session, options: FetchCallOptions): Promise<FetchResult> {
    const signal = options.signal == null ? this.#stopping.signal : AbortSignal.any([options.signal, this.#stopping.signal])
    const result = await fetchDag(root, { self: this.#c.self, libp2p: this.#c.libp2p, routing: this.#c.routing, blockstore: this.#c.blockstore, logger: this.#log }, session, { ...this.#init.fetch, ...options, signal })
    if (result.fetchedBlocks > 0) this.#log.info({ cid: root.toString(), blocks: result.fetchedBlocks, held: result.heldBlocks, providers: Object.keys(result.byProvider).length }, 'artifact fetched')
    return result
  }

  /**
   * The bytes of a file, or a range of it, for HTTP (`size` first, for Content-Length and
   * Content-Range). Fetches the DAG through the mesh unless held. Consume `body` to the end
   * (or call `body.return()`): until then the blocks are held against GC.
   */
  async cat (cid: string | CID, options: FetchCallOptions & ByteRange = {}): Promise<CatResult> {
    const root = this.parseCid(cid)
    const bs = this.#c.blockstore
    const session = bs.session()
    try {
      // held for the whole read, so neither an unpin nor GC can pull blocks from under it
      if (!bs.isPinned(root)) await this.#fetchInto(root, session, options)
      else for (const key of (await bs.dagBlocks(root)).keys()) session.held.add(key)
      const size = await fileSize(root, bs, options.signal)
      const range = resolveRange(size, options)
      const body = (async function * () {
        try { yield * readContent(root, bs, range, options.signal) } finally { session.close() }
      })()
      return { size, ...range, body }
    } catch (err) {
      await this.#release(session, err)
      throw err
    }
  }

  /** What is held locally about a CID (no network). */
  async stat (cid: string | CID): Promise<ArtifactStat> {
    const root = this.parseCid(cid)
    const bs = this.#c.blockstore
    const out: ArtifactStat = { cid: root.toString(), local: false, pinned: bs.isPinned(root) }
    if (!bs.has(root)) return out
    try { out.size = await fileSize(root, bs) } catch (err) { if (!(err instanceof ArtifactError)) this.#log.debug({ err }, 'stat') }
    try {
      const blocks = await bs.dagBlocks(root)
      out.local = true
      out.blocks = blocks.size
      out.dagBytes = [...blocks.values()].reduce((a, b) => a + b, 0)
    } catch { /* incomplete */ }
    return out
  }

  async pin (cid: string | CID, options: FetchCallOptions = {}): Promise<PinRecord> {
    const root = this.parseCid(cid)
    if (!this.#c.blockstore.isPinned(root)) await this.fetch(root, { ...options, pin: true })
    return await this.#c.blockstore.pin(root)
  }

  async unpin (cid: string | CID): Promise<void> {
    await this.#c.blockstore.unpin(this.parseCid(cid))
  }

  async ls (): Promise<Array<{ cid: string } & PinRecord>> {
    const out: Array<{ cid: string } & PinRecord> = []
    for await (const p of this.#c.blockstore.pins()) out.push(p)
    return out
  }

  async gc (): Promise<{ removedBlocks: number, freedBytes: number }> {
    const r = await this.#c.blockstore.gc()
    this.#log.info(r, 'artifact gc')
    return r
  }

  /** A CAR of the DAG (fetched first unless held). */
  async exportCar (cid: string | CID, options: FetchCallOptions = {}): Promise<AsyncIterable<Uint8Array>> {
    const root = this.parseCid(cid)
    if (!this.#c.blockstore.isPinned(root)) await this.fetch(root, options)
    return writeCar(root, this.#c.blockstore, options)
  }

  /** Imports a CAR; pins its roots unless `pin: false`. */
  async importCar (source: AsyncIterable<Uint8Array>, options: OperationOptions & { pin?: boolean } = {}): Promise<{ roots: string[] }> {
    const bs = this.#c.blockstore
    const session = bs.session()
    try {
      const roots = await readCar(source, bs, session, options)
      if (options.pin !== false) for (const r of roots) await bs.pin(r)
      session.close()
      for (const r of roots) this.#announce(r)
      return { roots: roots.map(r => r.toString()) }
    } catch (err) {
      await bs.rollback(session)
      throw err
    }
  }

  resolveName (name: string): string { return this.names.resolve(name) }
  getName (name: string): NameRecord | undefined { return this.names.get(name) }

  async setName (name: string, cid: string | CID): Promise<NameRecord> {
    return await this.names.set(name, this.parseCid(cid).toString())
  }

  /** Announces in the DHT, one CID after another (a restart with many pins is no storm). */
  #announce (cid: CID): void {
    const stopping = this.#stopping.signal
    this.#announcing = this.#announcing.then(async () => {
      if (stopping.aborted) return
      await this.#c.routing.provide(cid, { signal: AbortSignal.any([stopping, AbortSignal.timeout(60_000)]) })
    }).catch(err => { this.#log.debug({ err, cid: cid.toString() }, 'announce failed') })
  }
}
