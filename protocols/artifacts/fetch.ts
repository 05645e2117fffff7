/**
 * The swarming fetcher. Walks a DAG from its root; blocks already held are skipped (so an
 * interrupted fetch resumes without re-downloading), the rest are requested from several
 * providers at once, a window of blocks in flight on each (provider.ts). Providers are asked
 * which of the wanted blocks they hold ("have" queries, repeated as downloads progress); a
 * block goes to a provider that said it holds it, and otherwise to one that held everything
 * it was asked about (a seeder).
 *
 * Every block is checked against its CID before it is stored; a provider that sends a wrong
 * one is dropped for the rest of the fetch and reported; a provider that fails or stalls is
 * dropped and its blocks go to the others. The fetcher announces the root at the start, so
 * other downloaders find it and get the blocks it already has (the exchange serves them):
 * one seeder feeds many.
 */
import * as dagPb from '@ipld/dag-pb'
import { peerIdFromString } from '@libp2p/peer-id'
import { BlockInvalidError, blockKey, linksOf, verifyBlock, DAG_PB_CODE } from '../../store/blockstore.js'
import { AbortedError, ArtifactNotFoundError, FetchFailedError } from './errors.js'
import { openBlockStream } from './exchange.js'
import { Provider } from './provider.js'
import { MAX_CIDS_PER_REQUEST } from './wire.js'
import { report } from './progress.js'
import type { ExchangeLibp2p, ProviderStream } from './exchange.js'
import type { OperationOptions } from './progress.js'
import type { Blockstore, Session } from '../../store/blockstore.js'
import type { PeerId } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'

/** Content routing: the DHT (`libp2p.contentRouting`) or a fake in tests. */
export interface Routing {
  provide: (cid: CID, options?: { signal?: AbortSignal }) => Promise<void>
  findProviders: (cid: CID, options?: { signal?: AbortSignal }) => AsyncIterable<{ id: PeerId }>
}

export interface FetchComponents {
  self: string
  libp2p: ExchangeLibp2p
  routing: Routing
  blockstore: Blockstore
  logger: Logger
}

export interface FetchOptions extends OperationOptions {
  /** Peers to ask besides those the DHT names. */
  providers?: string[]
  /** Blocks in flight per provider (default 16). */
  window?: number
  /** Most providers used at once (default 8). */
  maxProviders?: number
  /** Most blocks in flight across all providers: bounds memory (default 64). */
  maxInflight?: number
  /** Drop a provider that answers nothing for this long with blocks in flight (default 20 s). */
  stallMs?: number
  /** Give up when no provider has made progress for this long (default 60 s). */
  giveUpMs?: number
  /** Fail with ARTIFACT_NOT_FOUND when no provider has the root after this long (default 10 s). */
  notFoundMs?: number
  /** Announce the root in the DHT (default true). */
  announce?: boolean
}

export interface FetchResult {
  root: CID
  /** Blocks received from the network in this fetch. */
  fetchedBlocks: number
  fetchedBytes: number
  /** Blocks that were already held and not requested again. */
  heldBlocks: number
  /** Blocks received per provider. */
  byProvider: Record<string, number>
  /** Providers dropped for sending a block that does not match its CID. */
  liars: string[]
}

/** Verified blocks being written at once, across providers. */
const MAX_STORING = 16
/** How often to look for more providers in the DHT while fewer than maxProviders are known. */
const SEARCH_EVERY_MS = 5_000
/** How often to refresh what providers hold, and to retry blocks nobody had. */
const TICK_MS = 100

/** Fetches every missing block of the DAG under `root` into the blockstore, held by `session`. */
export async function fetchDag (root: CID, c: FetchComponents, session: Session, options: FetchOptions = {}): Promise<FetchResult> {
  return await new Fetch(root, c, session, options).run()
}

class Fetch {
  readonly #root: CID
  readonly #c: FetchComponents
  readonly #session: Session
  readonly #o: FetchOptions
  readonly #ctl = new AbortController()
  readonly #providers = new Map<string, Provider>()
  readonly #wanted: CID[] = []
  readonly #lacks = new Map<string, Set<string>>()
  readonly #result: FetchResult
  readonly #log: Logger
  #pendingLocal = 0
  #done = deferred()
  readonly #started = Date.now()
  #lastProgress = Date.now()
  #finding = false
  #lastSearch = 0
  readonly #storing = new Set<Promise<void>>()
  #totalBytes: number | undefined

