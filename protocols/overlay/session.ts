/**
 * One peer's side of the packet transport: the stream packets go out on (opened on demand on
 * the best connection — direct before relayed, `runOnLimitedConnection` so relayed ones work),
 * every stream the peer opened to us read for packets, pings for latency, and a switch to a
 * direct connection when one appears while packets go through a relay.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { MAX_PENDING_PACKETS, OVERLAY_PROTOCOL, PING_TIMEOUT_MS } from './constants.js'
import { OverlayStoppedError, PeerUnreachableError } from './errors.js'
import { FRAME_PACKETS, FRAME_PING, FRAME_PONG, FrameDecoder, encodeControl, encodePacketFrames } from './wire.js'
import type { PathKind, PeerStats } from './types.js'
import type { Frame } from './wire.js'
import type { Connection, Libp2p, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { Logger } from 'pino'

export type OverlayLibp2p = Pick<Libp2p, 'handle' | 'unhandle' | 'getConnections' | 'dial' | 'addEventListener' | 'removeEventListener'>

export interface SessionHost {
  libp2p: OverlayLibp2p
  /** Packets (virtio header + IP) that arrived from the peer. */
  onPackets: (session: PeerSession, pkts: Buffer[]) => void
  /** The outgoing stream is full (true) or drained (false). */
  onCongestion: (session: PeerSession, congested: boolean) => void
  /** Member relays (agents tagged relay=true) to reach a peer through when it cannot be dialled. */
  relays: () => string[]
  logger?: Logger
}

const isRelayed = (c: Connection): boolean => c.limits != null || c.remoteAddr.toString().includes('/p2p-circuit')

export class PeerSession {
  readonly stats: Omit<PeerStats, 'peer' | 'address' | 'address6'>
  #tx: { stream: Stream, conn: Connection } | undefined
  readonly #streams = new Map<Stream, Connection>()
  #opening: Promise<void> | undefined
  #pending: Buffer[] = []
  #congested = false
  #retryAt = 0
  #closed = false
  #nonce = 1
  readonly #pings = new Map<number, { sent: number, resolve: (ms: number) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }>()

