/**
 * Binary framing of the block exchange: every frame is a varint length and that many bytes.
 * No JSON on the data path; a block goes out as its header and the block itself, uncopied.
 *
 * request  frame: kind, then (varint cid-length, cid bytes) × n, n ≤ MAX_CIDS_PER_REQUEST
 *   kind 0x00 "blocks": one response frame per CID, in order: 0x01 + block bytes | 0x00 (don't have)
 *   kind 0x01 "have":   one response frame: 0x02 + a bitmap, bit i (LSB first) set if CID i is held
 * Responses come in request order, whatever the kind.
 */
import { CID } from 'multiformats/cid'
import type { Stream } from '@libp2p/interface'

export const BLOCKS_PROTOCOL = '/ctpf/blocks/1.0.0'
export const MAX_CIDS_PER_REQUEST = 128
export const MAX_CID_BYTES = 128
export const HAVE = 1
export const DONT_HAVE = 0
export const HAVE_LIST = 2
export const REQ_BLOCKS = 0
export const REQ_HAVE = 1
export type RequestKind = typeof REQ_BLOCKS | typeof REQ_HAVE

export class WireError extends Error {
  readonly code = 'EXCHANGE_PROTOCOL'
  constructor (message: string) {
    super(message)
    this.name = 'WireError'
  }
}

export function encodeVarint (n: number): Uint8Array {
  const out: number[] = []
  while (n >= 0x80) { out.push((n & 0x7f) | 0x80); n = Math.floor(n / 128) }
  out.push(n)
  return Uint8Array.from(out)
}

/** Decodes a varint at `offset`: [value, bytes used], or undefined when more bytes are needed. */
export function decodeVarint (buf: Uint8Array, offset = 0): [number, number] | undefined {
  let n = 0
  let mul = 1
  for (let i = offset; i < buf.length && i < offset + 8; i++) {
    n += (buf[i] & 0x7f) * mul
    if ((buf[i] & 0x80) === 0) return [n, i - offset + 1]
    mul *= 128
  }
  if (buf.length - offset >= 8) throw new WireError('varint too long')
  return undefined
}

/** Splits a byte stream into frames, refusing any larger than `maxBytes`. */
export class FrameReader {
  #parts: Buffer[] = []
  #total = 0

  constructor (readonly maxBytes: number) {}

  * push (chunk: Uint8Array | { subarray: () => Uint8Array }): Generator<Buffer> {
    const bytes = chunk instanceof Uint8Array ? chunk : chunk.subarray()
    this.#parts.push(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength))
    this.#total += bytes.byteLength
    for (;;) {
      if (this.#parts.length > 1 && this.#parts[0].length < 9) this.#merge(9)
      const head = this.#parts[0]
      if (head == null) return
      const v = decodeVarint(head)
      if (v == null) return
      const [len, used] = v
      if (len > this.maxBytes) throw new WireError(`frame of ${len} bytes is larger than ${this.maxBytes}`)
      if (this.#total < used + len) return
      if (head.length < used + len) this.#merge(used + len)
      const buf = this.#parts[0]
      const frame = buf.subarray(used, used + len)
      const rest = buf.subarray(used + len)
      if (rest.length > 0) this.#parts[0] = rest
      else this.#parts.shift()
      this.#total -= used + len
      yield frame
    }
  }

  get buffered (): number { return this.#total }

  /** Joins the first parts until the head holds at least `bytes` (or everything buffered). */
  #merge (bytes: number): void {
    let n = 0
    let len = 0
    while (n < this.#parts.length && len < bytes) len += this.#parts[n++].length
    this.#parts.splice(0, n, Buffer.concat(this.#parts.slice(0, n), len))
  }
}

/** Sends one frame made of `parts`; resolves when the stream can take more. */
export async function writeFrame (stream: Stream, parts: Uint8Array[], signal?: AbortSignal): Promise<void> {
  let len = 0
  for (const p of parts) len += p.byteLength
  let ok = stream.send(encodeVarint(len))
  for (const p of parts) ok = stream.send(p) && ok
  if (!ok) await drained(stream, signal)
}

/** Waits for the stream's 'drain' event (not `onDrain()`: stale after the first use). */
export async function drained (stream: Stream, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve, reject) => {
    const done = (): void => {
      stream.removeEventListener('drain', onDrain)
      stream.removeEventListener('close', onClose)
      signal?.removeEventListener('abort', onAbort)
    }
    const onDrain = (): void => { done(); resolve() }
    const onClose = (evt: Event): void => { done(); reject((evt as Event & { error?: Error }).error ?? new WireError('stream closed')) }
    const onAbort = (): void => { done(); reject(signal?.reason) }
    stream.addEventListener('drain', onDrain)
    stream.addEventListener('close', onClose)
    signal?.addEventListener('abort', onAbort)
  })
}

export function encodeRequest (kind: RequestKind, cids: CID[]): Uint8Array {
  const parts: Uint8Array[] = [Uint8Array.of(kind)]
  for (const c of cids) parts.push(encodeVarint(c.bytes.byteLength), c.bytes)
  return Buffer.concat(parts)
}

export function decodeRequest (frame: Uint8Array): { kind: RequestKind, cids: CID[] } {
  const kind = frame[0]
  if (kind !== REQ_BLOCKS && kind !== REQ_HAVE) throw new WireError('unknown request kind')
  const out: CID[] = []
  let off = 1
  while (off < frame.length) {
    const v = decodeVarint(frame, off)
    if (v == null) throw new WireError('truncated CID length')
    const [len, used] = v
    off += used
    if (len === 0 || len > MAX_CID_BYTES || off + len > frame.length) throw new WireError('bad CID length')
    try {
      out.push(CID.decode(frame.subarray(off, off + len)))
    } catch {
      throw new WireError('malformed CID')
    }
    off += len
    if (out.length > MAX_CIDS_PER_REQUEST) throw new WireError('too many CIDs in one request')
  }
  return { kind, cids: out }
}

export function encodeBitmap (bits: boolean[]): Uint8Array {
  const out = new Uint8Array(1 + Math.ceil(bits.length / 8))
  out[0] = HAVE_LIST
  bits.forEach((b, i) => { if (b) out[1 + (i >> 3)] |= 1 << (i & 7) })
  return out
}

export function bitAt (bitmap: Uint8Array, i: number): boolean {
  return ((bitmap[i >> 3] ?? 0) & (1 << (i & 7))) !== 0
}
