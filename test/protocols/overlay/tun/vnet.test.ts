import { describe, expect, it } from 'vitest'
import {
  addVnetHdr, GSO_NONE, GSO_TCPV4, GSO_TCPV6, ipOf, parseVnetHdr, toPlainPackets, VNET_F_NEEDS_CSUM, VNET_HDR_LEN, writeVnetHdr, type VnetHdr
} from '../../../../protocols/overlay/tun/index.js'

/** One's-complement sum over 16-bit words, folded (independent of the module's own). */
function csum (...parts: Uint8Array[]): number {
  const all = Buffer.concat(parts)
  let s = 0
  for (let i = 0; i < all.length; i += 2) s += (all[i] as number) * 256 + (all[i + 1] ?? 0)
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return s
}

function pseudo (ip: Buffer, v6: boolean, proto: number, len: number): Buffer {
  const p = Buffer.alloc(v6 ? 40 : 12)
  if (v6) { ip.copy(p, 0, 8, 40); p.writeUInt32BE(len, 32); p[39] = proto } else { ip.copy(p, 0, 12, 20); p[9] = proto; p.writeUInt16BE(len, 10) }
  return p
}

function payload (n: number): Buffer {
  const b = Buffer.alloc(n)
  for (let i = 0; i < n; i++) b[i] = (i * 7 + 3) & 0xff
  return b
}

/** A TCP super-packet as the kernel hands it over with TSO: lengths for the whole, checksum partial. */
function superPacket (v6: boolean, data: Buffer, mss: number, flags = 0x18 | 0x80 | 0x01): Buffer {
  const l4 = v6 ? 40 : 20
  const ip = Buffer.alloc(l4 + 20 + data.length)
  if (v6) {
    ip[0] = 0x60; ip.writeUInt16BE(20 + data.length, 4); ip[6] = 6; ip[7] = 64
    ip.writeUInt16BE(0xfd63, 8); ip[23] = 1; ip.writeUInt16BE(0xfd63, 24); ip[39] = 2
  } else {
    ip[0] = 0x45; ip.writeUInt16BE(ip.length, 2); ip.writeUInt16BE(0xfffe, 4); ip[8] = 64; ip[9] = 6
    ip.set([10, 99, 0, 1], 12); ip.set([10, 99, 0, 2], 16)
  }
  ip.writeUInt16BE(40000, l4); ip.writeUInt16BE(5201, l4 + 2)
  ip.writeUInt32BE(0xffffff00, l4 + 4) // sequence numbers wrap inside this packet
  ip.writeUInt32BE(77, l4 + 8)
  ip[l4 + 12] = 5 << 4; ip[l4 + 13] = flags; ip.writeUInt16BE(502, l4 + 14)
  data.copy(ip, l4 + 20)
  ip.writeUInt16BE(csum(pseudo(ip, v6, 6, 20 + data.length)), l4 + 16) // partial: pseudo-header only
  const hdr: VnetHdr = { flags: VNET_F_NEEDS_CSUM, gsoType: v6 ? GSO_TCPV6 : GSO_TCPV4, hdrLen: l4 + 20, gsoSize: mss, csumStart: l4, csumOffset: 16 }
  const pkt = Buffer.alloc(VNET_HDR_LEN + ip.length)
  writeVnetHdr(hdr, pkt)
  ip.copy(pkt, VNET_HDR_LEN)
  return pkt
}

describe('virtio_net_hdr', () => {
  it('round-trips through writeVnetHdr / parseVnetHdr', () => {
    const hdr: VnetHdr = { flags: 1, gsoType: GSO_TCPV6, hdrLen: 60, gsoSize: 1348, csumStart: 40, csumOffset: 16 }
    const b = Buffer.alloc(VNET_HDR_LEN)
    writeVnetHdr(hdr, b)
    expect(parseVnetHdr(b)).toEqual(hdr)
    expect(() => parseVnetHdr(Buffer.alloc(4))).toThrow(RangeError)
  })

  it('addVnetHdr puts an all-zero header in front; ipOf takes it off', () => {
    const ip = Buffer.from('45000014', 'hex')
    const p = addVnetHdr(ip)
    expect(parseVnetHdr(p)).toEqual({ flags: 0, gsoType: GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 0, csumOffset: 0 })
    expect(ipOf(p).equals(ip)).toBe(true)
  })
})

