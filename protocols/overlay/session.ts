/**
 * One peer's side of the packet transport. Packets go out on one of three paths, best first:
 *
 * 1. a stream on a direct connection (opened on demand);
 * 2. forwarded by a member relay (an agent tagged relay=true that both ends reach directly):
 *    FORWARD frames on our stream to the relay, DELIVERED frames from it, each carrying an
 *    end-to-end message (e2e.ts) — a signed key exchange, then whole overlay frames sealed with
 *    AES-256-GCM — so the relay reads and forges nothing;
 * 3. a stream on a circuit-relay connection (`runOnLimitedConnection`), for relays that speak
 *    only /ctpf/overlay/1.0.0.
 *
 * Every stream the peer opened to us is read too; pings measure latency on whichever path is
 * in use; the path moves to a direct connection when one appears, and to another relay when the
 * one in use goes away (the end-to-end keys do not depend on the relay).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { multiaddr } from '@multiformats/multiaddr'
import { FORWARD_HANDSHAKE_MS, MAX_PENDING_FRAME_BYTES, MAX_PENDING_PACKETS, OVERLAY_PROTOCOL, OVERLAY_PROTOCOL_1_0, PING_TIMEOUT_MS } from './constants.js'
import { E2E_DATA, E2eEndpoint, e2eMessageType } from './e2e.js'
import { E2eAuthError, OverlayStoppedError, PeerUnreachableError } from './errors.js'
import { FRAME_DELIVERED, FRAME_FORWARD, FRAME_PACKETS, FRAME_PING, FRAME_PONG, FrameDecoder, encodeControl, encodePacketFrames, encodeRelayed } from './wire.js'
import type { Frame } from './wire.js'
import type { PathKind, PeerStats } from './types.js'
import type { Connection, Libp2p, Stream, StreamCloseEvent, StreamMessageEvent } from '@libp2p/interface'
import type { Logger } from 'pino'

export type OverlayLibp2p = Pick<Libp2p, 'handle' | 'unhandle' | 'getConnections' | 'dial' | 'addEventListener' | 'removeEventListener'>

export interface SessionHost {
  libp2p: OverlayLibp2p
  /** This agent's peer id. */
  self: string
  /** Signs with this agent's libp2p key (the end-to-end handshake through relays). */
  sign: (data: Uint8Array) => Promise<Uint8Array>
  /** Packets (virtio header + IP) that arrived from the peer. */
  onPackets: (session: PeerSession, pkts: Buffer[]) => void
  /** The outgoing stream is full (true) or drained (false). */
  onCongestion: (session: PeerSession, congested: boolean) => void
  /** Member relays (agents tagged relay=true) to reach a peer through when it cannot be dialled. */
  relays: () => string[]
  /** The session of another member (a relay), made when missing. */
  sessionOf: (peer: string) => PeerSession
  /** A FORWARD frame arrived from this session's peer: pass `payload` to `dst`. */
  onForward: (from: PeerSession, dst: string, payload: Buffer) => void
  /** A DELIVERED frame arrived from this session's peer (a relay): `payload` came from `src`. */
  onDelivered: (relay: PeerSession, src: string, payload: Buffer) => void
  logger?: Logger
}

/** A connection through a circuit relay (limited, or with /p2p-circuit in its address). */
export const isRelayed = (c: Connection): boolean => c.limits != null || c.remoteAddr.toString().includes('/p2p-circuit')

export class PeerSession {
  readonly stats: Omit<PeerStats, 'peer' | 'address' | 'address6'>
  #tx: { stream: Stream, conn: Connection } | undefined
  readonly #streams = new Map<Stream, Connection>()
  #opening: Promise<void> | undefined
  #pending: Buffer[] = []
  /** Whole frames waiting for the stream (forwarded ones, when this peer is a relay or a destination). */
  #pendingFrames: Buffer[] = []
  #pendingFrameBytes = 0
  #congested = false
  #retryAt = 0
  #closed = false
  #nonce = 1
  /** The member relay packets go through when there is no direct stream. */
  #via: string | undefined
  #e2e: E2eEndpoint | undefined
  /** Ends the handshake in progress (true: keys agreed). */
  #handshake: ((ok: boolean) => void) | undefined
  readonly #pings = new Map<number, { sent: number, resolve: (ms: number) => void, reject: (err: Error) => void, timer: NodeJS.Timeout }>()

