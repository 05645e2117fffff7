/**
 * TFTP packet encoder and strict decoder.
 *
 * `decode()` either returns a well-formed packet or throws a `TftpCodecError`
 * subclass; it never reads outside the input and never throws anything else.
 * Option names are lower-cased (RFC 2347 makes them case-insensitive); the
 * mode is lower-cased too. Filenames must be valid UTF-8.
 */
import {
  OPCODE, MAX_BLKSIZE, MAX_PACKET_SIZE, MAX_REQUEST_SIZE, TRANSFER_MODES,
  type TransferMode
} from './constants.js'
import {
  InvalidFieldError, MalformedPacketError, PacketTooLargeError, TruncatedPacketError,
  UnknownOpcodeError, UnsupportedModeError
} from './errors.js'

export interface RequestPacket {
  type: 'RRQ' | 'WRQ'
  filename: string
  mode: TransferMode
  /** Lower-cased option name → value, in wire order. */
  options: ReadonlyMap<string, string>
}
export interface DataPacket { type: 'DATA', block: number, data: Uint8Array }
export interface AckPacket { type: 'ACK', block: number }
export interface ErrorPacket { type: 'ERROR', code: number, message: string }
export interface OackPacket { type: 'OACK', options: ReadonlyMap<string, string> }
export type TftpPacket = RequestPacket | DataPacket | AckPacket | ErrorPacket | OackPacket

const utf8Strict = new TextDecoder('utf-8', { fatal: true })
const utf8Lenient = new TextDecoder('utf-8', { fatal: false })
const utf8Encoder = new TextEncoder()

/** Split `buf[start..]` into NUL-terminated fields; the last byte must be NUL. */
function splitFields (buf: Uint8Array, start: number): Uint8Array[] {
  if (buf.length <= start) throw new TruncatedPacketError('missing NUL-terminated fields')
  if (buf[buf.length - 1] !== 0) throw new TruncatedPacketError('last field is not NUL-terminated')
  const fields: Uint8Array[] = []
  let from = start
  for (let i = start; i < buf.length; i++) {
    if (buf[i] === 0) {
      fields.push(buf.subarray(from, i))
      from = i + 1
    }
  }
  return fields
}

function isAsciiPrintable (bytes: Uint8Array): boolean {
  for (const b of bytes) if (b < 0x20 || b > 0x7e) return false
  return true
}

function asciiField (bytes: Uint8Array, what: string): string {
  if (!isAsciiPrintable(bytes)) throw new MalformedPacketError(`${what} is not printable ASCII`)
  return String.fromCharCode(...bytes)
}

function decodeOptions (fields: Uint8Array[]): Map<string, string> {
  if (fields.length % 2 !== 0) throw new MalformedPacketError('option without a value')
  const options = new Map<string, string>()
  for (let i = 0; i < fields.length; i += 2) {
    const nameBytes = fields[i] as Uint8Array
    if (nameBytes.length === 0) throw new MalformedPacketError('empty option name')
    const name = asciiField(nameBytes, 'option name').toLowerCase()
    const value = asciiField(fields[i + 1] as Uint8Array, 'option value')
    if (options.has(name)) throw new MalformedPacketError(`duplicate option "${name}"`)
    options.set(name, value)
  }
  return options
}

function decodeRequest (buf: Uint8Array, type: 'RRQ' | 'WRQ'): RequestPacket {
  if (buf.length > MAX_REQUEST_SIZE) throw new PacketTooLargeError(`request of ${buf.length} bytes exceeds ${MAX_REQUEST_SIZE}`)
  const fields = splitFields(buf, 2)
  if (fields.length < 2) throw new TruncatedPacketError('request needs a filename and a mode')
  const [nameBytes, modeBytes, ...rest] = fields as [Uint8Array, Uint8Array, ...Uint8Array[]]
  if (nameBytes.length === 0) throw new MalformedPacketError('empty filename')
  let filename: string
  try {
    filename = utf8Strict.decode(nameBytes)
  } catch {
    throw new MalformedPacketError('filename is not valid UTF-8')
  }
  const mode = asciiField(modeBytes, 'mode').toLowerCase()
  if (!(TRANSFER_MODES as readonly string[]).includes(mode)) throw new UnsupportedModeError(mode)
  return { type, filename, mode: mode as TransferMode, options: decodeOptions(rest) }
}

function readU16 (buf: Uint8Array, at: number): number {
  return ((buf[at] as number) << 8) | (buf[at + 1] as number)
}

