/**
 * IPv4 ranges and the IPv6 addresses of the overlay: v4 as 32-bit integers, the mesh's ULA
 * /48 derived from the mesh id, and each agent's v6 address (that /48, subnet 0, a 64-bit
 * interface id from a hash of its peer id) — so every agent computes every other agent's v6
 * address without asking.
 */
import { createHash } from 'node:crypto'
import { isIPv4, isIPv6 } from 'node:net'
import { OverlayConfigError } from './errors.js'

export interface V4Prefix {
  /** Network address as an unsigned 32-bit integer. */
  network: number
  prefix: number
  /** Netmask as an unsigned 32-bit integer. */
  mask: number
  text: string
}

export function ipv4ToInt (ip: string): number {
  if (!isIPv4(ip)) throw new OverlayConfigError(`not an IPv4 address: ${JSON.stringify(ip)}`)
  const [a, b, c, d] = ip.split('.').map(Number) as [number, number, number, number]
  return ((a << 24) | (b << 16) | (c << 8) | d) >>> 0
}

export function intToIpv4 (n: number): string {
  return `${n >>> 24}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

export function maskOf (prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0
}

/** Parses `a.b.c.d/n` (host bits must be zero). */
export function parseV4Prefix (text: string): V4Prefix {
  const [ip = '', p, extra] = text.split('/')
  const prefix = Number(p)
  if (extra !== undefined || p === undefined || !/^\d{1,2}$/.test(p) || prefix > 32) throw new OverlayConfigError(`not an IPv4 prefix: ${JSON.stringify(text)}`)
  const mask = maskOf(prefix)
  const addr = ipv4ToInt(ip)
  if ((addr & ~mask) >>> 0 !== 0) throw new OverlayConfigError(`${text} has host bits set (the network is ${intToIpv4((addr & mask) >>> 0)}/${prefix})`)
  return { network: addr, prefix, mask, text: `${intToIpv4(addr)}/${prefix}` }
}

export function inPrefix (addr: number, p: V4Prefix): boolean {
  return ((addr & p.mask) >>> 0) === p.network
}

/** An IPv6 prefix (a LAN behind an agent): its 16 network bytes, length and text. */
export interface V6Prefix {
  bytes: Buffer
  prefix: number
  text: string
}

/** The 16 bytes of an IPv6 address in text (`::` and a dotted IPv4 tail allowed). */
export function ipv6ToBytes (ip: string): Buffer {
  if (!isIPv6(ip)) throw new OverlayConfigError(`not an IPv6 address: ${JSON.stringify(ip)}`)
  let text = ip
  const out = Buffer.alloc(16)
  const tail = /(\d+\.\d+\.\d+\.\d+)$/.exec(text)
  if (tail !== null) {
    const v4 = ipv4ToInt(tail[1] as string)
    text = `${text.slice(0, -(tail[1] as string).length)}${(v4 >>> 16).toString(16)}:${(v4 & 0xffff).toString(16)}`
  }
  const [head = '', rest] = text.split('::')
  const groups = (g: string): number[] => g === '' ? [] : g.split(':').map(x => parseInt(x, 16))
  const h = groups(head)
  const r = rest === undefined ? [] : groups(rest)
  const all = rest === undefined ? h : [...h, ...new Array<number>(8 - h.length - r.length).fill(0), ...r]
  all.forEach((g, i) => out.writeUInt16BE(g, i * 2))
  return out
}

/** Parses `x:y::/n` (host bits must be zero; the text is given back in its short form). */
export function parseV6Prefix (text: string): V6Prefix {
  const [ip = '', p, extra] = text.split('/')
  const prefix = Number(p)
  if (extra !== undefined || p === undefined || !/^\d{1,3}$/.test(p) || prefix > 128 || !isIPv6(ip)) throw new OverlayConfigError(`not an IPv6 prefix: ${JSON.stringify(text)}`)
  const bytes = ipv6ToBytes(ip)
  const masked = maskBytes(bytes, prefix)
  if (!masked.equals(bytes)) throw new OverlayConfigError(`${text} has host bits set (the network is ${formatIpv6(masked)}/${prefix})`)
  return { bytes, prefix, text: `${formatIpv6(bytes)}/${prefix}` }
}

function maskBytes (b: Buffer, prefix: number): Buffer {
  const out = Buffer.alloc(16)
  const whole = prefix >> 3
  b.copy(out, 0, 0, whole)
  if (whole < 16 && (prefix & 7) !== 0) out[whole] = (b[whole] as number) & (0xff << (8 - (prefix & 7)))
  return out
}

/** Whether 16 address bytes fall in an IPv6 prefix. */
export function inPrefix6 (addr: Uint8Array, p: V6Prefix): boolean {
  const whole = p.prefix >> 3
  for (let i = 0; i < whole; i++) if (addr[i] !== p.bytes[i]) return false
  const bits = p.prefix & 7
  if (bits === 0) return true
  const m = 0xff << (8 - bits) & 0xff
  return ((addr[whole] as number) & m) === ((p.bytes[whole] as number) & m)
}

/** Whether two IPv6 prefixes overlap (one contains the other). */
export function overlaps6 (a: V6Prefix, b: V6Prefix): boolean {
  return a.prefix <= b.prefix ? inPrefix6(b.bytes, a) : inPrefix6(a.bytes, b)
}

/** A v4 or v6 prefix: which one by the text. */
export function parseIpPrefix (text: string): { v4: V4Prefix } | { v6: V6Prefix } {
  return text.includes(':') ? { v6: parseV6Prefix(text) } : { v4: parseV4Prefix(text) }
}

/** The mesh's unique-local /48 as 6 bytes (fd + 40 bits of a hash of the mesh id). */
export function meshUlaPrefix (meshId: string): Buffer {
  const h = createHash('sha256').update('ctpf-overlay-ula\n').update(meshId).digest()
  const out = Buffer.alloc(6)
  out[0] = 0xfd
  h.copy(out, 1, 0, 5)
  return out
}

/** The 16 bytes of a peer's overlay IPv6 address: mesh /48, subnet 0, 64-bit interface id. */
export function ipv6BytesOfPeer (meshId: string, peerId: string): Buffer {
  const out = Buffer.alloc(16)
  meshUlaPrefix(meshId).copy(out, 0)
  createHash('sha256').update('ctpf-overlay-iid\n').update(peerId).digest().copy(out, 8, 0, 8)
  return out
}

/** Text form of 16 address bytes (the longest run of zero groups compressed). */
export function formatIpv6 (b: Uint8Array): string {
  const groups: number[] = []
  for (let i = 0; i < 16; i += 2) groups.push(((b[i] as number) << 8) | (b[i + 1] as number))
  let best = -1
  let bestLen = 0
  for (let i = 0; i < 8;) {
    if (groups[i] !== 0) { i++; continue }
    let j = i
    while (j < 8 && groups[j] === 0) j++
    if (j - i > bestLen && j - i > 1) { best = i; bestLen = j - i }
    i = j
  }
  const hex = groups.map(g => g.toString(16))
  if (best < 0) return hex.join(':')
  return `${hex.slice(0, best).join(':')}::${hex.slice(best + bestLen).join(':')}`
}

export function ipv6OfPeer (meshId: string, peerId: string): string {
  return formatIpv6(ipv6BytesOfPeer(meshId, peerId))
}

/** The mesh's /48 in text (`fdxx:xxxx:xxxx::/48`). */
export function meshUlaText (meshId: string): string {
  return meshUla(meshId).text
}

/** The mesh's /48 as a prefix. */
export function meshUla (meshId: string): V6Prefix {
  const b = Buffer.alloc(16)
  meshUlaPrefix(meshId).copy(b, 0)
  return { bytes: b, prefix: 48, text: `${formatIpv6(b)}/48` }
}

/** A deterministic 32-bit hash of a peer id, salted (the preferred address of an agent). */
export function peerHash32 (peerId: string, salt = 0): number {
  return createHash('sha256').update(`ctpf-overlay-v4\n${salt}\n`).update(peerId).digest().readUInt32BE(0)
}
