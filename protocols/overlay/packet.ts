/**
 * Just enough IP parsing for routing and the firewall: version, addresses, protocol and
 * ports (or the ICMP echo id) of an IPv4 or IPv6 packet. Packets are plain IP (the overlay
 * strips the virtio header before it looks). Extension headers of IPv6 are not walked: the
 * first next-header is the protocol.
 */

export const PROTO_ICMP = 1
export const PROTO_TCP = 6
export const PROTO_UDP = 17
export const PROTO_ICMPV6 = 58

export interface PacketInfo {
  version: 4 | 6
  /** v4: unsigned 32-bit integer; v6: the 16 bytes as hex. */
  src: number | string
  dst: number | string
  proto: number
  /** TCP/UDP ports; for ICMP echo, the id as both (so replies match their request). */
  sport: number
  dport: number
  /** ICMP/ICMPv6 type, -1 otherwise. */
  icmpType: number
  /** TCP flags byte, 0 otherwise. */
  tcpFlags: number
}

/** Parses the headers of an IP packet; undefined when it is too short or not IP. */
export function parsePacket (ip: Uint8Array): PacketInfo | undefined {
  if (ip.length < 1) return undefined
  const version = (ip[0] as number) >> 4
  const view = new DataView(ip.buffer, ip.byteOffset, ip.byteLength)
  let proto: number
  let l4: number
  let src: number | string
  let dst: number | string
  if (version === 4) {
    if (ip.length < 20) return undefined
    const ihl = ((ip[0] as number) & 0x0f) * 4
    if (ihl < 20 || ip.length < ihl) return undefined
    proto = ip[9] as number
    src = view.getUint32(12)
    dst = view.getUint32(16)
    // a non-first fragment has no L4 header
    const fragOff = view.getUint16(6) & 0x1fff
    l4 = fragOff === 0 ? ihl : -1
  } else if (version === 6) {
    if (ip.length < 40) return undefined
    proto = ip[6] as number
    src = Buffer.from(ip.buffer, ip.byteOffset + 8, 16).toString('hex')
    dst = Buffer.from(ip.buffer, ip.byteOffset + 24, 16).toString('hex')
    l4 = 40
  } else {
    return undefined
  }
  const info: PacketInfo = { version, src, dst, proto, sport: 0, dport: 0, icmpType: -1, tcpFlags: 0 }
  if (l4 < 0) return info
  if ((proto === PROTO_TCP || proto === PROTO_UDP) && ip.length >= l4 + 4) {
    info.sport = view.getUint16(l4)
    info.dport = view.getUint16(l4 + 2)
    if (proto === PROTO_TCP && ip.length >= l4 + 14) info.tcpFlags = ip[l4 + 13] as number
  } else if ((proto === PROTO_ICMP || proto === PROTO_ICMPV6) && ip.length >= l4 + 8) {
    info.icmpType = ip[l4] as number
    const echo = proto === PROTO_ICMP ? (info.icmpType === 8 || info.icmpType === 0) : (info.icmpType === 128 || info.icmpType === 129)
    if (echo) { info.sport = view.getUint16(l4 + 4); info.dport = info.sport }
  }
  return info
}

/** The protocol name the firewall's rules use. */
export function protoName (proto: number): 'tcp' | 'udp' | 'icmp' | 'other' {
  if (proto === PROTO_TCP) return 'tcp'
  if (proto === PROTO_UDP) return 'udp'
  if (proto === PROTO_ICMP || proto === PROTO_ICMPV6) return 'icmp'
  return 'other'
}