  constructor (readonly peer: string, readonly host: SessionHost) {
    this.stats = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, dropped: 0 }
  }

  get path (): PathKind | undefined {
    if (this.#tx != null) return isRelayed(this.#tx.conn) ? 'relayed' : 'direct'
    return this.#via !== undefined ? 'relayed' : undefined
  }

  get remoteAddr (): string | undefined {
    if (this.#tx != null) return this.#tx.conn.remoteAddr.toString()
    if (this.#via === undefined) return undefined
    const relayAddr = this.host.sessionOf(this.#via).remoteAddr ?? `/p2p/${this.#via}`
    return `${relayAddr.includes('/p2p/') ? relayAddr : `${relayAddr}/p2p/${this.#via}`}/ctpf-relay/p2p/${this.peer}`
  }

  get congested (): boolean { return this.#congested }
  get streams (): number { return this.#streams.size }

  /** Whether frames of /ctpf/overlay/1.1.0 (FORWARD, DELIVERED) can go out on our stream. */
  get forwards (): boolean { return this.#tx?.stream.protocol === OVERLAY_PROTOCOL && !isRelayed(this.#tx.conn) }

  /** Sends packets (each a virtio header + IP packet); finds a path first when needed. */
  send (pkts: Buffer[]): void {
    if (this.#closed) { this.stats.dropped += pkts.length; return }
    const tx = this.#tx
    if (tx == null && this.#via !== undefined && this.#e2e?.ready === true && this.#pending.length === 0) {
      this.#sendSealedPackets(pkts)
      return
    }
    if (tx == null || this.#congested || this.#pending.length > 0) {
      this.#queue(pkts)
      if (tx == null) this.#ensureStream()
      return
    }
    this.#write(tx.stream, pkts)
  }

  /** Sends one whole frame on our stream (queued while it opens): forwarded frames. */
  sendFrame (frame: Buffer): boolean {
    if (this.#closed) return false
    const tx = this.#tx
    if (tx != null && tx.stream.protocol !== OVERLAY_PROTOCOL) return false
    if (tx == null) {
      if (this.#pendingFrameBytes + frame.length > MAX_PENDING_FRAME_BYTES) return false
      this.#pendingFrames.push(frame)
      this.#pendingFrameBytes += frame.length
      this.#ensureStream()
      return true
    }
    try {
      tx.stream.send(frame)
      return true
    } catch (err) {
      this.#dropStream(tx.stream, err as Error)
      return false
    }
  }

  #queue (pkts: Buffer[]): void {
    const room = MAX_PENDING_PACKETS - this.#pending.length
    if (room < pkts.length) this.stats.dropped += pkts.length - Math.max(room, 0)
    if (room > 0) this.#pending.push(...(room >= pkts.length ? pkts : pkts.slice(0, room)))
  }

  #count (pkts: Buffer[]): void {
    this.stats.packetsOut += pkts.length
    for (const p of pkts) this.stats.bytesOut += p.length - 10
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
    this.#count(pkts)
    if (!ok) this.#setCongested(stream)
  }

  /** Seals whole frames end to end and hands them to the relay in use. */
  #sendSealed (frame: Buffer): boolean {
    const via = this.#via
    const e2e = this.#e2e
    if (via === undefined || e2e?.ready !== true) return false
    const relay = this.host.sessionOf(via)
    if (!relay.forwards || !relay.sendFrame(encodeRelayed(FRAME_FORWARD, this.peer, e2e.seal(frame)))) {
      // the relay went away (or speaks only 1.0.0): find another path
      this.host.logger?.info({ peer: this.peer, relay: via }, 'overlay relay lost')
      this.#via = undefined
      this.#ensureStream()
      return false
    }
    return true
  }

  #sendSealedPackets (pkts: Buffer[]): void {
    for (const frame of encodePacketFrames(pkts)) {
      if (!this.#sendSealed(frame)) { this.stats.dropped += pkts.length; return }
    }
    this.#count(pkts)
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
    if (tx != null && this.#pendingFrames.length > 0) {
      const frames = this.#pendingFrames
      this.#pendingFrames = []
      this.#pendingFrameBytes = 0
      for (const f of frames) this.sendFrame(f)
    }
    if (this.#pending.length === 0) return
    const pkts = this.#pending
    if (tx != null) {
      this.#pending = []
      this.#write(tx.stream, pkts)
    } else if (this.#via !== undefined && this.#e2e?.ready === true) {
      this.#pending = []
      this.#sendSealedPackets(pkts)
    }
  }

  #ensureStream (): void {
    if (this.#opening != null || this.#closed || Date.now() < this.#retryAt) return
    this.#opening = this.#open().catch(err => {
      this.#retryAt = Date.now() + 1000
      this.stats.dropped += this.#pending.length
      this.#pending = []
      this.#pendingFrames = []
      this.#pendingFrameBytes = 0
      this.host.logger?.warn({ peer: this.peer, err: (err as Error).message }, 'overlay stream could not be opened')
    }).finally(() => { this.#opening = undefined })
  }

  /**
   * Finds the best path: a stream on a direct connection (dialling when there is none), else
   * forwarding through a member relay, else a stream on a circuit-relay connection.
   */
  async #open (prefer?: Connection): Promise<void> {
    const pid = peerIdFromString(this.peer)
    const open = (): Connection[] => this.host.libp2p.getConnections(pid).filter(c => c.status === 'open')
    let conn = prefer ?? open().find(c => !isRelayed(c))
    if (conn == null) {
      await this.host.libp2p.dial(pid, { signal: AbortSignal.timeout(5_000) }).catch(() => {})
      conn = open().find(c => !isRelayed(c))
    }
    if (conn == null) {
      if (await this.#forwardThroughRelays()) return
      if (open().length === 0 && !await this.#dialThroughRelays()) throw new PeerUnreachableError(this.peer, 'no direct connection, and no member relay reaches it')
      conn = open()[0]
    }
    if (conn == null) throw new PeerUnreachableError(this.peer, 'no connection')
    const stream = await conn.newStream([OVERLAY_PROTOCOL, OVERLAY_PROTOCOL_1_0], { signal: AbortSignal.timeout(10_000), runOnLimitedConnection: true })
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

  /**
   * Tries each member relay we reach directly: makes sure our stream to it speaks 1.1.0, then
   * (without keys yet) shakes hands end to end through it. True once packets can be forwarded.
   */
  async #forwardThroughRelays (): Promise<boolean> {
    for (const relay of this.host.relays()) {
      if (relay === this.peer || relay === this.host.self) continue
      if (!this.host.libp2p.getConnections(peerIdFromString(relay)).some(c => c.status === 'open' && !isRelayed(c))) continue
      const r = this.host.sessionOf(relay)
      if (!await r.ready()) continue
      if (!r.forwards) continue
      this.#via = relay
      if (this.#e2eEndpoint().ready || await this.#shakeHands(relay)) {
        this.host.logger?.info({ peer: this.peer, relay }, 'overlay path to peer: forwarded by a member relay')
        this.#flush()
        return true
      }
      this.#via = undefined
    }
    return false
  }

  /** Opens our stream to this peer if there is none (used on relays); true when one is open. */
  async ready (): Promise<boolean> {
    if (this.#tx != null) return true
    this.#ensureStream()
    await this.#opening
    return this.#tx != null
  }

  #e2eEndpoint (): E2eEndpoint {
    this.#e2e ??= new E2eEndpoint({ self: this.host.self, peer: this.peer, sign: this.host.sign })
    return this.#e2e
  }

  async #shakeHands (relay: string): Promise<boolean> {
    const e2e = this.#e2eEndpoint()
    let resolve!: (ok: boolean) => void
    const done = new Promise<boolean>(res => { resolve = res })
    this.#handshake = resolve
    const timer = setTimeout(() => { resolve(false) }, FORWARD_HANDSHAKE_MS)
    try {
      const init = await e2e.createInit()
      if (!this.host.sessionOf(relay).sendFrame(encodeRelayed(FRAME_FORWARD, this.peer, init))) return false
      return await done
    } finally {
      clearTimeout(timer)
      this.#handshake = undefined
    }
  }

  /** Starts a new handshake when the keys are due for renewal (called from time to time). */
  rekey (): void {
    const e2e = this.#e2e
    const via = this.#via
    if (e2e == null || via === undefined || this.#tx != null || this.#handshake != null || !e2e.needsHandshake()) return
    void this.#shakeHands(via).catch(() => {})
  }

  /** An end-to-end message from this peer, forwarded by `relay`. */
  async onForwarded (relay: string, payload: Buffer): Promise<void> {
    if (this.#closed) return
    const e2e = this.#e2eEndpoint()
    let type: number
    try { type = e2eMessageType(payload) } catch { this.stats.dropped++; return }
    if (type === E2E_DATA) {
      let plain: Buffer
      try { plain = e2e.open(payload) } catch (err) {
        this.stats.dropped++
        this.host.logger?.debug({ peer: this.peer, relay, err: (err as Error).message }, 'forwarded frame refused')
        // sealed with keys we do not have (this agent restarted): agree on new ones
        if (err instanceof E2eAuthError && this.#handshake == null && e2e.needsHandshake()) void this.#shakeHands(relay).catch(() => {})
        return
      }
      // the way back: the relay this came through, while there is no direct stream
      if (this.#tx == null && this.#via === undefined) this.#via = relay
      let frames: Frame[]
      try { frames = new FrameDecoder().push(plain) } catch { this.stats.dropped++; return }
      for (const f of frames) this.#onFrame(f, frame => { this.#sendSealed(frame) }, undefined)
      if (this.#pending.length > 0) this.#flush()
      return
    }
    try {
      const reply = await e2e.onHandshake(payload)
      if (reply !== undefined) {
        if (this.#tx == null && this.#via === undefined) this.#via = relay
        this.host.sessionOf(relay).sendFrame(encodeRelayed(FRAME_FORWARD, this.peer, reply))
      }
      if (e2e.ready) {
        this.#handshake?.(true)
        this.#flush()
      }
    } catch (err) {
      this.host.logger?.warn({ peer: this.peer, relay, err: (err as Error).message }, 'overlay end-to-end handshake refused')
    }
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
    const reply = (frame: Buffer): void => { stream.send(frame) }
    const onMessage = (evt: StreamMessageEvent): void => {
      try {
        for (const f of decoder.push(evt.data)) this.#onFrame(f, reply, stream)
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

  /** One frame from this peer: on `stream`, or sealed end to end (`stream` undefined). */
  #onFrame (f: Frame, reply: (frame: Buffer) => void, stream: Stream | undefined): void {
    if (f.type === FRAME_PACKETS) {
      this.stats.packetsIn += f.packets.length
      for (const p of f.packets) this.stats.bytesIn += p.length - 10
      this.host.onPackets(this, f.packets)
    } else if (f.type === FRAME_PING) {
      reply(encodeControl(FRAME_PONG, f.nonce))
    } else if (f.type === FRAME_PONG) {
      this.#pong(f.nonce)
    } else if (stream === undefined || stream.protocol !== OVERLAY_PROTOCOL) {
      // forwarding frames only between neighbours on 1.1.0 streams, never inside sealed ones
      this.stats.dropped++
    } else if (f.type === FRAME_FORWARD) {
      this.host.onForward(this, f.peer, f.payload)
    } else if (f.type === FRAME_DELIVERED) {
      this.host.onDelivered(this, f.peer, f.payload)
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
      if (this.#pending.length > 0 || this.#pendingFrames.length > 0) this.#ensureStream()
    }
  }

  /**
   * Moves outgoing packets to a direct connection when one exists while they go through a
   * relay (or the outgoing stream's connection closed).
   */
  checkPath (): void {
    if (this.#closed || this.#opening != null) return
    const tx = this.#tx
    const conns = this.host.libp2p.getConnections(peerIdFromString(this.peer)).filter(c => c.status === 'open')
    const direct = conns.find(c => !isRelayed(c))
    if (tx == null) {
      // forwarded: a direct connection wins; a relay that went away is replaced
      if (this.#via === undefined) return
      const relayGone = !this.host.libp2p.getConnections(peerIdFromString(this.#via)).some(c => c.status === 'open' && !isRelayed(c))
      if (direct == null && !relayGone) return
      if (relayGone) this.#via = undefined
    } else if (!(tx.conn.status !== 'open' || (isRelayed(tx.conn) && direct != null))) {
      return
    }
    this.#opening = this.#open(direct).catch(err => {
      this.host.logger?.debug({ peer: this.peer, err }, 'switching the overlay path failed')
    }).finally(() => { this.#opening = undefined })
  }

  /** Round-trip time over the path in use, ms. */
  async ping (timeoutMs = PING_TIMEOUT_MS): Promise<number> {
    if (this.#closed) throw new OverlayStoppedError()
    if (this.#tx == null && !(this.#via !== undefined && this.#e2e?.ready === true)) {
      this.#ensureStream()
      await this.#opening
    }
    const tx = this.#tx
    const forwarded = tx == null && this.#via !== undefined && this.#e2e?.ready === true
    if (tx == null && !forwarded) throw new PeerUnreachableError(this.peer, 'no path could be found')
    const nonce = this.#nonce++ >>> 0
    return await new Promise<number>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pings.delete(nonce)
        reject(new PeerUnreachableError(this.peer, `no answer to a ping in ${timeoutMs} ms`))
      }, timeoutMs)
      this.#pings.set(nonce, { sent: performance.now(), resolve, reject, timer })
      try {
        const frame = encodeControl(FRAME_PING, nonce)
        if (tx != null) tx.stream.send(frame)
        else if (!this.#sendSealed(frame)) throw new Error('the relay in use went away')
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
    this.#via = undefined
    this.#pending = []
    this.#pendingFrames = []
    this.#pendingFrameBytes = 0
    this.#handshake?.(false)
    for (const p of this.#pings.values()) { clearTimeout(p.timer); p.reject(why) }
    this.#pings.clear()
    if (this.#congested) { this.#congested = false; this.host.onCongestion(this, false) }
  }
}
