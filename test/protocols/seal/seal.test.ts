import { inspect } from 'node:util'
import { describe, expect, it } from 'vitest'
import {
  MAX_PLAINTEXT_BYTES, SealError, decodeEnvelope, encodeEnvelope, exportSealPrivateKey, generateSealKeyPair,
  importSealPrivateKey, open, recipientsOf, reseal, seal, sealPublicKey, type SealedEnvelope
} from '../../../protocols/seal/index.js'
import { prng } from '../../helpers/prng.js'

const text = (s: string): Uint8Array => new TextEncoder().encode(s)
const str = (b: Uint8Array): string => new TextDecoder().decode(b)

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    if (err instanceof SealError) return err.code
    throw err
  }
  return 'opened'
}

const alice = { id: '12D3KooWAlice', ...generateSealKeyPair() }
const bob = { id: '12D3KooWBob', ...generateSealKeyPair() }
const carol = { id: '12D3KooWCarol', ...generateSealKeyPair() }
const mallory = { id: '12D3KooWMallory', ...generateSealKeyPair() }
const to = (...who: Array<typeof alice>): Array<{ id: string, publicKey: string }> => who.map(w => ({ id: w.id, publicKey: w.publicKey }))
const AAD = 'ssh-general-key dc=nbg1'

describe('sealing to a set of agents', () => {
  it('a sealed secret opens to its plaintext, also after a JSON round trip', () => {
    const env = seal(text('-----BEGIN OPENSSH PRIVATE KEY-----'), to(alice), { aad: AAD })
    expect(str(open(env, alice, { aad: AAD }))).toBe('-----BEGIN OPENSSH PRIVATE KEY-----')
    const wire = encodeEnvelope(env)
    expect(str(open(wire, alice, { aad: AAD }))).toBe('-----BEGIN OPENSSH PRIVATE KEY-----')
    expect(str(open(JSON.parse(wire), alice, { aad: AAD }))).toBe('-----BEGIN OPENSSH PRIVATE KEY-----')
  })

  it('empty and large plaintexts round-trip; too large is refused', () => {
    expect(open(seal(new Uint8Array(0), to(bob)), bob)).toEqual(new Uint8Array(0))
    const big = new Uint8Array(MAX_PLAINTEXT_BYTES).map((_, i) => i & 0xff)
    expect(Buffer.from(open(encodeEnvelope(seal(big, to(bob))), bob)).equals(Buffer.from(big))).toBe(true)
    expect(codeOf(() => seal(new Uint8Array(MAX_PLAINTEXT_BYTES + 1), to(bob)))).toBe('ERR_SEAL_TOO_LARGE')
  })

  it('each of several recipients opens the same plaintext; ciphertexts differ between seals', () => {
    const env = seal(text('k3s-token'), to(alice, bob, carol), { aad: AAD })
    for (const who of [alice, bob, carol]) expect(str(open(env, who, { aad: AAD }))).toBe('k3s-token')
    const again = seal(text('k3s-token'), to(alice, bob, carol), { aad: AAD })
    expect(again.ct).not.toBe(env.ct)
    expect(again.to[0].epk).not.toBe(env.to[0].epk)
    expect(recipientsOf(env)).toEqual(to(alice, bob, carol))
  })

  it('a non-recipient cannot open, even claiming a recipient\'s id', () => {
    const env = seal(text('secret'), to(alice, bob), { aad: AAD })
    expect(codeOf(() => open(env, mallory, { aad: AAD }))).toBe('ERR_SEAL_NOT_RECIPIENT')
    expect(codeOf(() => open(env, { id: alice.id, privateKey: mallory.privateKey }, { aad: AAD }))).toBe('ERR_SEAL_KEY_MISMATCH')
  })

  it('a recipient cannot open another recipient\'s entry by swapping ids', () => {
    const env = seal(text('secret'), to(alice, bob), { aad: AAD })
    // mallory relabels bob's entry as hers, with her public key: the wrapped key is bound to bob's id and key
    const forged: SealedEnvelope = { ...env, to: [env.to[0], { ...env.to[1], id: mallory.id, pk: mallory.publicKey }] }
    expect(codeOf(() => open(forged, mallory, { aad: AAD }))).toBe('ERR_SEAL_TAMPERED')
  })

  it('opening with other associated data fails with ERR_SEAL_WRONG_AAD', () => {
    const env = seal(text('secret'), to(alice), { aad: AAD })
    expect(codeOf(() => open(env, alice, { aad: 'ssh-general-key dc=fsn1' }))).toBe('ERR_SEAL_WRONG_AAD')
    expect(codeOf(() => open(env, alice))).toBe('ERR_SEAL_WRONG_AAD')
    const noAad = seal(text('secret'), to(alice))
    expect(codeOf(() => open(noAad, alice, { aad: AAD }))).toBe('ERR_SEAL_WRONG_AAD')
    expect(str(open(noAad, alice))).toBe('secret')
  })

  it('changing any single field of the envelope makes opening fail', () => {
    const env = seal(text('the general key'), to(alice, bob), { aad: AAD })
    const flip = (b64: string): string => {
      const bytes = Buffer.from(b64, 'base64url')
      bytes[bytes.length >> 1] ^= 0x01
      return bytes.toString('base64url')
    }
    const other = seal(text('the general key'), to(alice, bob), { aad: AAD })
    const variants: Array<[string, SealedEnvelope]> = [
      ['aad', { ...env, aad: flip(env.aad) }],
      ['iv', { ...env, iv: flip(env.iv) }],
      ['ct', { ...env, ct: flip(env.ct) }],
      ['ct tag', { ...env, ct: env.ct.slice(0, -4) + (env.ct.endsWith('AAAA') ? 'BBBA' : 'AAAA') }],
      ['ct truncated', { ...env, ct: Buffer.from(env.ct, 'base64url').subarray(1).toString('base64url') }],
      ['own epk', { ...env, to: [{ ...env.to[0], epk: flip(env.to[0].epk) }, env.to[1]] }],
      ['own wk', { ...env, to: [{ ...env.to[0], wk: flip(env.to[0].wk) }, env.to[1]] }],
      ['own entry from another seal', { ...env, to: [other.to[0], env.to[1]] }],
      ['other recipient\'s wk', { ...env, to: [env.to[0], { ...env.to[1], wk: flip(env.to[1].wk) }] }],
      ['other recipient\'s id', { ...env, to: [env.to[0], { ...env.to[1], id: 'someone-else' }] }],
      ['other recipient removed', { ...env, to: [env.to[0]] }],
      ['recipients reordered', { ...env, to: [env.to[1], env.to[0]] }],
      ['iv from another seal', { ...env, iv: other.iv }]
    ]
    for (const [what, v] of variants) {
      const code = codeOf(() => open(v, alice, { aad: AAD }))
      expect([what, code]).toEqual([what, expect.stringMatching(/^ERR_SEAL_(TAMPERED|MALFORMED)$/)])
    }
    // the recipient's own id changed: it is simply not listed any more
    expect(codeOf(() => open({ ...env, to: [{ ...env.to[0], id: 'x' }, env.to[1]] }, alice, { aad: AAD }))).toBe('ERR_SEAL_NOT_RECIPIENT')
    // own pk changed: the opener's key no longer matches
    expect(codeOf(() => open({ ...env, to: [{ ...env.to[0], pk: flip(env.to[0].pk) }, env.to[1]] }, alice, { aad: AAD }))).toBe('ERR_SEAL_KEY_MISMATCH')
    // the untouched envelope still opens
    expect(str(open(env, alice, { aad: AAD }))).toBe('the general key')
  })

  it('reseal adds and removes recipients; a removed recipient cannot open the new envelope', () => {
    const env = seal(text('kubeconfig'), to(alice, bob), { aad: AAD })
    const added = reseal(env, bob, to(alice, bob, carol), { aad: AAD })
    expect(str(open(added, carol, { aad: AAD }))).toBe('kubeconfig')
    const removed = reseal(added, carol, to(carol), { aad: AAD })
    expect(codeOf(() => open(removed, alice, { aad: AAD }))).toBe('ERR_SEAL_NOT_RECIPIENT')
    expect(str(open(removed, carol, { aad: AAD }))).toBe('kubeconfig')
    // a new content key: alice's old envelope tells nothing about the new ciphertext
    expect(removed.ct).not.toBe(added.ct)
    expect(codeOf(() => reseal(env, mallory, to(mallory), { aad: AAD }))).toBe('ERR_SEAL_NOT_RECIPIENT')
  })

  it('refuses bad recipient lists and bad keys with codes', () => {
    expect(codeOf(() => seal(text('x'), []))).toBe('ERR_SEAL_RECIPIENTS')
    expect(codeOf(() => seal(text('x'), [...to(alice), ...to(alice)]))).toBe('ERR_SEAL_RECIPIENTS')
    expect(codeOf(() => seal(text('x'), [{ id: 'has space', publicKey: alice.publicKey }]))).toBe('ERR_SEAL_RECIPIENTS')
    expect(codeOf(() => seal(text('x'), [{ id: 'a', publicKey: 'short' }]))).toBe('ERR_SEAL_INVALID_KEY')
    // a low-order point (all zeros) would make a predictable shared secret
    expect(codeOf(() => seal(text('x'), [{ id: 'a', publicKey: Buffer.alloc(32).toString('base64url') }]))).toBe('ERR_SEAL_INVALID_KEY')
    expect(codeOf(() => open(seal(text('x'), to(alice)), { id: alice.id, privateKey: 'not a key' as never }))).toBe('ERR_SEAL_INVALID_KEY')
  })

  it('private keys export and import raw, and never show in errors or serialisation', () => {
    const raw = exportSealPrivateKey(alice.privateKey)
    const again = importSealPrivateKey(raw)
    expect(sealPublicKey(again)).toBe(alice.publicKey)
    const env = seal(text('x'), to(alice))
    expect(str(open(env, { id: alice.id, privateKey: again }))).toBe('x')
    expect(JSON.stringify(alice)).not.toContain(raw)
    expect(inspect(alice, { depth: 5 })).not.toContain(raw)
    const messages: string[] = []
    for (const fn of [
      () => open(env, { id: alice.id, privateKey: mallory.privateKey }),
      () => open({ ...env, iv: env.ct }, alice),
      () => importSealPrivateKey(raw.slice(1)),
      () => open(env, mallory)
    ]) {
      try { fn() } catch (err) { messages.push(String(err), inspect(err), JSON.stringify(err)) }
    }
    expect(messages.length).toBe(12)
    for (const key of [raw, exportSealPrivateKey(mallory.privateKey), raw.slice(1)]) {
      for (const m of messages) expect(m).not.toContain(key)
    }
  })
})

