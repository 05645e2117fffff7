import { describe, expect, it } from 'vitest'
import { generateKeyPair, parsePublicKey } from '../../../../roles/distributor/ssh/index.js'

describe('SSH key generation', () => {
  it('every generated key parses, also the ~1 in 256 whose public key starts with a zero byte (ssh2 mangles those)', () => {
    for (let i = 0; i < 2000; i++) {
      const k = generateKeyPair()
      const parsed = parsePublicKey(k.publicKey)
      expect(parsed.type).toBe('ssh-ed25519')
      expect(parsed.blob.length).toBe(51) // 4+11 type, 4+32 key
    }
  })
})
