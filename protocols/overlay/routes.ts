/**
 * The routing table: destination IP → member. Agents' own v4 addresses (claimed in state),
 * their derived v6 addresses, and the subnets they advertise in state (`routes/<peer>` →
 * `{ prefixes: ['192.168.10.0/24', 'fd00:10::/64'] }`; longest prefix wins, on a tie the lower
 * peer id). Also the reverse check: which sources a packet from a given peer may carry.
 */
import { inPrefix, inPrefix6, intToIpv4, overlaps6, parseIpPrefix } from './ip.js'
import type { V4Prefix, V6Prefix } from './ip.js'

export interface SubnetRoute { prefix: V4Prefix | V6Prefix, peer: string }

export const isV6Prefix = (p: V4Prefix | V6Prefix): p is V6Prefix => 'bytes' in p

interface PeerRoutes { v4: Set<number>, v6: string | undefined, subnets: V4Prefix[], subnets6: V6Prefix[] }

export interface RouteEntry {
  destination: string
  peer: string
  kind: 'address' | 'address6' | 'subnet'
}

export class RouteTable {
  #v4 = new Map<number, string>()
  #v6 = new Map<string, string>()
  #subnets: SubnetRoute[] = []
  #subnets4: Array<{ prefix: V4Prefix, peer: string }> = []
  #subnets6: Array<{ prefix: V6Prefix, peer: string }> = []
  #byPeer = new Map<string, PeerRoutes>()
  #v6Text = new Map<string, string>()

  /** Replaces the table. `v6` maps the hex of 16 address bytes to a peer. */
  set (v4: Map<number, string>, v6: Map<string, { peer: string, text: string }>, subnets: SubnetRoute[]): void {
    this.#v4 = new Map(v4)
    this.#v6 = new Map([...v6].map(([hex, { peer }]) => [hex, peer]))
    this.#v6Text = new Map([...v6].map(([hex, { text }]) => [hex, text]))
    this.#subnets = [...subnets].sort((a, b) => b.prefix.prefix - a.prefix.prefix || (a.peer < b.peer ? -1 : a.peer > b.peer ? 1 : 0))
    this.#subnets4 = []
    this.#subnets6 = []
    for (const { prefix, peer } of this.#subnets) {
      if (isV6Prefix(prefix)) this.#subnets6.push({ prefix, peer })
      else this.#subnets4.push({ prefix, peer })
    }
    const byPeer = new Map<string, PeerRoutes>()
    const entry = (p: string): PeerRoutes => {
      let e = byPeer.get(p)
      if (e == null) { e = { v4: new Set(), v6: undefined, subnets: [], subnets6: [] }; byPeer.set(p, e) }
      return e
    }
    for (const [ip, p] of this.#v4) entry(p).v4.add(ip)
    for (const [hex, p] of this.#v6) entry(p).v6 = hex
    for (const s of this.#subnets4) entry(s.peer).subnets.push(s.prefix)
    for (const s of this.#subnets6) entry(s.peer).subnets6.push(s.prefix)
    this.#byPeer = byPeer
  }

  /** The member a packet to `dst` goes to (v4 as integer, v6 as hex), or undefined. */
  lookup (dst: number | string): string | undefined {
    if (typeof dst === 'string') {
      const own = this.#v6.get(dst)
      if (own !== undefined || this.#subnets6.length === 0) return own
      const bytes = Buffer.from(dst, 'hex')
      for (const s of this.#subnets6) if (inPrefix6(bytes, s.prefix)) return s.peer
      return undefined
    }
    const own = this.#v4.get(dst)
    if (own !== undefined) return own
    for (const s of this.#subnets4) if (inPrefix(dst, s.prefix)) return s.peer
    return undefined
  }

  /** Whether a packet from `peer` may carry source `src` (its own addresses or its subnets). */
  sourceAllowed (peer: string, src: number | string): boolean {
    const e = this.#byPeer.get(peer)
    if (e == null) return false
    if (typeof src === 'string') {
      if (e.v6 === src) return true
      if (e.subnets6.length === 0) return false
      const bytes = Buffer.from(src, 'hex')
      return e.subnets6.some(p => inPrefix6(bytes, p))
    }
    if (e.v4.has(src)) return true
    return e.subnets.some(p => inPrefix(src, p))
  }

  /** v4 addresses owned by `peer`. */
  addressesOf (peer: string): number[] { return [...(this.#byPeer.get(peer)?.v4 ?? [])] }

  /** Every subnet route (for the kernel's routing table and `ctpf net routes`). */
  subnets (): SubnetRoute[] { return [...this.#subnets] }

  entries (): RouteEntry[] {
    const out: RouteEntry[] = []
    for (const [ip, peer] of [...this.#v4].sort((a, b) => a[0] - b[0])) out.push({ destination: `${intToIpv4(ip)}/32`, peer, kind: 'address' })
    for (const [hex, peer] of this.#v6) out.push({ destination: `${this.#v6Text.get(hex) ?? hex}/128`, peer, kind: 'address6' })
    for (const s of this.#subnets) out.push({ destination: s.prefix.text, peer: s.peer, kind: 'subnet' })
    return out
  }
}

/**
 * Reads `routes/<peer>` values: valid prefixes of members only — v4 of /8 or longer not
 * overlapping the mesh range, v6 of /16 or longer not overlapping the mesh's ULA /48.
 */
export function readSubnetRoutes (list: Array<{ key: string, value: { prefixes?: unknown }, record: { author: string } }>, isMember: (peer: string) => boolean, range: V4Prefix, ula: V6Prefix): SubnetRoute[] {
  const out: SubnetRoute[] = []
  for (const { key, value, record } of list) {
    const peer = key.split('/')[1] ?? ''
    if (record.author !== peer || !isMember(peer) || !Array.isArray(value?.prefixes)) continue
    for (const text of value.prefixes.slice(0, 64)) {
      if (typeof text !== 'string') continue
      const p = subnetPrefix(text, range, ula)
      if (p !== undefined) out.push({ prefix: p, peer })
    }
  }
  return out
}

/** A prefix an agent may advertise, or undefined (see readSubnetRoutes); `why` says what is wrong. */
export function subnetPrefix (text: string, range: V4Prefix, ula: V6Prefix, why?: (reason: string) => void): V4Prefix | V6Prefix | undefined {
  let parsed
  try { parsed = parseIpPrefix(text) } catch (err) { why?.((err as Error).message); return undefined }
  if ('v6' in parsed) {
    const p = parsed.v6
    if (p.prefix < 16) { why?.(`${p.text} is wider than a /16`); return undefined }
    if (overlaps6(p, ula)) { why?.(`${p.text} overlaps the mesh's own ${ula.text}`); return undefined }
    return p
  }
  const p = parsed.v4
  if (p.prefix < 8) { why?.(`${p.text} is wider than a /8`); return undefined }
  if (inPrefix(p.network, range) || inPrefix(range.network, p)) { why?.(`${p.text} overlaps the mesh range ${range.text}`); return undefined }
  return p
}
