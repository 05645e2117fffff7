import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { toBase64url } from '../../../protocols/codec.js'
import { createToken, decodeToken, meshIdFromRoot, newNonce, verifyToken } from '../../../protocols/membership/index.js'
import type { TokenPayload } from '../../../protocols/membership/index.js'

async function fixture (overrides: Partial<TokenPayload> = {}): Promise<{ token: string, payload: TokenPayload }> {
  const root = await generateKeyPair('Ed25519')
  const inviter = await generateKeyPair('Ed25519')
  const payload: TokenPayload = {
    v: 1,
    mesh: meshIdFromRoot(root.publicKey.raw),
    root: toBase64url(root.publicKey.raw),
    addrs: [`/ip4/127.0.0.1/tcp/4001/p2p/${peerIdFromPrivateKey(inviter).toString()}`],
    tags: { dc: 'nbg1' },
    caps: [],
    exp: Date.now() + 60_000,
    nonce: newNonce(),
    inviter: peerIdFromPrivateKey(inviter).toString(),
    ...overrides
  }
  return { token: await createToken(payload, inviter), payload }
}

const code = async (p: Promise<unknown> | (() => unknown)): Promise<string | undefined> => {
  try {
    await (typeof p === 'function' ? p() : p)
    return undefined
  } catch (err) {
    return (err as { code?: string }).code
  }
}

describe('invite tokens', () => {
  it('round-trip and verify', async () => {
    const { token, payload } = await fixture()
    const decoded = decodeToken(token)
    expect(decoded.payload).toEqual(payload)
    await verifyToken(decoded)
  })

  it('a changed payload no longer verifies (TOKEN_FORGED)', async () => {
    const { token } = await fixture()
    const [p, body, sig] = token.split('.')
    const claims = JSON.parse(Buffer.from(body, 'base64url').toString())
    for (const change of [{ caps: ['admin'] }, { tags: { dc: 'sin1' } }, { exp: claims.exp + 1 }, { nonce: newNonce() }]) {
      const forged = [p, Buffer.from(JSON.stringify({ ...claims, ...change })).toString('base64url'), sig].join('.')
      expect(await code(verifyToken(decodeToken(forged)))).toBe('TOKEN_FORGED')
    }
  })

  it('a signature by someone other than the named inviter is forged', async () => {
    const { token } = await fixture()
    const other = await fixture()
    const mixed = [token.split('.')[0], token.split('.')[1], other.token.split('.')[2]].join('.')
    expect(await code(verifyToken(decodeToken(mixed)))).toBe('TOKEN_FORGED')
  })

  it('a mesh id that does not belong to the root key is forged', async () => {
    const { token } = await fixture({ mesh: '0123456789abcdef' })
    expect(await code(verifyToken(decodeToken(token)))).toBe('TOKEN_FORGED')
  })

  it('an expired token is refused (TOKEN_EXPIRED)', async () => {
    const { token } = await fixture({ exp: Date.now() - 1 })
    expect(await code(verifyToken(decodeToken(token)))).toBe('TOKEN_EXPIRED')
  })

  it('malformed input of every kind is TOKEN_MALFORMED, never a crash', async () => {
    const { token } = await fixture()
    const cases = ['', 'ctpf1', 'ctpf2.a.b', 'ctpf1.a.b.c', 'ctpf1.%%%.abc', `ctpf1.${Buffer.from('not json').toString('base64url')}.AAAA`,
      token.slice(0, token.length - 10), token.replace('ctpf1.', 'ctpf1.x'), 'x'.repeat(10_000),
      `ctpf1.${Buffer.from(JSON.stringify({ v: 1 })).toString('base64url')}.${'A'.repeat(86)}`]
    for (const c of cases) expect(await code(() => decodeToken(c)), c.slice(0, 40)).toBe('TOKEN_MALFORMED')
  })

  it('every single-byte change of a token is caught', async () => {
    const { token } = await fixture()
    const chars = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    let caught = 0
    for (let i = 6; i < token.length; i += 3) {
      if (token[i] === '.' || token[i + 1] === '.' || i === token.length - 1) continue // a last base64 digit may carry only padding bits
      const replacement = chars[(chars.indexOf(token[i]) + 7) % chars.length]
      const t = token.slice(0, i) + replacement + token.slice(i + 1)
      const c = await code(async () => { await verifyToken(decodeToken(t)) })
      expect(['TOKEN_MALFORMED', 'TOKEN_FORGED']).toContain(c)
      caught++
    }
    expect(caught).toBeGreaterThan(50)
  })
})
