import { describe, expect, it } from 'vitest'
import {
  MAX_BLKSIZE, TftpCodecError, decode, encode, type TftpPacket
} from '../../../protocols/tftp/index.js'

const bytes = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, 'latin1'))

function codeOf (fn: () => unknown): string | undefined {
  try {
    fn()
  } catch (err) {
    expect(err).toBeInstanceOf(TftpCodecError)
    return (err as TftpCodecError).code
  }
  return undefined
}

describe('TFTP codec: well-formed packets', () => {
  const opts = new Map([['blksize', '1468'], ['tsize', '0'], ['windowsize', '8']])
  const samples: TftpPacket[] = [
    { type: 'RRQ', filename: 'pxelinux.0', mode: 'octet', options: new Map() },
    { type: 'RRQ', filename: 'boot/grub/x86_64-efi/core.efi', mode: 'netascii', options: opts },
    { type: 'WRQ', filename: 'up', mode: 'octet', options: new Map() },
    { type: 'DATA', block: 65535, data: Uint8Array.from([1, 2, 3]) },
    { type: 'DATA', block: 0, data: new Uint8Array(0) },
    { type: 'ACK', block: 4660 },
    { type: 'ERROR', code: 1, message: 'File not found' },
    { type: 'ERROR', code: 8, message: '' },
    { type: 'OACK', options: opts }
  ]

  it.each(samples.map(s => [s.type, s] as const))('round-trips %s', (_type, packet) => {
    expect(decode(encode(packet))).toEqual(packet)
  })

  it('decodes the exact wire layout of RFC 1350 and RFC 2347', () => {
    expect(encode({ type: 'ACK', block: 258 })).toEqual(Uint8Array.of(0, 4, 1, 2))
    expect(Buffer.from(encode({ type: 'RRQ', filename: 'a', mode: 'octet', options: new Map([['tsize', '0']]) })).toString('latin1'))
      .toBe('\x00\x01a\x00octet\x00tsize\x000\x00')
    expect(decode(bytes('\x00\x05\x00\x02denied\x00'))).toEqual({ type: 'ERROR', code: 2, message: 'denied' })
  })

  it('lower-cases mode and option names (they are case-insensitive) and keeps values', () => {
    const p = decode(bytes('\x00\x01File.BIN\x00OcTeT\x00BLKSIZE\x001468\x00TSize\x000\x00'))
    expect(p).toEqual({ type: 'RRQ', filename: 'File.BIN', mode: 'octet', options: new Map([['blksize', '1468'], ['tsize', '0']]) })
  })

  it('accepts the largest DATA block and a UTF-8 filename', () => {
    expect(decode(encode({ type: 'DATA', block: 1, data: new Uint8Array(MAX_BLKSIZE) }))).toMatchObject({ type: 'DATA', block: 1 })
    expect(decode(bytes('\x00\x01\xc3\xa9t\xc3\xa9\x00octet\x00'))).toMatchObject({ filename: 'été' })
  })
})

