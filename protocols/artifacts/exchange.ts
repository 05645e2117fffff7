/**
 * The block exchange, `/ctpf/blocks/1.0.0` (framing in wire.ts). A requester keeps one stream
 * per provider and pipelines request frames of CIDs; the provider answers each CID in order
 * with the block or "don't have", and a "have" query with a bitmap. It serves whatever its
 * blockstore holds, including the blocks of a download still in progress (that is what makes
 * fetches swarm).
 *
 * Limits: at most MAX_CIDS_PER_REQUEST CIDs per frame and MAX_PENDING unanswered CIDs per
 * stream (more is a protocol violation and resets the stream), an idle timeout, and a cap on
 * inbound streams per connection. Membership gating is done by the agent's registrar.
 */
import { BLOCKS_PROTOCOL, DONT_HAVE, FrameReader, HAVE, HAVE_LIST, MAX_CIDS_PER_REQUEST, MAX_CID_BYTES, REQ_BLOCKS, REQ_HAVE, WireError, decodeRequest, encodeBitmap, encodeRequest, writeFrame } from './wire.js'
import { MAX_BLOCK_BYTES } from '../../store/blockstore.js'
import type { Connection, Libp2p, PeerId, Stream } from '@libp2p/interface'
import type { CID } from 'multiformats/cid'
import type { Logger } from 'pino'

export { BLOCKS_PROTOCOL }
export const MAX_PENDING = 1024
const IDLE_TIMEOUT_MS = 60_000
const READ_AHEAD = 4
const HAVE_BYTE = Uint8Array.of(HAVE)
const DONT_HAVE_BYTE = Uint8Array.of(DONT_HAVE)

/** What the exchange serves from: the blockstore, or anything shaped like it. */
export interface BlockSource {
  has: (cid: CID) => boolean
  getBytes: (cid: CID) => Promise<Uint8Array>
}

export type ExchangeLibp2p = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections'>

export interface ExchangeComponents {
  libp2p: ExchangeLibp2p
  blocks: BlockSource
  logger: Logger
}

export interface ExchangeInit {
  maxInboundStreams?: number
  idleTimeoutMs?: number
}

export interface ExchangeMetrics { streams: number, blocksServed: number, bytesServed: number, dontHave: number, protocolErrors: number }

export class BlockExchange {
  readonly metrics: ExchangeMetrics = { streams: 0, blocksServed: 0, bytesServed: 0, dontHave: 0, protocolErrors: 0 }
  readonly #c: ExchangeComponents
  readonly #init: ExchangeInit
  readonly #open = new Set<Stream>()
  #started = false

  constructor (components: ExchangeComponents, init: ExchangeInit = {}) {
    this.#c = components
    this.#init = init
  }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    await this.#c.libp2p.handle(BLOCKS_PROTOCOL, (s, c) => this.#serve(s, c), { runOnLimitedConnection: true, maxInboundStreams: this.#init.maxInboundStreams ?? 64 })
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    await this.#c.libp2p.unhandle(BLOCKS_PROTOCOL)
    for (const s of this.#open) s.abort(new Error('block exchange stopped'))
    this.#open.clear()
  }

