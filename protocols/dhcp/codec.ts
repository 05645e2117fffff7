/**
 * BOOTP/DHCP message codec (RFC 951, 2131, 2132, 3396).
 *
 * `decode` never reads past the datagram: every length is checked first and a malformed
 * message raises a `DhcpCodecError` subclass. `encode` builds a reply of at least 300 bytes
 * (the BOOTP minimum some PXE ROMs insist on).
 */
import { BadMagicCookieError, EncodeError, InvalidHeaderError, InvalidOptionError, PacketTooLargeError, TruncatedPacketError } from './errors.js'
import { bytesToIp, ipToBytes, ZERO_IP } from './ip.js'
import { ENCODE_ORDER, OPTION_CODECS, Opt, type DhcpOptions } from './options.js'

export const BOOTREQUEST = 1
export const BOOTREPLY = 2
export const BROADCAST_FLAG = 0x8000
/** Largest datagram we decode; DHCP over Ethernet stays far below. */
export const MAX_MESSAGE_BYTES = 4096
const HEADER_BYTES = 236
const MIN_BYTES = HEADER_BYTES + 4
const MIN_REPLY_BYTES = 300
const COOKIE = 0x63825363
const SNAME = { at: 44, len: 64 } as const
const FILE = { at: 108, len: 128 } as const

export interface DhcpMessage {
  op: number
  htype: number
  hlen: number
  hops: number
  xid: number
  secs: number
  flags: number
  ciaddr: string
  yiaddr: string
  siaddr: string
  giaddr: string
  /** the 16-byte chaddr field; the first `hlen` bytes are the hardware address */
  chaddr: Uint8Array
  sname: string
  file: string
  options: DhcpOptions
  /** every option as received, repeated codes concatenated (RFC 3396), unknown codes too */
  rawOptions: Map<number, Uint8Array>
}

export type DhcpMessageInit = Partial<Omit<DhcpMessage, 'rawOptions'>> & {
  op: number
  xid: number
  chaddr: Uint8Array
  /** options with no typed field, appended after the typed ones */
  extraOptions?: Array<[number, Uint8Array]>
}

function cString (b: Uint8Array): string {
  const end = b.indexOf(0)
  return Buffer.from(end === -1 ? b : b.subarray(0, end)).toString('latin1')
}

/** Walks one option area, appending into `raw`; returns true when it met option 255. */
function readOptionArea (b: Uint8Array, start: number, end: number, raw: Map<number, Uint8Array>): boolean {
  let i = start
  while (i < end) {
    const code = b[i] as number
    if (code === Opt.PAD) { i++; continue }
    if (code === Opt.END) return true
    if (i + 1 >= end) throw new TruncatedPacketError(`option ${code} has no length byte`)
    const len = b[i + 1] as number
    if (i + 2 + len > end) throw new TruncatedPacketError(`option ${code} (${len} bytes) runs past the end`)
    const value = b.subarray(i + 2, i + 2 + len)
    const prev = raw.get(code)
    raw.set(code, prev === undefined ? Uint8Array.from(value) : Buffer.concat([prev, value]))
    i += 2 + len
  }
  return false
}

export function decode (input: Uint8Array): DhcpMessage {
  if (input.length > MAX_MESSAGE_BYTES) throw new PacketTooLargeError(`${input.length} bytes exceeds ${MAX_MESSAGE_BYTES}`)
  if (input.length < MIN_BYTES) throw new TruncatedPacketError(`${input.length} bytes is shorter than the ${MIN_BYTES}-byte header`)
  const b = Buffer.from(input.buffer, input.byteOffset, input.length)
  const op = b[0] as number
  const hlen = b[2] as number
  if (op !== BOOTREQUEST && op !== BOOTREPLY) throw new InvalidHeaderError(`op ${op} is neither request nor reply`)
  if (hlen > 16) throw new InvalidHeaderError(`hlen ${hlen} exceeds 16`)
  if (b.readUInt32BE(HEADER_BYTES) !== COOKIE) throw new BadMagicCookieError('magic cookie is not 99.130.83.99')

  const raw = new Map<number, Uint8Array>()
  readOptionArea(b, MIN_BYTES, b.length, raw)
  // Option 52 lets a client spill options into the file and sname fields (RFC 2131 4.1).
  const overloadRaw = raw.get(Opt.OVERLOAD)
  let overload = 0
  if (overloadRaw !== undefined) {
    if (overloadRaw.length !== 1 || (overloadRaw[0] as number) < 1 || (overloadRaw[0] as number) > 3) {
      throw new InvalidOptionError(Opt.OVERLOAD, 'value must be one byte 1..3')
    }
    overload = overloadRaw[0] as number
    if ((overload & 1) !== 0) readOptionArea(b, FILE.at, FILE.at + FILE.len, raw)
    if ((overload & 2) !== 0) readOptionArea(b, SNAME.at, SNAME.at + SNAME.len, raw)
  }

  const options: DhcpOptions = {}
  for (const [code, value] of raw) {
    const codec = OPTION_CODECS.get(code)
    if (codec !== undefined) (options as Record<string, unknown>)[codec.key] = codec.decode(value, code)
  }

  return {
    op,
    htype: b[1] as number,
    hlen,
    hops: b[3] as number,
    xid: b.readUInt32BE(4),
    secs: b.readUInt16BE(8),
    flags: b.readUInt16BE(10),
    ciaddr: bytesToIp(b, 12),
    yiaddr: bytesToIp(b, 16),
    siaddr: bytesToIp(b, 20),
    giaddr: bytesToIp(b, 24),
    chaddr: Uint8Array.from(b.subarray(28, 44)),
    sname: (overload & 2) !== 0 ? '' : cString(b.subarray(SNAME.at, SNAME.at + SNAME.len)),
    file: (overload & 1) !== 0 ? '' : cString(b.subarray(FILE.at, FILE.at + FILE.len)),
    options,
    rawOptions: raw
  }
}

