/**
 * The kernel's own chatter on a fresh TUN: as soon as the link is up it sends IPv6 router
 * solicitations, neighbour discovery and MLD listener reports into the device. None of it
 * means anything to the overlay, so it is dropped before it is forwarded.
 */

const IPPROTO_HOPOPTS = 0
const IPPROTO_ICMPV6 = 58

/** ICMPv6 types: MLD query/report/done (130–132), RS, RA, NS, NA, redirect (133–137), MLDv2 report (143). */
const NOISE_TYPES = new Set([130, 131, 132, 133, 134, 135, 136, 137, 143])

/** True for `fe80::/10`, `::` or `ff02::/16` — addresses that never leave the link. */
function linkScoped (pkt: Uint8Array, at: number): boolean {
  const a = pkt[at] as number
  const b = pkt[at + 1] as number
  if (a === 0xfe && (b & 0xc0) === 0x80) return true
  if (a === 0xff && (b & 0x0f) === 0x02) return true
  for (let i = at; i < at + 16; i++) if (pkt[i] !== 0) return false
  return true
}

/**
 * True when `pkt` (a bare IP packet, no virtio header) is IPv6 neighbour discovery, router
 * discovery or MLD between link-scoped addresses — the kernel's own traffic on a new link.
 * ICMPv6 to or from a global or ULA address (e.g. an overlay ping) is never noise.
 *
 * @example
 * tun.on('packets', pkts => forward(pkts.filter(p => !isKernelNoise(p))))
 */
export function isKernelNoise (pkt: Uint8Array): boolean {
  if (pkt.length < 41 || (pkt[0] as number) >> 4 !== 6) return false
  let next = pkt[6] as number
  let off = 40
  if (next === IPPROTO_HOPOPTS) {
    if (pkt.length < off + 8) return false
    next = pkt[off] as number
    off += ((pkt[off + 1] as number) + 1) * 8
  }
  if (next !== IPPROTO_ICMPV6 || pkt.length <= off) return false
  if (!NOISE_TYPES.has(pkt[off] as number)) return false
  return linkScoped(pkt, 8) || linkScoped(pkt, 24)
}
