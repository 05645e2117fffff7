import { describe, expect, it } from 'vitest'
import { checkPhoneHome, hashToken, mintPhoneHomeToken, type StoredPhoneHome } from '../../../roles/scripts/index.js'

describe('phone-home tokens', () => {
  it('are 32 random bytes in base64url, different every time', () => {
    const a = mintPhoneHomeToken()
    const b = mintPhoneHomeToken()
    expect(a).toMatch(/^[A-Za-z0-9_-]{43}$/)
    expect(Buffer.from(a, 'base64url')).toHaveLength(32)
    expect(a).not.toBe(b)
  })

  it('are stored as a hash that does not contain the token', () => {
    const t = mintPhoneHomeToken()
    expect(hashToken(t)).toBe(hashToken(t))
    expect(hashToken(t)).not.toContain(t)
    expect(hashToken(t)).not.toBe(hashToken(mintPhoneHomeToken()))
  })

  it('are checked: ok, wrong, reused, expired', () => {
    const token = mintPhoneHomeToken()
    const stored: StoredPhoneHome = { hash: hashToken(token), expiresAt: 2000 }
    expect(checkPhoneHome(stored, token, 1000)).toBe('ok')
    expect(checkPhoneHome(stored, mintPhoneHomeToken(), 1000)).toBe('wrong')
    expect(checkPhoneHome(stored, '', 1000)).toBe('wrong')
    expect(checkPhoneHome(undefined, token, 1000)).toBe('wrong')
    expect(checkPhoneHome(stored, token, 2000)).toBe('expired')
    expect(checkPhoneHome({ ...stored, usedAt: 1500 }, token, 1600)).toBe('reused')
    // a wrong token learns nothing about use or expiry
    expect(checkPhoneHome({ ...stored, usedAt: 1500 }, 'x', 3000)).toBe('wrong')
  })
})