  async #serve (stream: Stream, connection: Connection): Promise<void> {
    this.metrics.streams++
    this.#open.add(stream)
    const peer = connection.remotePeer.toString()
    // a CID is a block to send; an array is a "have" query
    const queue: Array<CID | CID[]> = []
    let wake: (() => void) | undefined
    let ended = false
    let idle: NodeJS.Timeout | undefined
    const touch = (): void => {
      clearTimeout(idle)
      idle = setTimeout(() => stream.abort(new WireError('idle')), this.#init.idleTimeoutMs ?? IDLE_TIMEOUT_MS)
      idle.unref()
    }
    // reads eagerly so a flood of requests is noticed and refused, not buffered
    const reading = (async () => {
      const frames = new FrameReader(MAX_CIDS_PER_REQUEST * (MAX_CID_BYTES + 2))
      try {
        for await (const chunk of stream) {
          touch()
          for (const frame of frames.push(chunk)) {
            const { kind, cids } = decodeRequest(frame)
            if (kind === REQ_BLOCKS) queue.push(...cids)
            else queue.push(cids)
            if (queue.length > MAX_PENDING) throw new WireError(`more than ${MAX_PENDING} CIDs pending`)
          }
          wake?.()
        }
      } finally {
        ended = true
        wake?.()
      }
    })()
    reading.catch(err => {
      if (err instanceof WireError) this.metrics.protocolErrors++
      this.#c.logger.debug({ peer, err }, 'block request stream failed')
      stream.abort(err as Error)
    })
    try {
      touch()
      // reads a few blocks ahead, so the disk works while the network sends
      const ahead: Array<Promise<Uint8Array | undefined> | Uint8Array[]> = []
      for (;;) {
        while (ahead.length < READ_AHEAD && queue.length > 0) {
          const job = queue.shift() as CID | CID[]
          ahead.push(Array.isArray(job) ? [encodeBitmap(job.map(c => this.#c.blocks.has(c)))] : this.#lookup(job))
        }
        const next = ahead.shift()
        if (next == null) {
          if (ended) break
          await new Promise<void>(resolve => { wake = resolve })
          wake = undefined
          continue
        }
        if (Array.isArray(next)) {
          await writeFrame(stream, next)
          touch()
          continue
        }
        const bytes = await next
        if (bytes == null) {
          this.metrics.dontHave++
          await writeFrame(stream, [DONT_HAVE_BYTE])
        } else {
          this.metrics.blocksServed++
          this.metrics.bytesServed += bytes.byteLength
          await writeFrame(stream, [HAVE_BYTE, bytes])
        }
        touch()
      }
      await reading.catch(() => {})
      if (stream.status === 'open') await stream.close()
    } catch (err) {
      stream.abort(err as Error)
    } finally {
      clearTimeout(idle)
      this.#open.delete(stream)
    }
  }

  async #lookup (cid: CID): Promise<Uint8Array | undefined> {
    if (!this.#c.blocks.has(cid)) return undefined
    try { return await this.#c.blocks.getBytes(cid) } catch { return undefined }
  }
}

/** Opens a block stream to a provider, over a relayed connection when that is the only one. */
export async function openBlockStream (libp2p: Pick<Libp2p, 'dialProtocol' | 'getConnections'>, peer: PeerId, signal: AbortSignal): Promise<ProviderStream> {
  const conns = libp2p.getConnections(peer).filter(c => c.status === 'open')
  const direct = conns.find(c => c.limits == null)
  let stream: Stream
  if (direct != null) stream = await direct.newStream(BLOCKS_PROTOCOL, { signal })
  else if (conns.length > 0) stream = await conns[0].newStream(BLOCKS_PROTOCOL, { signal, runOnLimitedConnection: true })
  else stream = await libp2p.dialProtocol(peer, BLOCKS_PROTOCOL, { signal, runOnLimitedConnection: true })
  return new ProviderStream(stream)
}

export type Response = { type: 'block', bytes: Uint8Array } | { type: 'none' } | { type: 'have', bits: Uint8Array }

/** The requester's end of one block stream: pipelined requests, responses in order. */
export class ProviderStream {
  constructor (readonly stream: Stream) {}

  /** Asks for blocks: one response each, in order. */
  async request (cids: CID[], signal?: AbortSignal): Promise<void> {
    for (let i = 0; i < cids.length; i += MAX_CIDS_PER_REQUEST) {
      await writeFrame(this.stream, [encodeRequest(REQ_BLOCKS, cids.slice(i, i + MAX_CIDS_PER_REQUEST))], signal)
    }
  }

  /** Asks which of up to MAX_CIDS_PER_REQUEST blocks the provider holds: one bitmap response. */
  async askHave (cids: CID[], signal?: AbortSignal): Promise<void> {
    if (cids.length > MAX_CIDS_PER_REQUEST) throw new WireError('too many CIDs in one request')
    await writeFrame(this.stream, [encodeRequest(REQ_HAVE, cids)], signal)
  }

  /** Each response in order: a block (unverified!), "don't have", or a have bitmap. */
  async * responses (): AsyncGenerator<Response> {
    const frames = new FrameReader(MAX_BLOCK_BYTES + 1)
    for await (const chunk of this.stream) {
      for (const frame of frames.push(chunk)) {
        if (frame.length === 1 && frame[0] === DONT_HAVE) yield { type: 'none' }
        else if (frame.length >= 1 && frame[0] === HAVE) yield { type: 'block', bytes: frame.subarray(1) }
        else if (frame.length >= 1 && frame[0] === HAVE_LIST) yield { type: 'have', bits: frame.subarray(1) }
        else throw new WireError('malformed response')
      }
    }
  }

  abort (err: Error): void { this.stream.abort(err) }

  async close (): Promise<void> {
    try { await this.stream.close() } catch (err) { this.stream.abort(err as Error) }
  }
}