  constructor (root: CID, c: FetchComponents, session: Session, o: FetchOptions) {
    this.#root = root
    this.#c = c
    this.#session = session
    this.#o = o
    this.#log = c.logger.child({ cid: root.toString() })
    this.#result = { root, fetchedBlocks: 0, fetchedBytes: 0, heldBlocks: 0, byProvider: {}, liars: [] }
  }

  async run (): Promise<FetchResult> {
    const signal = this.#o.signal
    const onAbort = (): void => { this.#fail(new AbortedError(`fetching ${this.#root}`, signal?.reason)) }
    signal?.addEventListener('abort', onAbort)
    if (signal?.aborted === true) onAbort()
    const ticker = setInterval(() => { this.#tick() }, TICK_MS)
    try {
      await this.#expand(this.#root)
      if (this.#complete()) return this.#result
      if (this.#o.announce !== false) void this.#c.routing.provide(this.#root, { signal: this.#ctl.signal }).catch(err => { this.#log.debug({ err }, 'announce failed') })
      for (const p of this.#o.providers ?? []) this.#addProvider(p)
      void this.#findProviders()
      await this.#done.promise
      return this.#result
    } finally {
      clearInterval(ticker)
      signal?.removeEventListener('abort', onAbort)
      this.#ctl.abort() // before the streams close: what they report now is no news
      for (const w of this.#providers.values()) {
        if (w.stream != null) void w.stream.close()
      }
    }
  }

  #complete (): boolean {
    if (this.#wanted.length > 0 || this.#pendingLocal > 0 || this.#storing.size > 0) return false
    for (const w of this.#providers.values()) if (w.inflight.length > 0) return false
    this.#progress()
    this.#done.resolve()
    return true
  }

  #fail (err: Error): void {
    this.#done.reject(err)
    this.#done.promise.catch(() => {})
    this.#ctl.abort()
  }

  /** Adds a block and what it links to: held ones are walked locally, missing ones wanted. */
  async #expand (cid: CID): Promise<void> {
    this.#pendingLocal++
    try {
      const stack = [cid]
      const fresh: CID[] = []
      while (stack.length > 0) {
        const next = stack.pop() as CID
        this.#session.hold(next)
        if (!this.#c.blockstore.has(next)) { fresh.push(next); continue }
        this.#result.heldBlocks++
        if (next.code !== DAG_PB_CODE) continue
        const bytes = await this.#c.blockstore.getBytes(next)
        if (next.equals(this.#root)) this.#checkQuota(bytes)
        stack.push(...linksOf(next, bytes).reverse())
      }
      // start at a random place among siblings: downloaders then hold different blocks to swap
      const r = fresh.length > 1 ? Math.floor(Math.random() * fresh.length) : 0
      this.#wanted.push(...fresh.slice(r), ...fresh.slice(0, r))
      if (fresh.length > 0) this.#askHaves()
    } finally {
      this.#pendingLocal--
    }
  }

  /** Fails early when what the root says is still missing would not fit in the quota. */
  #checkQuota (rootBytes: Uint8Array): void {
    let missing = 0
    let total = 0
    for (const l of dagPb.decode(rootBytes).Links) {
      total += l.Tsize ?? 0
      if (!this.#c.blockstore.has(l.Hash)) missing += l.Tsize ?? 0
    }
    this.#totalBytes = total
    this.#c.blockstore.checkQuota(missing)
  }

  #addProvider (peer: string): void {
    if (peer === this.#c.self || this.#providers.has(peer) || this.#live() >= (this.#o.maxProviders ?? 8)) return
    const w = new Provider(peer, this.#o.window ?? 16)
    this.#providers.set(peer, w)
    report(this.#o, { type: 'provider:found', root: this.#root.toString(), peer })
    this.#askHave(w)
  }

  #live (): number {
    let n = 0
    for (const w of this.#providers.values()) if (!w.dead) n++
    return n
  }

  async #findProviders (): Promise<void> {
    if (this.#finding) return
    this.#finding = true
    this.#lastSearch = Date.now()
    try {
      for await (const p of this.#c.routing.findProviders(this.#root, { signal: AbortSignal.any([this.#ctl.signal, AbortSignal.timeout(10_000)]) })) {
        this.#addProvider(p.id.toString())
        this.#pump()
      }
    } catch (err) {
      this.#log.debug({ err }, 'provider search ended')
    } finally {
      this.#finding = false
    }
  }

  /** Asks every provider that is not known to hold everything which wanted blocks it holds. */
  #askHaves (): void {
    for (const w of this.#providers.values()) if (!w.complete) this.#askHave(w)
  }

  #askHave (w: Provider): void {
    if (w.dead || w.haveAsked || this.#ctl.signal.aborted) return
    const cids: CID[] = []
    for (const cid of this.#wanted) {
      if (!w.holds.has(blockKey(cid))) cids.push(cid)
      if (cids.length === MAX_CIDS_PER_REQUEST) break
    }
    if (cids.length === 0) return
    w.sentHave(cids)
    void this.#send(w, async s => { await s.askHave(cids, this.#ctl.signal) })
  }

  /**
   * Hands wanted blocks to providers with room. First each provider gets the blocks it said
   * it holds; then seeders get the blocks no other downloader holds. Windows follow each
   * provider's pace, so a busy one is not handed more than it can soon deliver.
   */
  #pump (): void {
    if (this.#ctl.signal.aborted) return
    const live = [...this.#providers.values()].filter(w => !w.dead && w.answered).sort((a, b) => a.inflight.length - b.inflight.length)
    let budget = (this.#o.maxInflight ?? 64) - live.reduce((n, w) => n + w.inflight.length, 0)
    const heldByPeer = (key: string): boolean => live.some(o => !o.complete && o.holds.has(key))
    const give = (w: Provider, accept: (key: string) => boolean): void => {
      const batch: CID[] = []
      for (let i = 0; i < this.#wanted.length && batch.length < Math.min(w.room, budget);) {
        const key = blockKey(this.#wanted[i])
        if (this.#lacks.get(key)?.has(w.peer) !== true && accept(key)) batch.push(...this.#wanted.splice(i, 1))
        else i++
      }
      if (batch.length === 0) return
      budget -= batch.length
      w.sentBlocks(batch)
      void this.#send(w, async s => { await s.request(batch, this.#ctl.signal) })
    }
    for (const w of live) give(w, key => w.holds.has(key))
    for (const w of live.filter(w => w.complete)) give(w, key => !heldByPeer(key))
  }

  async #send (w: Provider, write: (s: ProviderStream) => Promise<void>): Promise<void> {
    try {
      if (w.stream == null) {
        w.stream = await openBlockStream(this.#c.libp2p, peerIdFromString(w.peer), AbortSignal.any([this.#ctl.signal, AbortSignal.timeout(10_000)]))
        void this.#receive(w, w.stream)
      }
      await write(w.stream)
    } catch (err) {
      this.#drop(w, 'failed', err)
    }
  }

  async #receive (w: Provider, stream: ProviderStream): Promise<void> {
    try {
      for await (const response of stream.responses()) {
        const answer = w.take(response)
        if (answer.type === 'have') {
          this.#pump()
          continue
        }
        const { cid } = answer
        if (answer.type === 'none') {
          const key = blockKey(cid)
          let set = this.#lacks.get(key)
          if (set == null) { set = new Set(); this.#lacks.set(key, set) }
          set.add(w.peer)
          this.#wanted.push(cid)
          this.#pump()
          continue
        }
        try {
          verifyBlock(cid, answer.bytes)
        } catch (err) {
          w.inflight.unshift(cid)
          if (err instanceof BlockInvalidError) return this.#drop(w, 'invalid-block', err, cid)
          throw err
        }
        // verified: the next response may be read while this block goes to disk
        this.#result.byProvider[w.peer] = (this.#result.byProvider[w.peer] ?? 0) + 1
        const storing = this.#store(cid, answer.bytes)
        this.#storing.add(storing)
        void storing.finally(() => {
          this.#storing.delete(storing)
          this.#complete()
        })
        if (this.#storing.size >= MAX_STORING) await Promise.race(this.#storing)
        this.#pump()
      }
      if (w.inflight.length > 0) this.#drop(w, 'failed', new Error('stream ended'))
    } catch (err) {
      this.#drop(w, 'failed', err)
    }
  }

  /** Writes a verified block (the frame is ours: the reader never reuses its buffers). */
  async #store (cid: CID, bytes: Uint8Array): Promise<void> {
    try {
      await this.#c.blockstore.put(cid, bytes, { session: this.#session })
      this.#lastProgress = Date.now()
      this.#result.fetchedBlocks++
      this.#result.fetchedBytes += bytes.byteLength
      if (cid.code === DAG_PB_CODE) await this.#expand(cid)
      if (this.#result.fetchedBlocks % 8 === 0) this.#progress()
      this.#pump()
    } catch (err) {
      // a store that cannot write (quota, full disk, I/O) ends the fetch
      this.#fail(err as Error)
    }
  }

  #drop (w: Provider, reason: 'invalid-block' | 'failed', err: unknown, cid?: CID): void {
    if (w.dead || this.#ctl.signal.aborted) return
    w.dead = true
    w.stream?.abort(err instanceof Error ? err : new Error(String(err)))
    this.#wanted.unshift(...w.inflight.splice(0))
    if (reason === 'invalid-block') {
      this.#result.liars.push(w.peer)
      this.#log.warn({ peer: w.peer, block: cid?.toString() }, 'provider sent a block that does not match its CID; dropped')
    } else {
      this.#log.info({ peer: w.peer, err }, 'provider dropped')
    }
    report(this.#o, { type: 'provider:dropped', root: this.#root.toString(), peer: w.peer, reason, cid: cid?.toString(), detail: (err as Error)?.message })
    this.#pump()
  }

  #progress (): void {
    report(this.#o, { type: 'fetch:progress', root: this.#root.toString(), bytes: this.#result.fetchedBytes, blocks: this.#result.fetchedBlocks, heldBlocks: this.#result.heldBlocks, totalBytes: this.#totalBytes, providers: this.#live() })
  }

  /** Whether the root is held here, or some provider said it holds it. */
  #rootFound (): boolean {
    if (this.#c.blockstore.has(this.#root)) return true
    const key = blockKey(this.#root)
    for (const w of this.#providers.values()) if (!w.dead && (w.complete || w.holds.has(key))) return true
    return false
  }

  /** Drops stalled providers, retries blocks nobody had, finds more providers, gives up in the end. */
  #tick (): void {
    const now = Date.now()
    for (const w of this.#providers.values()) {
      const waiting = w.inflight.length > 0 || w.haveAsked
      if (!w.dead && waiting && now - w.last > (this.#o.stallMs ?? 20_000)) this.#drop(w, 'failed', new Error('stalled'))
    }
    // "don't have" is only true for now: a downloader may have the block a moment later
    this.#lacks.clear()
    this.#askHaves()
    if (this.#live() < (this.#o.maxProviders ?? 8) && now - this.#lastSearch > SEARCH_EVERY_MS) void this.#findProviders()
    this.#pump()
    if (!this.#rootFound() && now - this.#started > (this.#o.notFoundMs ?? 10_000)) {
      this.#fail(new ArtifactNotFoundError(this.#root.toString()))
    } else if (now - this.#lastProgress > (this.#o.giveUpMs ?? 60_000)) {
      this.#fail(this.#result.fetchedBlocks === 0 && !this.#c.blockstore.has(this.#root)
        ? new ArtifactNotFoundError(this.#root.toString())
        : new FetchFailedError(this.#root.toString(), `no provider made progress for ${Math.round((now - this.#lastProgress) / 1000)} s`))
    }
  }
}

function deferred (): { promise: Promise<void>, resolve: () => void, reject: (err: Error) => void } {
  let resolve!: () => void
  let reject!: (err: Error) => void
  const promise = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  return { promise, resolve, reject }
}