describe('hostile envelopes', () => {
  const base = seal(text('fuzz target plaintext'), to(alice, bob), { aad: AAD })
  const wire = encodeEnvelope(base)

  function mutateText (rand: () => number): string {
    const chars = [...wire]
    const n = 1 + Math.floor(rand() * 4)
    for (let i = 0; i < n; i++) {
      const at = Math.floor(rand() * chars.length)
      const op = rand()
      if (op < 0.4) chars[at] = String.fromCharCode(Math.floor(rand() * 128))
      else if (op < 0.6) chars.splice(at, 1)
      else if (op < 0.8) chars.splice(at, 0, '"{}[],:0aZ_-\\'[Math.floor(rand() * 13)])
      else chars.length = at
    }
    return chars.join('')
  }

  const junk: unknown[] = [null, 0, -1, 1e308, '', 'x', true, [], {}, [1, 2], { a: 1 }, 'A'.repeat(43), 'A'.repeat(5000), { toString: 1 }, Object.create(null)]

  function mutateObject (rand: () => number): unknown {
    const env = structuredClone(base) as unknown as Record<string, unknown>
    const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]
    const topKeys = ['v', 'alg', 'aad', 'iv', 'ct', 'to', 'extra']
    const k = pick(topKeys)
    if (k === 'to' && rand() < 0.7) {
      const list = env.to as Array<Record<string, unknown>>
      const entry = list[Math.floor(rand() * list.length)]
      const ek = pick(['id', 'pk', 'epk', 'wk', 'extra'])
      entry[ek] = rand() < 0.5 ? pick(junk) : Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))).toString('base64url')
      if (rand() < 0.2) list.push({ ...entry })
    } else if (rand() < 0.2) {
      delete env[k]
    } else {
      env[k] = rand() < 0.5 ? pick(junk) : Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))).toString('base64url')
    }
    return env
  }

  it('20,000 mutated envelopes fail with a SealError code and never throw anything else', () => {
    const rand = prng(0x5ea1)
    const codes = new Map<string, number>()
    const inputs: unknown[] = [...junk, new Uint8Array([0xff, 0xfe]), Buffer.from(wire)]
    for (let i = 0; i < 20_000; i++) inputs.push(rand() < 0.5 ? mutateText(rand) : mutateObject(rand))
    let opened = 0
    for (const [i, input] of inputs.entries()) {
      let code: string
      try {
        const plain = open(input, alice, { aad: AAD })
        // only mutations that leave the authenticated content intact may open (e.g. whitespace)
        expect(str(plain)).toBe('fuzz target plaintext')
        opened++
        code = 'opened'
      } catch (err) {
        if (!(err instanceof SealError)) throw new Error(`input ${i} threw a non-SealError: ${String(err)}\n${typeof input === 'string' ? input : JSON.stringify(input)}`)
        code = err.code
      }
      codes.set(code, (codes.get(code) ?? 0) + 1)
    }
    // the generator reaches the deep checks, not only the JSON parser
    expect(codes.get('ERR_SEAL_MALFORMED')).toBeGreaterThan(1000)
    expect((codes.get('ERR_SEAL_TAMPERED') ?? 0) + (codes.get('ERR_SEAL_NOT_RECIPIENT') ?? 0) + (codes.get('ERR_SEAL_KEY_MISMATCH') ?? 0)).toBeGreaterThan(50)
    expect(opened).toBeLessThan(inputs.length)
  })

  it('oversized input is refused before parsing', () => {
    expect(codeOf(() => decodeEnvelope('{' + ' '.repeat(3 * 1024 * 1024) + '}'))).toBe('ERR_SEAL_MALFORMED')
    const many = { ...base, to: Array.from({ length: 257 }, (_, i) => ({ ...base.to[0], id: `peer${i}` })) }
    expect(codeOf(() => decodeEnvelope(many))).toBe('ERR_SEAL_MALFORMED')
    expect(codeOf(() => decodeEnvelope({ ...base, to: [base.to[0], base.to[0]] }))).toBe('ERR_SEAL_MALFORMED')
    // non-canonical base64url (same bytes, other spelling) is not accepted
    const last = base.aad.at(-1) as string
    const alt = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'
    const idx = alt.indexOf(last)
    const sibling = alt[idx ^ 1]
    expect(codeOf(() => decodeEnvelope({ ...base, aad: base.aad.slice(0, -1) + sibling }))).toMatch(/^ERR_SEAL_MALFORMED$/)
  })
})
