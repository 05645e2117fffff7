/** IPv4 dotted-quad helpers shared by the codec and the server. */
import { EncodeError } from './errors.js'

const QUAD = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/

export function isIpv4 (s: string): boolean {
  const m = QUAD.exec(s)
  return m !== null && m.slice(1).every(p => Number(p) <= 255)
}

/** Address as an unsigned 32-bit integer. Throws `EncodeError` on a malformed string. */
export function ipToInt (s: string): number {
  const m = QUAD.exec(s)
  if (m === null) throw new EncodeError(`not an IPv4 address: ${JSON.stringify(s)}`)
  let n = 0
  for (const part of m.slice(1)) {
    const v = Number(part)
    if (v > 255) throw new EncodeError(`not an IPv4 address: ${JSON.stringify(s)}`)
    n = n * 256 + v
  }
  return n >>> 0
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
