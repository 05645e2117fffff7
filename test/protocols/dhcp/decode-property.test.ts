import { describe, expect, it } from 'vitest'
import { DhcpCodecError, decode, encode } from '../../../protocols/dhcp/index.js'
import { hostilePacket, prng } from './fuzz-input.js'

describe('DHCP decoder under hostile input', () => {
  it('50,000 mutated datagrams either decode or raise a DhcpCodecError', () => {
    const rand = prng(0xc7bf)
    let decoded = 0
    let rejected = 0
    for (let i = 0; i < 50_000; i++) {
      const p = hostilePacket(rand)
      try {
        const m = decode(p)
        decoded++
        // whatever decodes must be re-encodable or refused with a typed error
        try { encode({ ...m, op: 2, extraOptions: [] }) } catch (err) { expect(err).toBeInstanceOf(DhcpCodecError) }
      } catch (err) {
        if (!(err instanceof DhcpCodecError)) throw new Error(`packet ${i} (${p.toString('hex')}) crashed the decoder: ${String(err)}`)
        rejected++
      }
    }
    // the generator must exercise both paths or the test proves nothing
    expect(decoded).toBeGreaterThan(1000)
    expect(rejected).toBeGreaterThan(1000)
  })
})