const HEX = Array.from({ length: 256 }, (_, i) => i.toString(16).padStart(2, '0'))

/** The hardware address as lower-case `aa:bb:…` (first `hlen` bytes of chaddr). */
export function hardwareAddress (m: Pick<DhcpMessage, 'chaddr' | 'hlen'>): string {
  const n = Math.min(m.hlen, 16, m.chaddr.length)
  let s = ''
  for (let i = 0; i < n; i++) s += (i === 0 ? '' : ':') + (HEX[m.chaddr[i] as number] as string)
  return s
}

function pushOption (parts: Uint8Array[], code: number, value: Uint8Array): void {
  // RFC 3396: a value longer than 255 bytes is split into consecutive instances.
  if (value.length === 0) { parts.push(Uint8Array.of(code, 0)); return }
  for (let i = 0; i < value.length; i += 255) {
    const chunk = value.subarray(i, i + 255)
    parts.push(Uint8Array.of(code, chunk.length), chunk)
  }
}

function fixedString (s: string | undefined, field: { len: number }, name: string): Uint8Array {
  const out = new Uint8Array(field.len)
  if (s === undefined || s === '') return out
  const bytes = Buffer.from(s, 'latin1')
  if (bytes.length >= field.len) throw new EncodeError(`${name} longer than ${field.len - 1} bytes`)
  out.set(bytes)
  return out
}

export function encode (m: DhcpMessageInit, maxBytes = 1500): Buffer {
  if (m.chaddr.length > 16) throw new EncodeError('chaddr longer than 16 bytes')
  const head = Buffer.alloc(MIN_BYTES)
  head[0] = m.op
  head[1] = m.htype ?? 1
  head[2] = m.hlen ?? Math.min(m.chaddr.length, 16)
  head[3] = m.hops ?? 0
  head.writeUInt32BE(m.xid >>> 0, 4)
  head.writeUInt16BE(m.secs ?? 0, 8)
  head.writeUInt16BE(m.flags ?? 0, 10)
  head.set(ipToBytes(m.ciaddr ?? ZERO_IP), 12)
  head.set(ipToBytes(m.yiaddr ?? ZERO_IP), 16)
  head.set(ipToBytes(m.siaddr ?? ZERO_IP), 20)
  head.set(ipToBytes(m.giaddr ?? ZERO_IP), 24)
  head.set(m.chaddr, 28)
  head.set(fixedString(m.sname, SNAME, 'sname'), SNAME.at)
  head.set(fixedString(m.file, FILE, 'file'), FILE.at)
  head.writeUInt32BE(COOKIE, HEADER_BYTES)

  const parts: Uint8Array[] = [head]
  const opts = (m.options ?? {}) as Record<string, unknown>
  for (const code of ENCODE_ORDER) {
    const codec = OPTION_CODECS.get(code)
    const value = codec === undefined ? undefined : opts[codec.key]
    if (codec !== undefined && value !== undefined) pushOption(parts, code, codec.encode(value, code))
  }
  for (const [code, value] of m.extraOptions ?? []) {
    if (code <= 0 || code >= 255) throw new EncodeError(`option code ${code} is reserved`)
    pushOption(parts, code, value)
  }
  parts.push(Uint8Array.of(Opt.END))
  let out = Buffer.concat(parts)
  if (out.length < MIN_REPLY_BYTES) out = Buffer.concat([out, Buffer.alloc(MIN_REPLY_BYTES - out.length)])
  if (out.length > maxBytes) throw new EncodeError(`message of ${out.length} bytes exceeds ${maxBytes}`)
  return out
}
