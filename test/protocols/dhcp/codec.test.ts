import { describe, expect, it } from 'vitest'
import {
  BOOTREQUEST, DhcpCodecError, MessageType, Opt, decode, decodePxeVendorOptions, encode, encodePxeVendorOptions, hardwareAddress,
  type DhcpMessageInit
} from '../../../protocols/dhcp/index.js'

const MAC = Uint8Array.from([0x52, 0x54, 0x00, 0x12, 0x34, 0x56])

function pxeDiscover (): DhcpMessageInit {
  return {
    op: BOOTREQUEST,
    xid: 0xdeadbeef,
    flags: 0x8000,
    chaddr: MAC,
    options: {
      messageType: MessageType.DISCOVER,
      paramRequestList: [1, 3, 6, 43, 60, 66, 67, 175, 203],
      maxMessageSize: 1472,
      vendorClassId: 'PXEClient:Arch:00007:UNDI:003016',
      clientArch: [7],
      clientNdi: { type: 1, major: 3, minor: 16 },
      clientUuid: '01234567-89ab-cdef-0123-456789abcdef',
      userClass: ['iPXE'],
      hostname: 'node1',
      requestedIp: '10.0.0.5'
    },
    extraOptions: [[175, Uint8Array.from([1, 1, 1])]]
  }
}

/** Asserts `fn` throws a codec error with `code` (and nothing else). */
function expectCode (fn: () => unknown, code: string): void {
  let caught: unknown
  try { fn() } catch (err) { caught = err }
  expect(caught, 'expected a throw').toBeInstanceOf(DhcpCodecError)
  expect((caught as DhcpCodecError).code).toBe(code)
}

/** Offset of the first option after the magic cookie. */
const OPTIONS_AT = 240

