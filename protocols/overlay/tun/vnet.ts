/**
 * The virtio_net_hdr that precedes every packet on a TUN opened with IFF_VNET_HDR, and the
 * conversions the overlay needs when only one end speaks it.
 *
 * With TSO on, the kernel hands over TCP "super-packets" of up to 64 KiB with
 * `gsoType`/`gsoSize` set and the TCP checksum left partial (`flags & NEEDS_CSUM`). Written
 * as they are into another TUN opened with IFF_VNET_HDR, the receiving kernel takes them
 * whole — the cheap path. A receiver without the header needs `toPlainPackets()`, which cuts
 * the super-packet into MTU-sized segments and finishes the checksums.
 */

/** Bytes of `struct virtio_net_hdr` (no mergeable-buffers field: TUNSETVNETHDRSZ is 10). */
export const VNET_HDR_LEN = 10

export const VNET_F_NEEDS_CSUM = 1
export const VNET_F_DATA_VALID = 2

export const GSO_NONE = 0
export const GSO_TCPV4 = 1
export const GSO_UDP = 3
export const GSO_TCPV6 = 4
export const GSO_ECN = 0x80

export interface VnetHdr {
  flags: number
  /** GSO_NONE, GSO_TCPV4 or GSO_TCPV6, possibly with GSO_ECN. */
  gsoType: number
  /** Length of the IP + TCP headers (a hint). */
  hdrLen: number
  /** Payload bytes per segment (the MSS). */
  gsoSize: number
  /** Where the partial checksum starts, counted from the IP header. */
  csumStart: number
  /** Where the checksum goes, counted from `csumStart`. */
  csumOffset: number
}

/** Reads the header at the start of `pkt` (fields are little-endian on every host we run on). */
export function parseVnetHdr (pkt: Uint8Array): VnetHdr {
  if (pkt.length < VNET_HDR_LEN) throw new RangeError(`packet of ${pkt.length} bytes has no virtio_net_hdr`)
  const v = new DataView(pkt.buffer, pkt.byteOffset, VNET_HDR_LEN)
  return {
    flags: v.getUint8(0),
    gsoType: v.getUint8(1),
    hdrLen: v.getUint16(2, true),
    gsoSize: v.getUint16(4, true),
    csumStart: v.getUint16(6, true),
    csumOffset: v.getUint16(8, true)
  }
}

/** Encodes `hdr` into the first 10 bytes of `target`. */
export function writeVnetHdr (hdr: VnetHdr, target: Uint8Array): void {
  const v = new DataView(target.buffer, target.byteOffset, VNET_HDR_LEN)
  v.setUint8(0, hdr.flags)
  v.setUint8(1, hdr.gsoType)
  v.setUint16(2, hdr.hdrLen, true)
  v.setUint16(4, hdr.gsoSize, true)
  v.setUint16(6, hdr.csumStart, true)
  v.setUint16(8, hdr.csumOffset, true)
}

/** A plain IP packet with an all-zero header in front (no offload, checksums complete). */
export function addVnetHdr (ip: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(VNET_HDR_LEN + ip.length)
  out.fill(0, 0, VNET_HDR_LEN)
  out.set(ip, VNET_HDR_LEN)
  return out
}

/** The IP packet behind the header (a view, no copy). */
export function ipOf (pkt: Buffer): Buffer {
  return pkt.subarray(VNET_HDR_LEN)
}

/** 16-bit one's-complement sum of `buf[start, end)`, added to `sum` (not folded). */
function sum16 (buf: Uint8Array, start: number, end: number, sum = 0): number {
  let i = start
  for (; i + 1 < end; i += 2) sum += ((buf[i] as number) << 8) | (buf[i + 1] as number)
  if (i < end) sum += (buf[i] as number) << 8
  return sum
}

function fold (sum: number): number {
  while (sum > 0xffff) sum = (sum & 0xffff) + Math.floor(sum / 0x10000)
  return sum
}