for (const v6 of [false, true]) {
  describe(`toPlainPackets, TCP over IPv${v6 ? 6 : 4}`, () => {
    const l4 = v6 ? 40 : 20
    const data = payload(3500)
    const segs = toPlainPackets(superPacket(v6, data, 1000))

    it('cuts the super-packet into gsoSize segments carrying the payload in order', () => {
      expect(segs.map(s => s.length - l4 - 20)).toEqual([1000, 1000, 1000, 500])
      expect(Buffer.concat(segs.map(s => s.subarray(l4 + 20))).equals(data)).toBe(true)
    })

    it('advances sequence numbers (wrapping at 2^32) and keeps the ack', () => {
      expect(segs.map(s => s.readUInt32BE(l4 + 4))).toEqual([0xffffff00, (0xffffff00 + 1000) >>> 0, (0xffffff00 + 2000) >>> 0, (0xffffff00 + 3000) >>> 0])
      for (const s of segs) expect(s.readUInt32BE(l4 + 8)).toBe(77)
    })

    it('puts CWR on the first segment only and PSH/FIN on the last only', () => {
      expect(segs.map(s => s[l4 + 13])).toEqual([0x90, 0x10, 0x10, 0x19])
    })

    it('fixes lengths, IPv4 ids and header checksums, and completes every TCP checksum', () => {
      for (const [i, s] of segs.entries()) {
        if (v6) expect(s.readUInt16BE(4)).toBe(s.length - 40)
        else {
          expect(s.readUInt16BE(2)).toBe(s.length)
          expect(s.readUInt16BE(4)).toBe((0xfffe + i) & 0xffff)
          expect(csum(s.subarray(0, 20))).toBe(0xffff)
        }
        expect(csum(pseudo(s, v6, 6, s.length - l4), s.subarray(l4))).toBe(0xffff)
      }
    })
  })
}

describe('toPlainPackets without GSO', () => {
  it('completes a partial UDP checksum and drops the header', () => {
    const ip = Buffer.alloc(20 + 8 + 33)
    ip[0] = 0x45; ip.writeUInt16BE(ip.length, 2); ip[8] = 64; ip[9] = 17
    ip.set([10, 1, 0, 1], 12); ip.set([10, 1, 0, 2], 16)
    ip.writeUInt16BE(53, 20); ip.writeUInt16BE(5353, 22); ip.writeUInt16BE(41, 24)
    payload(33).copy(ip, 28)
    ip.writeUInt16BE(csum(pseudo(ip, false, 17, 41)), 26)
    const pkt = Buffer.concat([Buffer.alloc(VNET_HDR_LEN), ip])
    writeVnetHdr({ flags: VNET_F_NEEDS_CSUM, gsoType: GSO_NONE, hdrLen: 0, gsoSize: 0, csumStart: 20, csumOffset: 6 }, pkt)
    const [out, ...rest] = toPlainPackets(pkt)
    expect(rest).toEqual([])
    expect(out?.length).toBe(ip.length)
    expect(csum(pseudo(out as Buffer, false, 17, 41), (out as Buffer).subarray(20))).toBe(0xffff)
  })

  it('passes a packet with complete checksums through unchanged', () => {
    const ip = Buffer.from('4500001c000000004001f9c30a0000010a0000020800f7ff00000000', 'hex')
    expect(toPlainPackets(addVnetHdr(ip))[0]?.equals(ip)).toBe(true)
  })
})