describe('DHCP codec', () => {
  it('round-trips a PXE DISCOVER with typed and unknown options', () => {
    const bytes = encode(pxeDiscover())
    const m = decode(bytes)
    expect(m.op).toBe(BOOTREQUEST)
    expect(m.xid).toBe(0xdeadbeef)
    expect(m.flags).toBe(0x8000)
    expect(hardwareAddress(m)).toBe('52:54:00:12:34:56')
    expect(m.options).toMatchObject({
      messageType: 1,
      paramRequestList: [1, 3, 6, 43, 60, 66, 67, 175, 203],
      maxMessageSize: 1472,
      vendorClassId: 'PXEClient:Arch:00007:UNDI:003016',
      clientArch: [7],
      clientNdi: { type: 1, major: 3, minor: 16 },
      clientUuid: '01234567-89ab-cdef-0123-456789abcdef',
      userClass: ['iPXE'],
      hostname: 'node1',
      requestedIp: '10.0.0.5'
    })
    expect([...(m.rawOptions.get(175) ?? [])]).toEqual([1, 1, 1])
  })

  it('puts option 53 first and pads replies to the 300-byte BOOTP minimum', () => {
    const bytes = encode({ op: 2, xid: 1, chaddr: MAC, options: { serverId: '10.0.0.1', messageType: MessageType.OFFER } })
    expect(bytes.length).toBe(300)
    expect([...bytes.subarray(OPTIONS_AT, OPTIONS_AT + 3)]).toEqual([53, 1, 2])
    expect([...bytes.subarray(OPTIONS_AT + 3, OPTIONS_AT + 5)]).toEqual([54, 4])
  })

  it('reads iPXE\'s bare user-class string and RFC 3004 instance lists', () => {
    const raw = (value: number[]): Uint8Array => {
      const b = encode({ op: 1, xid: 1, chaddr: MAC, options: { messageType: 1 }, extraOptions: [[99, Uint8Array.of(0)]] })
      const i = b.indexOf(99, OPTIONS_AT)
      return Buffer.concat([b.subarray(0, i), Uint8Array.of(77, value.length, ...value), Uint8Array.of(255)])
    }
    expect(decode(raw([...Buffer.from('iPXE')])).options.userClass).toEqual(['iPXE'])
    expect(decode(raw([4, ...Buffer.from('iPXE'), 3, ...Buffer.from('foo')])).options.userClass).toEqual(['iPXE', 'foo'])
  })

  it('splits options longer than 255 bytes and joins them on decode (RFC 3396)', () => {
    const long = new Uint8Array(600).map((_, i) => i & 0xff)
    const bytes = encode({ op: 1, xid: 2, chaddr: MAC, options: { messageType: 1 }, extraOptions: [[224, long]] })
    expect([...decode(bytes).rawOptions.get(224) ?? []]).toEqual([...long])
  })

  it('reads options spilled into the file and sname fields (option 52)', () => {
    const b = encode({ op: 1, xid: 3, chaddr: MAC, options: { messageType: 1 }, extraOptions: [[52, Uint8Array.of(3)]] })
    b.set([12, 4, ...Buffer.from('host'), 255], 108) // file field
    b.set([60, 3, ...Buffer.from('abc'), 255], 44) // sname field
    const m = decode(b)
    expect(m.options.hostname).toBe('host')
    expect(m.options.vendorClassId).toBe('abc')
    expect(m.file).toBe('')
  })

  it('rejects every truncation of a valid packet with a typed error, never a crash', () => {
    const bytes = encode(pxeDiscover())
    const end = bytes.indexOf(255, OPTIONS_AT + 1)
    for (let len = 0; len < end; len++) {
      const cut = bytes.subarray(0, len)
      if (len < OPTIONS_AT) { expectCode(() => decode(cut), 'ERR_DHCP_TRUNCATED'); continue }
      try { decode(cut) } catch (err) {
        expect(err).toBeInstanceOf(DhcpCodecError)
        expect((err as DhcpCodecError).code).toBe('ERR_DHCP_TRUNCATED')
      }
    }
  })

  it('rejects an option whose length runs past the datagram', () => {
    const b = Buffer.concat([encode(pxeDiscover()).subarray(0, OPTIONS_AT), Uint8Array.of(53, 1, 1, 12, 200, 65, 66)])
    expectCode(() => decode(b), 'ERR_DHCP_TRUNCATED')
    expectCode(() => decode(Buffer.concat([b.subarray(0, OPTIONS_AT), Uint8Array.of(53)])), 'ERR_DHCP_TRUNCATED')
  })

  it('rejects tampered headers', () => {
    const good = encode(pxeDiscover())
    const tamper = (at: number, v: number): Buffer => { const b = Buffer.from(good); b[at] = v; return b }
    expectCode(() => decode(tamper(0, 3)), 'ERR_DHCP_INVALID_HEADER')
    expectCode(() => decode(tamper(2, 17)), 'ERR_DHCP_INVALID_HEADER')
    expectCode(() => decode(tamper(237, 0)), 'ERR_DHCP_BAD_COOKIE')
    expectCode(() => decode(Buffer.alloc(5000, 1)), 'ERR_DHCP_TOO_LARGE')
  })

  it('rejects known options with impossible lengths', () => {
    const head = encode(pxeDiscover()).subarray(0, OPTIONS_AT)
    const with_ = (...opt: number[]): Buffer => Buffer.concat([head, Uint8Array.of(...opt, 255)])
    expectCode(() => decode(with_(53, 2, 1, 1)), 'ERR_DHCP_INVALID_OPTION')
    expectCode(() => decode(with_(54, 3, 10, 0, 0)), 'ERR_DHCP_INVALID_OPTION')
    expectCode(() => decode(with_(93, 3, 0, 7, 0)), 'ERR_DHCP_INVALID_OPTION')
    expectCode(() => decode(with_(97, 2, 0, 1)), 'ERR_DHCP_INVALID_OPTION')
    expectCode(() => decode(with_(3, 5, 1, 2, 3, 4, 5)), 'ERR_DHCP_INVALID_OPTION')
    expectCode(() => decode(with_(82, 3, 1, 5, 0)), 'ERR_DHCP_INVALID_OPTION')
    expectCode(() => decode(with_(52, 1, 9)), 'ERR_DHCP_INVALID_OPTION')
    expect(decode(with_(Opt.MESSAGE_TYPE, 1, 3)).options.messageType).toBe(3)
  })

  it('decodes relay agent information sub-options', () => {
    const head = encode(pxeDiscover()).subarray(0, OPTIONS_AT)
    const m = decode(Buffer.concat([head, Uint8Array.of(82, 8, 1, 2, 0xaa, 0xbb, 2, 2, 0xcc, 0xdd, 255)]))
    expect([...m.options.relayAgentInfo?.circuitId ?? []]).toEqual([0xaa, 0xbb])
    expect([...m.options.relayAgentInfo?.remoteId ?? []]).toEqual([0xcc, 0xdd])
  })

  it('encodes and decodes PXE vendor options (43) and rejects a truncated boot menu', () => {
    const pxe = { discoveryControl: 8, bootMenu: [{ type: 0x8000, description: 'ctpf' }], menuPrompt: { timeout: 0, prompt: 'ctpf' }, bootItem: { type: 0x8000, layer: 0 } }
    const bytes = encodePxeVendorOptions(pxe)
    expect(decodePxeVendorOptions(bytes)).toEqual(pxe)
    expectCode(() => decodePxeVendorOptions(Uint8Array.of(9, 4, 0x80, 0, 9, 65)), 'ERR_DHCP_INVALID_OPTION')
    expectCode(() => decodePxeVendorOptions(Uint8Array.of(6, 5, 8)), 'ERR_DHCP_INVALID_OPTION')
  })

  it('refuses to encode what the wire cannot carry', () => {
    expectCode(() => encode({ op: 2, xid: 1, chaddr: MAC, yiaddr: '10.0.0.256' }), 'ERR_DHCP_ENCODE')
    expectCode(() => encode({ op: 2, xid: 1, chaddr: MAC, file: 'x'.repeat(128) }), 'ERR_DHCP_ENCODE')
    expectCode(() => encode({ op: 2, xid: 1, chaddr: new Uint8Array(17) }), 'ERR_DHCP_ENCODE')
    expectCode(() => encode({ op: 2, xid: 1, chaddr: MAC, extraOptions: [[255, Uint8Array.of(1)]] }), 'ERR_DHCP_ENCODE')
    expectCode(() => encode({ op: 2, xid: 1, chaddr: MAC, options: { clientUuid: 'nope' } }), 'ERR_DHCP_INVALID_OPTION')
  })
})

describe('IPv4 helpers', () => {
  it('parse exactly the dotted quads and nothing else', async () => {
    const { ipToInt, intToIp } = await import('../../../protocols/dhcp/index.js')
    expect(ipToInt('0.0.0.0')).toBe(0)
    expect(ipToInt('255.255.255.255')).toBe(0xffffffff)
    expect(intToIp(ipToInt('10.1.200.7'))).toBe('10.1.200.7')
    for (const bad of ['', '1.2.3', '1.2.3.4.5', '1..2.3', '.1.2.3', '1.2.3.', '256.1.1.1', '1.2.3.4 ', '1.2.3.0004', 'a.b.c.d', '1.2.3.-4']) {
      expectCode(() => ipToInt(bad), 'ERR_DHCP_ENCODE')
    }
  })
})