function ipv4HeaderChecksum (ip: Buffer, ihl: number): void {
  ip.writeUInt16BE(0, 10)
  ip.writeUInt16BE(~fold(sum16(ip, 0, ihl)) & 0xffff, 10)
}

/** Full TCP checksum of the segment at `ip[l4, end)` with the IPv4 or IPv6 pseudo-header. */
function tcpChecksum (ip: Buffer, l4: number, v6: boolean): void {
  const len = ip.length - l4
  ip.writeUInt16BE(0, l4 + 16)
  let s = v6 ? sum16(ip, 8, 40) : sum16(ip, 12, 20)
  s += 6 + len
  s = sum16(ip, l4, ip.length, s)
  ip.writeUInt16BE(~fold(s) & 0xffff, l4 + 16)
}

/**
 * Turns one packet read with a virtio_net_hdr into plain IP packets a TUN without
 * IFF_VNET_HDR (or any other IP consumer) accepts: completes a partial checksum, and cuts a
 * TCP super-packet into segments of `gsoSize` payload bytes (sequence numbers, IPv4 ids,
 * lengths, flags and checksums fixed up as the kernel's own GSO does).
 * Packets of a kind it does not know (UDP fragmentation offload) are returned without header.
 */
export function toPlainPackets (pkt: Buffer): Buffer[] {
  const hdr = parseVnetHdr(pkt)
  const ip = pkt.subarray(VNET_HDR_LEN)
  const gso = hdr.gsoType & ~GSO_ECN
  if (gso === GSO_TCPV4 || gso === GSO_TCPV6) return segmentTcp(ip, hdr.gsoSize, gso === GSO_TCPV6)
  const out = Buffer.from(ip)
  if ((hdr.flags & VNET_F_NEEDS_CSUM) !== 0) {
    const at = hdr.csumStart + hdr.csumOffset
    if (at + 2 <= out.length && hdr.csumStart < out.length) {
      out.writeUInt16BE(~fold(sum16(out, hdr.csumStart, out.length)) & 0xffff, at)
    }
  }
  return [out]
}

function segmentTcp (ip: Buffer, mss: number, v6: boolean): Buffer[] {
  const l4 = v6 ? 40 : ((ip[0] as number) & 0x0f) * 4
  const tcpLen = ((ip[l4 + 12] as number) >> 4) * 4
  const headers = l4 + tcpLen
  const payload = ip.length - headers
  if (mss <= 0 || payload <= 0) {
    const one = Buffer.from(ip)
    tcpChecksum(one, l4, v6)
    if (!v6) ipv4HeaderChecksum(one, l4)
    return [one]
  }
  const count = Math.ceil(payload / mss)
  const seq0 = ip.readUInt32BE(l4 + 4)
  const id0 = v6 ? 0 : ip.readUInt16BE(4)
  const flags = ip[l4 + 13] as number
  const out: Buffer[] = []
  for (let i = 0; i < count; i++) {
    const from = headers + i * mss
    const to = Math.min(from + mss, ip.length)
    const seg = Buffer.allocUnsafe(headers + (to - from))
    ip.copy(seg, 0, 0, headers)
    ip.copy(seg, headers, from, to)
    seg.writeUInt32BE((seq0 + i * mss) >>> 0, l4 + 4)
    let f = flags
    if (i > 0) f &= ~0x80 // CWR only on the first segment
    if (i < count - 1) f &= ~0x09 // FIN and PSH only on the last
    seg[l4 + 13] = f
    if (v6) {
      seg.writeUInt16BE(seg.length - 40, 4)
    } else {
      seg.writeUInt16BE(seg.length, 2)
      seg.writeUInt16BE((id0 + i) & 0xffff, 4)
      ipv4HeaderChecksum(seg, l4)
    }
    tcpChecksum(seg, l4, v6)
    out.push(seg)
  }
  return out
}
