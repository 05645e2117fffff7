/** IPv4 dotted-quad helpers shared by the codec and the server. */
import { EncodeError } from './errors.js'

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

export function isIpv4 (s: string): boolean {
  const m = QUAD.exec(s)
  return m !== null && m.slice(1).every(p => Number(p) <= 255)
}

/** Address as an unsigned 32-bit integer. Throws `EncodeError` on a malformed string. */
export function ipToInt (s: string): number {
  // hand-rolled: this runs several times per packet
  let n = 0
  let part = 0
  let digits = 0
  let dots = 0
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c >= 48 && c <= 57) {
      part = part * 10 + (c - 48)
      if (++digits > 3 || part > 255) return notAnAddress(s)
    } else if (c === 46 && digits > 0 && dots < 3) {
      n = n * 256 + part
      part = 0
      digits = 0
      dots++
    } else {
      return notAnAddress(s)
    }
  }
  if (dots !== 3 || digits === 0) return notAnAddress(s)
  return (n * 256 + part) >>> 0
}

function notAnAddress (s: string): never {
  throw new EncodeError(`not an IPv4 address: ${JSON.stringify(s)}`)
}

export function intToIp (n: number): string {
  return `${(n >>> 24) & 255}.${(n >>> 16) & 255}.${(n >>> 8) & 255}.${n & 255}`
}

export function ipToBytes (s: string): Uint8Array {
  const n = ipToInt(s)
  return Uint8Array.of((n >>> 24) & 255, (n >>> 16) & 255, (n >>> 8) & 255, n & 255)
}

/** Reads 4 bytes at `offset`; the caller has checked the bounds. */
export function bytesToIp (b: Uint8Array, offset: number): string {
  return `${b[offset] as number}.${b[offset + 1] as number}.${b[offset + 2] as number}.${b[offset + 3] as number}`
}

export const ZERO_IP = '0.0.0.0'