describe('TFTP codec: malformed input raises typed errors', () => {
  it.each([
    ['empty datagram', '', 'ERR_TFTP_TRUNCATED'],
    ['one byte', '\x00', 'ERR_TFTP_TRUNCATED'],
    ['opcode 0', '\x00\x00abc', 'ERR_TFTP_UNKNOWN_OPCODE'],
    ['opcode 7', '\x00\x07', 'ERR_TFTP_UNKNOWN_OPCODE'],
    ['opcode 0xffff', '\xff\xff\x00\x00', 'ERR_TFTP_UNKNOWN_OPCODE'],
    ['RRQ with nothing', '\x00\x01', 'ERR_TFTP_TRUNCATED'],
    ['RRQ without terminator', '\x00\x01file\x00octet', 'ERR_TFTP_TRUNCATED'],
    ['RRQ without mode', '\x00\x01file\x00', 'ERR_TFTP_TRUNCATED'],
    ['RRQ with empty filename', '\x00\x01\x00octet\x00', 'ERR_TFTP_MALFORMED'],
    ['RRQ with invalid UTF-8 filename', '\x00\x01\xff\xfe\x00octet\x00', 'ERR_TFTP_MALFORMED'],
    ['RRQ with unknown mode', '\x00\x01f\x00binary\x00', 'ERR_TFTP_UNSUPPORTED_MODE'],
    ['RRQ with non-ASCII mode', '\x00\x01f\x00oct\xe9t\x00', 'ERR_TFTP_MALFORMED'],
    ['RRQ with an option but no value', '\x00\x01f\x00octet\x00blksize\x00', 'ERR_TFTP_MALFORMED'],
    ['RRQ with an empty option name', '\x00\x01f\x00octet\x00\x001\x00', 'ERR_TFTP_MALFORMED'],
    ['RRQ with a duplicate option (any case)', '\x00\x01f\x00octet\x00blksize\x00512\x00BLKSIZE\x001024\x00', 'ERR_TFTP_MALFORMED'],
    ['RRQ with a control character in an option value', '\x00\x01f\x00octet\x00blksize\x005\x0112\x00', 'ERR_TFTP_MALFORMED'],
    ['DATA without block number', '\x00\x03\x00', 'ERR_TFTP_TRUNCATED'],
    ['ACK without block number', '\x00\x04\x01', 'ERR_TFTP_TRUNCATED'],
    ['ACK with trailing bytes', '\x00\x04\x00\x01\x00', 'ERR_TFTP_PACKET_TOO_LARGE'],
    ['ERROR without message', '\x00\x05\x00\x01', 'ERR_TFTP_TRUNCATED'],
    ['ERROR without terminator', '\x00\x05\x00\x01oops', 'ERR_TFTP_TRUNCATED'],
    ['ERROR with bytes after the message', '\x00\x05\x00\x01oops\x00x\x00', 'ERR_TFTP_MALFORMED'],
    ['OACK without options', '\x00\x06', 'ERR_TFTP_TRUNCATED'],
    ['OACK with an odd field count', '\x00\x06blksize\x00', 'ERR_TFTP_MALFORMED']
  ])('%s', (_what, wire, code) => {
    expect(codeOf(() => decode(bytes(wire)))).toBe(code)
  })

  it('refuses requests over 512 bytes (RFC 2347) and datagrams over 4 + 65464 bytes', () => {
    const longName = 'x'.repeat(520)
    expect(codeOf(() => decode(bytes(`\x00\x01${longName}\x00octet\x00`)))).toBe('ERR_TFTP_PACKET_TOO_LARGE')
    expect(codeOf(() => decode(new Uint8Array(4 + MAX_BLKSIZE + 1).fill(3, 1, 2)))).toBe('ERR_TFTP_PACKET_TOO_LARGE')
  })

  it('decodes every prefix of a packet to a typed error or to exactly what the prefix holds', () => {
    const packets = [
      encode({ type: 'RRQ', filename: 'pxelinux.cfg/default', mode: 'octet', options: new Map([['blksize', '1468'], ['tsize', '0']]) }),
      encode({ type: 'OACK', options: new Map([['blksize', '1468'], ['tsize', '123456']]) }),
      encode({ type: 'ERROR', code: 1, message: 'File not found' })
    ]
    for (const p of packets) {
      for (let n = 0; n < p.length; n++) {
        // a prefix may end on a NUL and still be well-formed only if it holds complete pairs;
        // what matters is: never anything but a TftpCodecError, and never the full packet back
        let decoded: TftpPacket | undefined
        try { decoded = decode(p.subarray(0, n)) } catch (err) { expect(err).toBeInstanceOf(TftpCodecError) }
        if (decoded !== undefined) expect(encode(decoded).length).toBe(n)
      }
    }
  })

  it('never throws anything but a TftpCodecError on 200,000 random and mutated datagrams', () => {
    let seed = 12345
    const rand = (): number => { seed = (seed * 1103515245 + 12345) & 0x7fffffff; return seed / 0x80000000 }
    const valid = [
      encode({ type: 'RRQ', filename: 'a/b', mode: 'octet', options: new Map([['blksize', '8'], ['windowsize', '4']]) }),
      encode({ type: 'OACK', options: new Map([['tsize', '99']]) }),
      encode({ type: 'ERROR', code: 4, message: 'illegal' }),
      encode({ type: 'ACK', block: 9 })
    ]
    let decoded = 0
    for (let i = 0; i < 200_000; i++) {
      let buf: Uint8Array
      if (i % 2 === 0) {
        buf = Uint8Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))
        if (buf.length >= 2 && rand() < 0.7) { buf[0] = 0; buf[1] = 1 + Math.floor(rand() * 6) }
      } else {
        const base = valid[i % valid.length] as Uint8Array
        buf = Uint8Array.from(base.subarray(0, 1 + Math.floor(rand() * base.length)))
        buf[Math.floor(rand() * buf.length)] = Math.floor(rand() * 256)
      }
      try {
        decode(buf)
        decoded++
      } catch (err) {
        if (!(err instanceof TftpCodecError)) throw err
      }
    }
    expect(decoded).toBeGreaterThan(1000) // the generator does hit valid packets too
  })
})

describe('TFTP codec: encoding refuses what cannot go on the wire', () => {
  it.each([
    ['a block number above 65535', { type: 'ACK', block: 65536 }],
    ['a negative block number', { type: 'DATA', block: -1, data: new Uint8Array(1) }],
    ['a fractional block number', { type: 'ACK', block: 1.5 }],
    ['an oversized DATA payload', { type: 'DATA', block: 1, data: new Uint8Array(MAX_BLKSIZE + 1) }],
    ['a NUL in the filename', { type: 'RRQ', filename: 'a\0b', mode: 'octet', options: new Map() }],
    ['an empty filename', { type: 'RRQ', filename: '', mode: 'octet', options: new Map() }],
    ['a request over 512 bytes', { type: 'RRQ', filename: 'x'.repeat(600), mode: 'octet', options: new Map() }],
    ['a non-ASCII option value', { type: 'OACK', options: new Map([['blksize', '5é']]) }],
    ['an OACK without options', { type: 'OACK', options: new Map() }],
    ['an error code above 65535', { type: 'ERROR', code: 70000, message: '' }]
  ] as Array<[string, TftpPacket]>)('%s', (_what, packet) => {
    expect(codeOf(() => encode(packet))).toBe('ERR_TFTP_INVALID_FIELD')
  })
})