/** Decode one datagram. Throws a `TftpCodecError` on any malformed input. */
export function decode (buf: Uint8Array): TftpPacket {
  if (buf.length < 2) throw new TruncatedPacketError('datagram shorter than an opcode')
  if (buf.length > MAX_PACKET_SIZE) throw new PacketTooLargeError(`datagram of ${buf.length} bytes exceeds ${MAX_PACKET_SIZE}`)
  const opcode = readU16(buf, 0)
  switch (opcode) {
    case OPCODE.RRQ: return decodeRequest(buf, 'RRQ')
    case OPCODE.WRQ: return decodeRequest(buf, 'WRQ')
    case OPCODE.DATA:
      if (buf.length < 4) throw new TruncatedPacketError('DATA without a block number')
      return { type: 'DATA', block: readU16(buf, 2), data: buf.subarray(4) }
    case OPCODE.ACK:
      if (buf.length < 4) throw new TruncatedPacketError('ACK without a block number')
      if (buf.length > 4) throw new PacketTooLargeError('ACK with trailing bytes')
      return { type: 'ACK', block: readU16(buf, 2) }
    case OPCODE.ERROR: {
      if (buf.length < 5) throw new TruncatedPacketError('ERROR without code and message')
      const fields = splitFields(buf, 4)
      if (fields.length !== 1) throw new MalformedPacketError('ERROR with bytes after the message')
      return { type: 'ERROR', code: readU16(buf, 2), message: utf8Lenient.decode(fields[0]) }
    }
    case OPCODE.OACK: {
      if (buf.length > MAX_REQUEST_SIZE) throw new PacketTooLargeError('OACK exceeds 512 bytes')
      const options = decodeOptions(splitFields(buf, 2))
      if (options.size === 0) throw new MalformedPacketError('OACK without options')
      return { type: 'OACK', options }
    }
    default:
      throw new UnknownOpcodeError(opcode)
  }
}

function checkU16 (n: number, what: string): void {
  if (!Number.isInteger(n) || n < 0 || n > 0xffff) throw new InvalidFieldError(`${what} ${n} is not a 16-bit unsigned integer`)
}

function stringField (s: string, what: string, ascii: boolean): Uint8Array {
  if (s.includes('\0')) throw new InvalidFieldError(`${what} contains NUL`)
  const bytes = utf8Encoder.encode(s)
  if (ascii && !isAsciiPrintable(bytes)) throw new InvalidFieldError(`${what} is not printable ASCII`)
  return bytes
}

function optionFields (options: ReadonlyMap<string, string>): Uint8Array[] {
  const out: Uint8Array[] = []
  for (const [name, value] of options) {
    if (name.length === 0) throw new InvalidFieldError('empty option name')
    out.push(stringField(name, 'option name', true), stringField(value, 'option value', true))
  }
  return out
}

function assemble (opcode: number, head: Uint8Array, fields: Uint8Array[]): Uint8Array {
  let size = 2 + head.length
  for (const f of fields) size += f.length + 1
  const out = new Uint8Array(size)
  out[0] = opcode >> 8
  out[1] = opcode & 0xff
  out.set(head, 2)
  let at = 2 + head.length
  for (const f of fields) {
    out.set(f, at)
    at += f.length + 1 // the byte after is already 0
  }
  return out
}

function u16 (n: number): Uint8Array {
  return Uint8Array.of(n >> 8, n & 0xff)
}

/** Encode one packet. Throws `InvalidFieldError` for values that do not fit the format. */
export function encode (packet: TftpPacket): Uint8Array {
  switch (packet.type) {
    case 'RRQ':
    case 'WRQ': {
      if (packet.filename.length === 0) throw new InvalidFieldError('empty filename')
      const out = assemble(packet.type === 'RRQ' ? OPCODE.RRQ : OPCODE.WRQ, new Uint8Array(0), [
        stringField(packet.filename, 'filename', false),
        stringField(packet.mode, 'mode', true),
        ...optionFields(packet.options)
      ])
      if (out.length > MAX_REQUEST_SIZE) throw new InvalidFieldError(`request of ${out.length} bytes exceeds ${MAX_REQUEST_SIZE}`)
      return out
    }
    case 'DATA': {
      checkU16(packet.block, 'block')
      if (packet.data.length > MAX_BLKSIZE) throw new InvalidFieldError(`DATA payload of ${packet.data.length} bytes exceeds ${MAX_BLKSIZE}`)
      const out = new Uint8Array(4 + packet.data.length)
      out[1] = OPCODE.DATA
      out[2] = packet.block >> 8
      out[3] = packet.block & 0xff
      out.set(packet.data, 4)
      return out
    }
    case 'ACK':
      checkU16(packet.block, 'block')
      return Uint8Array.of(0, OPCODE.ACK, packet.block >> 8, packet.block & 0xff)
    case 'ERROR':
      checkU16(packet.code, 'error code')
      return assemble(OPCODE.ERROR, u16(packet.code), [stringField(packet.message, 'message', false)])
    case 'OACK': {
      if (packet.options.size === 0) throw new InvalidFieldError('OACK without options')
      const out = assemble(OPCODE.OACK, new Uint8Array(0), optionFields(packet.options))
      if (out.length > MAX_REQUEST_SIZE) throw new InvalidFieldError('OACK exceeds 512 bytes')
      return out
    }
  }
}