  constructor (readonly peer: string, readonly host: SessionHost) {
    this.stats = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, dropped: 0 }
  }

  get path (): PathKind | undefined { return this.#tx == null ? undefined : isRelayed(this.#tx.conn) ? 'relayed' : 'direct' }
  get remoteAddr (): string | undefined { return this.#tx?.conn.remoteAddr.toString() }
  get congested (): boolean { return this.#congested }
  get streams (): number { return this.#streams.size }

  /** Sends packets (each a virtio header + IP packet); opens a stream first when needed. */
  send (pkts: Buffer[]): void {
    if (this.#closed) { this.stats.dropped += pkts.length; return }
    const tx = this.#tx
    if (tx == null || this.#congested || this.#pending.length > 0) {
      this.#queue(pkts)
      if (tx == null) this.#ensureStream()
      return
    }
    this.#write(tx.stream, pkts)
  }

  #queue (pkts: Buffer[]): void {
    const room = MAX_PENDING_PACKETS - this.#pending.length
    if (room < pkts.length) this.stats.dropped += pkts.length - Math.max(room, 0)
    if (room > 0) this.#pending.push(...(room >= pkts.length ? pkts : pkts.slice(0, room)))
  }

  #write (stream: Stream, pkts: Buffer[]): void {
    let ok = true
    try {
      for (const frame of encodePacketFrames(pkts)) ok = stream.send(frame) && ok
    } catch (err) {
      this.stats.dropped += pkts.length
      this.#dropStream(stream, err as Error)
      return
    }
    this.stats.packetsOut += pkts.length
    for (const p of pkts) this.stats.bytesOut += p.length - 10
    if (!ok) this.#setCongested(stream)
  }

  #setCongested (stream: Stream): void {
    if (this.#congested) return
    this.#congested = true
    this.host.onCongestion(this, true)
    const done = (): void => {
      stream.removeEventListener('drain', done)
      stream.removeEventListener('close', done)
      this.#congested = false
      this.#flush()
      if (!this.#congested) this.host.onCongestion(this, false)
    }
    stream.addEventListener('drain', done)
    stream.addEventListener('close', done)
  }

  #flush (): void {
    const tx = this.#tx
    if (tx == null || this.#pending.length === 0) return
    const pkts = this.#pending
    this.#pending = []
    this.#write(tx.stream, pkts)
  }

  #ensureStream (): void {
    if (this.#opening != null || this.#closed || Date.now() < this.#retryAt) return
    this.#opening = this.#open().catch(err => {
      this.#retryAt = Date.now() + 1000
      this.stats.dropped += this.#pending.length
      this.#pending = []
      this.host.logger?.warn({ peer: this.peer, err: (err as Error).message }, 'overlay stream could not be opened')
    }).finally(() => { this.#opening = undefined })
  }

  /** Opens the outgoing stream on the best connection (dialling when there is none). */
  async #open (prefer?: Connection): Promise<void> {
    const pid = peerIdFromString(this.peer)
    const open = (): Connection[] => this.host.libp2p.getConnections(pid).filter(c => c.status === 'open')
    let conns = open()
    if (conns.length === 0) {
      try {
        await this.host.libp2p.dial(pid, { signal: AbortSignal.timeout(5_000) })
      } catch (err) {
        if (!await this.#dialThroughRelays()) throw err
      }
      conns = open()
    }
    const conn = prefer ?? conns.find(c => !isRelayed(c)) ?? conns[0]
    if (conn == null) throw new PeerUnreachableError(this.peer, 'no connection')
    const stream = await conn.newStream(OVERLAY_PROTOCOL, { signal: AbortSignal.timeout(10_000), runOnLimitedConnection: true })
    if (this.#closed) { stream.abort(new OverlayStoppedError()); return }
    this.attach(stream, conn)
    const old = this.#tx
    this.#tx = { stream, conn }
    this.host.logger?.info({ peer: this.peer, path: this.path, addr: conn.remoteAddr.toString() }, 'overlay path to peer')
    if (old != null && old.stream !== stream) {
      // the old stream's reader keeps delivering what is in flight; we stop sending on it
      void old.stream.close().catch(() => {})
    }
    this.#flush()
  }

  /** Dials the peer through each connected member relay in turn: `<relay addr>/p2p-circuit/p2p/<peer>`. */
  async #dialThroughRelays (): Promise<boolean> {
    for (const relay of this.host.relays()) {
      if (relay === this.peer) continue
      for (const c of this.host.libp2p.getConnections(peerIdFromString(relay))) {
        if (c.status !== 'open' || isRelayed(c)) continue
        let base = c.remoteAddr.toString()
        if (!base.includes('/p2p/')) base += `/p2p/${relay}`
        try {
          await this.host.libp2p.dial(multiaddr(`${base}/p2p-circuit/p2p/${this.peer}`), { signal: AbortSignal.timeout(10_000) })
          return true
        } catch (err) {
          this.host.logger?.debug({ peer: this.peer, relay, err }, 'dial through relay failed')
        }
      }
    }
    return false
  }

  /**
   * Reads a stream (opened by either side) for packets and pings. Listens to the stream's events
   * rather than iterating it: no pushable and promise between a message and its packets.
   */
  attach (stream: Stream, conn: Connection): void {
    this.#streams.set(stream, conn)
    // an inbound stream is a fine way out too until one of our own exists
    if (this.#tx == null && !this.#closed) { this.#tx = { stream, conn }; this.#flush() }
    const decoder = new FrameDecoder()
    const onMessage = (evt: StreamMessageEvent): void => {
      try {
        for (const f of decoder.push(evt.data)) this.#onFrame(stream, f)
      } catch (err) {
        stop()
        this.#dropStream(stream, err as Error)
      }
    }
    const onClose = (evt: StreamCloseEvent): void => { stop(); this.#dropStream(stream, evt.error) }
    const onRemoteCloseWrite = (): void => { stop(); this.#dropStream(stream) }
    const stop = (): void => {
      stream.removeEventListener('message', onMessage)
      stream.removeEventListener('close', onClose)
      stream.removeEventListener('remoteCloseWrite', onRemoteCloseWrite)
    }
    if (stream.readStatus !== 'readable' && stream.readStatus !== 'paused') { this.#dropStream(stream); return }
    stream.addEventListener('message', onMessage)
    stream.addEventListener('close', onClose)
    stream.addEventListener('remoteCloseWrite', onRemoteCloseWrite)
  }

  #onFrame (stream: Stream, f: Frame): void {
    if (f.type === FRAME_PACKETS) {
      this.stats.packetsIn += f.packets.length
      for (const p of f.packets) this.stats.bytesIn += p.length - 10
      this.host.onPackets(this, f.packets)
    } else if (f.type === FRAME_PING) {
      stream.send(encodeControl(FRAME_PONG, f.nonce))
    } else {
      this.#pong(f.nonce)
    }
  }

  #dropStream (stream: Stream, err?: Error): void {
    this.#streams.delete(stream)
    if (err != null) stream.abort(err)
    else void stream.close().catch(() => {})
    if (this.#tx?.stream === stream) {
      this.#tx = undefined
      // another open stream (the peer's) carries on; otherwise the next packet opens one
      for (const [s, c] of this.#streams) {
        if (s.status === 'open' && s.writeStatus === 'writable') { this.#tx = { stream: s, conn: c }; break }
      }
      if (this.#pending.length > 0) this.#ensureStream()
    }
  }

  /**
   * Moves outgoing packets to a direct connection when one exists while they go through a
   * relay (or the outgoing stream's connection closed).
   */
  checkPath (): void {
    if (this.#closed || this.#opening != null) return
    const tx = this.#tx
    if (tx == null) return
    const conns = this.host.libp2p.getConnections(peerIdFromString(this.peer)).filter(c => c.status === 'open')
    const direct = conns.find(c => !isRelayed(c))
    if (tx.conn.status !== 'open' || (isRelayed(tx.conn) && direct != null)) {
      this.#opening = this.#open(direct).catch(err => {
        this.host.logger?.debug({ peer: this.peer, err }, 'switching the overlay path failed')
      }).finally(() => { this.#opening = undefined })
    }
  }

  /** Round-trip time over the overlay stream, ms. */
  async ping (timeoutMs = PING_TIMEOUT_MS): Promise<number> {
    if (this.#closed) throw new OverlayStoppedError()
    if (this.#tx == null) {
      this.#ensureStream()
      await this.#opening
    }
    const tx = this.#tx
    if (tx == null) throw new PeerUnreachableError(this.peer, 'no stream could be opened')
    const nonce = this.#nonce++ >>> 0
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(nonce)
        reject(new PeerUnreachableError(this.peer, `no answer to a ping in ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pings.set(nonce, { sent: performance.now(), resolve, reject, timer })
      try {
        tx.stream.send(encodeControl(FRAME_PING, nonce))
      } catch (err) {
        clearTimeout(timer)
        this.#pings.delete(nonce)
        reject(new PeerUnreachableError(this.peer, (err as Error).message, { cause: err }))
      }
    })
  }

  #pong (nonce: number): void {
    const p = this.#pings.get(nonce)
    if (p == null) return
    this.#pings.delete(nonce)
    clearTimeout(p.timer)
    const ms = performance.now() - p.sent
    this.stats.latencyMs = Math.round(ms * 1000) / 1000
    p.resolve(ms)
  }

  /** Aborts every stream; packets for this peer are dropped from now on. */
  close (why: Error = new OverlayStoppedError()): void {
    if (this.#closed) return
    this.#closed = true
    for (const s of this.#streams.keys()) s.abort(why)
    this.#streams.clear()
    this.#tx = undefined
    this.#pending = []
    for (const p of this.#pings.values()) { clearTimeout(p.timer); p.reject(why) }
    this.#pings.clear()
    if (this.#congested) { this.#congested = false; this.host.onCongestion(this, false) }
  }
}
