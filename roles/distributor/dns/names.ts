/**
 * Name helpers: normalising zone names, checking that a decoded name survives re-encoding,
 * and turning addresses into their in-addr.arpa / ip6.arpa names.
 */
import { isIPv4, isIPv6 } from 'node:net'
import { InvalidAddressError, InvalidZoneNameError } from './errors.js'

const LDH_LABEL = /^[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9_])?$/

/** Lower-cases, drops one trailing dot and checks every label is letters/digits/hyphen (and `_`). */
export function normalizeZoneName (value: string): string {
  const name = value.toLowerCase().replace(/\.$/, '')
  if (name.length === 0) throw new InvalidZoneNameError(value, 'empty')
  if (name.length > 253) throw new InvalidZoneNameError(value, 'longer than 253 characters')
  for (const label of name.split('.')) {
    if (!LDH_LABEL.test(label)) throw new InvalidZoneNameError(value, `bad label ${JSON.stringify(label)}`)
  }
  return name
}

/**
 * True when a name decoded by dns-packet (labels joined by '.') encodes back to the same,
 * well-formed wire name: printable ASCII, labels of 1–63 bytes, at most 253 bytes.
 * Binary labels (or labels containing a dot) are rejected rather than mangled.
 */
export function isWireSafeName (name: string): boolean {
  if (name === '.') return true
  if (name.length > 253) return false
  let labelLength = 0
  for (let i = 0; i < name.length; i++) {
    const c = name.charCodeAt(i)
    if (c === 0x2e) {
      if (labelLength === 0) return false
      labelLength = 0
      continue
    }
    if (c < 0x21 || c > 0x7e) return false
    if (++labelLength > 63) return false
  }
  return labelLength > 0
}

/** Is `name` (lower case) equal to or below `domain` (lower case)? */
export function isInDomain (name: string, domain: string): boolean {
  return name === domain || (name.length > domain.length && name.endsWith(domain) &&
    name.charCodeAt(name.length - domain.length - 1) === 0x2e)
}

export function checkIPv4 (address: string): string {
  if (!isIPv4(address)) throw new InvalidAddressError(address, 'IPv4')
  return address
}

export function checkIPv6 (address: string): string {
  if (!isIPv6(address) || address.includes('%')) throw new InvalidAddressError(address, 'IPv6')
  return address
}

/** `192.0.2.7` → `7.2.0.192.in-addr.arpa` */
export function reverseNameIPv4 (address: string): string {
  return checkIPv4(address).split('.').map(Number).reverse().join('.') + '.in-addr.arpa'
}

/** `2001:db8::1` → `1.0.0.0.…8.b.d.0.1.0.0.2.ip6.arpa` (32 nibbles) */
export function reverseNameIPv6 (address: string): string {
  const hex = expandIPv6(checkIPv6(address))
  return hex.split('').reverse().join('.') + '.ip6.arpa'
}

/** The 32 lower-case hex digits of an IPv6 address (handles `::` and a dotted IPv4 tail). */
export function expandIPv6 (address: string): string {
  let text = address.toLowerCase()
  const lastColon = text.lastIndexOf(':')
  const tail = text.slice(lastColon + 1)
  if (tail.includes('.')) {
    const [a, b, c, d] = checkIPv4(tail).split('.').map(Number) as [number, number, number, number]
    text = text.slice(0, lastColon + 1) + ((a << 8) | b).toString(16) + ':' + ((c << 8) | d).toString(16)
  }
  const [head, rest] = text.split('::') as [string, string | undefined]
  const headGroups = head === '' ? [] : head.split(':')
  const restGroups = rest === undefined || rest === '' ? [] : rest.split(':')
  const missing = 8 - headGroups.length - restGroups.length
  const groups = rest === undefined ? headGroups : [...headGroups, ...new Array<string>(missing).fill('0'), ...restGroups]
  if (groups.length !== 8) throw new InvalidAddressError(address, 'IPv6')
  return groups.map(g => g.padStart(4, '0')).join('')
}
