/**
 * What a fetch knows of one provider: its stream, the requests it has not answered yet (in
 * order), which blocks it said it holds, and how many blocks to keep in flight with it.
 *
 * The window follows the provider's pace: enough blocks to keep TARGET_QUEUE_MS of work
 * queued there, so a fast seeder is kept busy while a slow one is not handed blocks that
 * others could deliver sooner. A "don't have" halves it.
 */
import { blockKey } from '../../store/blockstore.js'
import { bitAt, WireError } from './wire.js'
import type { ProviderStream, Response } from './exchange.js'
import type { CID } from 'multiformats/cid'

const TARGET_QUEUE_MS = 250

export type Answer =
  | { type: 'block', cid: CID, bytes: Uint8Array }
  | { type: 'none', cid: CID }
  | { type: 'have', cids: CID[], bits: Uint8Array }

export class Provider {
  stream?: ProviderStream
  /** Blocks asked for and not answered yet, in order. */
  readonly inflight: CID[] = []
  /** Keys of the blocks it said it holds. */
  readonly holds = new Set<string>()
  /** It answered a "have" query, and the last one said it holds all it was asked about. */
  answered = false
  complete = false
  haveAsked = false
  dead = false
  /** Time of the last answer of any kind. */
  last = Date.now()
  window: number
  readonly #order: Array<CID[] | null> = []
  #interval: number | undefined
  #lastBlock = 0

  constructor (readonly peer: string, readonly maxWindow: number) {
    this.window = Math.min(4, maxWindow)
  }

  get room (): number { return this.window - this.inflight.length }

  sentBlocks (cids: CID[]): void {
    // pace is measured while busy: idle time before this request does not count
    if (this.inflight.length === 0) this.#lastBlock = Date.now()
    this.inflight.push(...cids)
    for (let i = 0; i < cids.length; i++) this.#order.push(null)
  }

  sentHave (cids: CID[]): void {
    this.#order.push(cids)
    this.haveAsked = true
  }

  /** Pairs a response with the request it answers. Throws WireError on one nobody asked for. */
  take (r: Response): Answer {
    this.last = Date.now()
    const head = this.#order.shift()
    if (head === undefined) throw new WireError('response without a request')
    if (r.type === 'have') {
      if (head === null) throw new WireError('have bitmap for a block request')
      this.haveAsked = false
      this.answered = true
      this.complete = head.every((cid, i) => bitAt(r.bits, i))
      head.forEach((cid, i) => { if (bitAt(r.bits, i)) this.holds.add(blockKey(cid)) })
      return { type: 'have', cids: head, bits: r.bits }
    }
    if (head !== null) throw new WireError('block response for a have query')
    const cid = this.inflight.shift() as CID
    if (r.type === 'none') {
      this.holds.delete(blockKey(cid))
      this.window = Math.max(1, this.window >> 1)
      this.complete = false
      return { type: 'none', cid }
    }
    this.#paced()
    return { type: 'block', cid, bytes: r.bytes }
  }

  #paced (): void {
    const now = Date.now()
    const gap = Math.max(0.5, now - this.#lastBlock)
    this.#lastBlock = now
    this.#interval = this.#interval == null ? gap : this.#interval * 0.8 + gap * 0.2
    this.window = Math.max(2, Math.min(this.maxWindow, Math.ceil(TARGET_QUEUE_MS / this.#interval)))
  }
}
