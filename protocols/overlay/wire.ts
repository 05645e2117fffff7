/**
 * The overlay's wire format on `/ctpf/overlay/1.0.0` streams (already encrypted end to end by
 * the libp2p connection's Noise session, relayed or not):
 *
 *   frame   = length:u32be type:u8 body          (length counts type + body, ≤ 4 MiB)
 *   PACKETS = type 0, body = { len:u32be packet }* — each packet is a 10-byte virtio_net_hdr
 *             followed by an IP packet (a GSO super-packet of up to 64 KiB when the sender's
 *             TUN does TSO; an all-zero header otherwise)
 *   PING    = type 1, body = nonce:u32be
 *   PONG    = type 2, body = nonce:u32be (echoes a PING)
 *   FORWARD = type 3, body = dstLen:u8 dst(peer id, UTF-8) payload — to a member relay: pass
 *             `payload` on to member `dst` (1.1.0)
 *   DELIVERED = type 4, body = srcLen:u8 src(peer id) payload — from a member relay: `payload`
 *             came from member `src` (1.1.0)
 *   A forwarded payload is an end-to-end message between src and dst (e2e.ts: a handshake, or
 *   DATA sealing one whole frame of the types above), so the relay reads nothing.
 *
 * Changelog: 1.0.0 (2026-11-22) first version. 1.1.0 (2026-11-23) FORWARD and DELIVERED; agents
 * still speak 1.0.0 (without them) to agents that know only it.
 */
import { MAX_FRAME_BYTES, MAX_PACKET_BYTES } from './constants.js'
import { OverlayWireError } from './errors.js'

export const FRAME_PACKETS = 0
export const FRAME_PING = 1
export const FRAME_PONG = 2
export const FRAME_FORWARD = 3
export const FRAME_DELIVERED = 4

export type Frame =
  | { type: typeof FRAME_PACKETS, packets: Buffer[] }
  | { type: typeof FRAME_PING | typeof FRAME_PONG, nonce: number }
  /** `peer`: the destination of a FORWARD, the source of a DELIVERED. */
  | { type: typeof FRAME_FORWARD | typeof FRAME_DELIVERED, peer: string, payload: Buffer }

/** One PACKETS frame for a batch (one copy of the payload). */
export function encodePackets (pkts: readonly Uint8Array[]): Buffer {
  let len = 5
  for (const p of pkts) len += 4 + p.length
  if (len > MAX_FRAME_BYTES) throw new OverlayWireError(`batch of ${len} bytes exceeds a frame`)
  const out = Buffer.allocUnsafe(len)
  out.writeUInt32BE(len - 4, 0)
  out[4] = FRAME_PACKETS
  let off = 5
  for (const p of pkts) {
    out.writeUInt32BE(p.length, off)
    out.set(p, off + 4)
    off += 4 + p.length
  }
  return out
}

/** Splits a batch into frames of at most `maxBytes` each. */
export function encodePacketFrames (pkts: readonly Uint8Array[], maxBytes = 1 << 20): Buffer[] {
  const frames: Buffer[] = []
  let start = 0
  let size = 5
  for (let i = 0; i < pkts.length; i++) {
    const add = 4 + (pkts[i] as Uint8Array).length
    if (i > start && size + add > maxBytes) {
      frames.push(encodePackets(pkts.slice(start, i)))
      start = i
      size = 5
    }
    size += add
  }
  if (start < pkts.length) frames.push(encodePackets(pkts.slice(start)))
  return frames
}

export function encodeControl (type: typeof FRAME_PING | typeof FRAME_PONG, nonce: number): Buffer {
  const out = Buffer.allocUnsafe(9)
  out.writeUInt32BE(5, 0)
  out[4] = type
  out.writeUInt32BE(nonce >>> 0, 5)
  return out
}

/** A FORWARD (to `peer`) or DELIVERED (from `peer`) frame around an end-to-end payload. */
export function encodeRelayed (type: typeof FRAME_FORWARD | typeof FRAME_DELIVERED, peer: string, payload: Uint8Array): Buffer {
  const id = Buffer.from(peer, 'utf8')
  if (id.length < 1 || id.length > 255) throw new OverlayWireError(`peer id of ${id.length} bytes`)
  const len = 5 + 1 + id.length + payload.length
  if (len > MAX_FRAME_BYTES) throw new OverlayWireError(`forwarded frame of ${len} bytes exceeds a frame`)
  const out = Buffer.allocUnsafe(len)
  out.writeUInt32BE(len - 4, 0)
  out[4] = type
  out[5] = id.length
  id.copy(out, 6)
  out.set(payload, 6 + id.length)
  return out
}

function decodeBody (type: number, body: Buffer): Frame {
  if (type === FRAME_PACKETS) {
    const packets: Buffer[] = []
    let off = 0
    while (off < body.length) {
      if (off + 4 > body.length) throw new OverlayWireError('truncated packet length')
      const len = body.readUInt32BE(off)
      if (len > MAX_PACKET_BYTES || off + 4 + len > body.length) throw new OverlayWireError(`bad packet length ${len}`)
      packets.push(body.subarray(off + 4, off + 4 + len))
      off += 4 + len
    }
    return { type, packets }
  }
  if (type === FRAME_PING || type === FRAME_PONG) {
    if (body.length !== 4) throw new OverlayWireError('bad ping frame')
    return { type, nonce: body.readUInt32BE(0) }
  }
  if (type === FRAME_FORWARD || type === FRAME_DELIVERED) {
    const n = body[0]
    if (n === undefined || n < 1 || body.length < 1 + n) throw new OverlayWireError('bad forwarded frame')
    return { type, peer: body.subarray(1, 1 + n).toString('utf8'), payload: body.subarray(1 + n) }
  }
  throw new OverlayWireError(`unknown frame type ${type}`)
}

/** Incremental decoder: push chunks as they arrive, get whole frames. */
export class FrameDecoder {
  #parts: Buffer[] = []
  #total = 0

  push (chunk: Uint8Array | { subarray: () => Uint8Array }): Frame[] {
    const buf = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    this.#parts.push(Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength))
    this.#total += buf.byteLength
    const out: Frame[] = []
    for (;;) {
      if (this.#total < 4) break
      const head = this.#head(4)
      const len = head.readUInt32BE(0)
      if (len < 1 || len > MAX_FRAME_BYTES) throw new OverlayWireError(`frame length ${len} out of bounds`)
      if (this.#total < 4 + len) break
      const whole = this.#take(4 + len)
      out.push(decodeBody(whole[4] as number, whole.subarray(5)))
    }
    return out
  }

  get buffered (): number { return this.#total }

  #head (n: number): Buffer {
    if ((this.#parts[0] as Buffer).length < n) this.#parts = [Buffer.concat(this.#parts)]
    return this.#parts[0] as Buffer
  }

  #take (n: number): Buffer {
    const first = this.#parts[0] as Buffer
    let out: Buffer
    if (first.length >= n) {
      out = first.subarray(0, n)
      if (first.length === n) this.#parts.shift()
      else this.#parts[0] = first.subarray(n)
    } else {
      const all = Buffer.concat(this.#parts)
      out = all.subarray(0, n)
      this.#parts = all.length > n ? [all.subarray(n)] : []
    }
    this.#total -= n
    return out
  }
}
