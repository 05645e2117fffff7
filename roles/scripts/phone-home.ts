/** One-time phone-home tokens: 32 random bytes (base64url); only the SHA-256 hash is stored. */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto'

export interface StoredPhoneHome {
  /** hashToken(token) */
  hash: string
  /** ms since the epoch; the token is refused from then on. */
  expiresAt: number
  /** ms since the epoch when it was accepted; set it when checkPhoneHome answers 'ok'. */
  usedAt?: number
}

export type PhoneHomeCheck = 'ok' | 'wrong' | 'reused' | 'expired'

export function mintPhoneHomeToken (): string {
  return randomBytes(32).toString('base64url')
}

export function hashToken (token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('base64url')
}

/** `wrong` also when nothing is stored; a wrong token says nothing about use or expiry. */
export function checkPhoneHome (stored: StoredPhoneHome | undefined, presented: string, now: number): PhoneHomeCheck {
  if (stored == null) return 'wrong'
  const a = Buffer.from(hashToken(presented))
  const b = Buffer.from(stored.hash)
  if (a.length !== b.length || !timingSafeEqual(a, b)) return 'wrong'
  if (stored.usedAt != null) return 'reused'
  if (now >= stored.expiresAt) return 'expired'
  return 'ok'
}
