import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { PrivateKey } from '@libp2p/interface'
import { beforeAll, describe, expect, it } from 'vitest'
import {
  E2E_DATA, E2E_INIT, E2E_RESP, E2eAuthError, E2eEndpoint, E2eHandshakeError, E2eMessageError, E2eNotReadyError,
  E2eReplayError, e2eMessageType
} from '../../../protocols/overlay/index.js'
import { pseudoRandomBytes } from '../../helpers/overlay-fakes.js'
import { prng } from '../../helpers/prng.js'

interface Agent { id: string, key: PrivateKey }

const T0 = Date.UTC(2026, 10, 23, 1, 0, 0)

/** A clock every endpoint of a test shares; tests move it. */
const clock = { t: T0 }

function endpoint (self: Agent, peer: Agent | string, opts: { now?: () => number, rekeyMs?: number } = {}): E2eEndpoint {
  return new E2eEndpoint({
    self: self.id,
    peer: typeof peer === 'string' ? peer : peer.id,
    sign: async d => await self.key.sign(d),
    now: opts.now ?? (() => clock.t),
    ...(opts.rekeyMs != null ? { rekeyMs: opts.rekeyMs } : {})
  })
}

/** Runs INIT → RESP from `a` to `b`, as a relay would carry them. */
async function handshake (a: E2eEndpoint, b: E2eEndpoint): Promise<void> {
  const init = await a.createInit()
  const resp = await b.onHandshake(init)
  expect(resp).toBeInstanceOf(Buffer)
  expect(await a.onHandshake(resp as Buffer)).toBeUndefined()
}

function codeOf (fn: () => unknown): string {
  try {
    fn()
  } catch (err) {
    return (err as { code: string }).code
  }
  return 'opened'
}

async function rejectionOf (p: Promise<unknown>): Promise<{ code: string, reason?: string }> {
  try {
    await p
  } catch (err) {
    return err as { code: string, reason?: string }
  }
  return { code: 'accepted' }
}

let lo: Agent, hi: Agent, other: Agent

beforeAll(async () => {
  const agents: Agent[] = []
  for (let i = 0; i < 3; i++) {
    const key = await generateKeyPair('Ed25519')
    agents.push({ id: peerIdFromPrivateKey(key).toString(), key })
  }
  agents.sort((x, y) => x.id < y.id ? -1 : 1)
  ;[lo, hi, other] = agents as [Agent, Agent, Agent]
})

describe('overlay end-to-end sessions', () => {
  it('runs the handshake either way and carries 1 B, 1500 B and 1 MiB both ways', async () => {
    clock.t = T0
    for (const [first, second] of [[lo, hi], [hi, lo]] as Array<[Agent, Agent]>) {
      const a = endpoint(first, second)
      const b = endpoint(second, first)
      expect(a.ready).toBe(false)
      expect(a.needsHandshake()).toBe(true)
      expect(() => a.seal(Buffer.from('x'))).toThrow(E2eNotReadyError)
      const init = await a.createInit()
      expect(e2eMessageType(init)).toBe(E2E_INIT)
      expect(a.needsHandshake()).toBe(false) // an INIT is outstanding
      const resp = await b.onHandshake(init) as Buffer
      expect(e2eMessageType(resp)).toBe(E2E_RESP)
      expect(b.ready).toBe(true)
      expect(await a.onHandshake(resp)).toBeUndefined()
      expect(a.ready).toBe(true)
      expect(a.needsHandshake()).toBe(false)
      for (const size of [1, 1500, 1 << 20]) {
        const msg = pseudoRandomBytes(size, size)
        const sealed = a.seal(msg)
        expect(e2eMessageType(sealed)).toBe(E2E_DATA)
        expect(sealed.length).toBe(size + 33)
        if (size >= 64) expect(sealed.includes(msg.subarray(0, 64))).toBe(false) // no plaintext on the wire
        expect(b.open(sealed).equals(msg)).toBe(true)
        const back = b.seal(msg)
        expect(a.open(new Uint8Array(back)).equals(msg)).toBe(true) // plain Uint8Array in
      }
      expect(b.open(a.seal(Buffer.alloc(0))).length).toBe(0)
    }
  })

  it('a relay that sees every message can neither open, forge nor reflect DATA', async () => {
    clock.t = T0
    const a = endpoint(lo, hi)
    const b = endpoint(hi, lo)
    const relay = endpoint(other, lo) // the relay's own endpoint towards A, with its own key
    const init = await a.createInit()
    expect((await rejectionOf(relay.onHandshake(init))).code).toBe(E2eHandshakeError.code)
    const resp = await b.onHandshake(init) as Buffer
    expect((await rejectionOf(relay.onHandshake(resp))).code).toBe(E2eHandshakeError.code)
    await a.onHandshake(resp)
    const data = a.seal(Buffer.from('secret packet'))
    expect(codeOf(() => relay.open(data))).toBe(E2eAuthError.code)
    // even with a session of its own with A, the relay holds no key for A↔B
    const relayToA = endpoint(lo, other)
    await handshake(relay, relayToA)
    expect(codeOf(() => relay.open(data))).toBe(E2eAuthError.code)
    // A's own DATA sent back to A: same session id, but the other direction's key
    expect(codeOf(() => a.open(data))).toBe(E2eAuthError.code)
    expect(b.open(data).toString()).toBe('secret packet')
  })

  it('a relay cannot swap the ephemeral keys of the handshake', async () => {
    clock.t = T0
    const a = endpoint(lo, hi)
    const b = endpoint(hi, lo)
    const init = await a.createInit()
    const mine = await endpoint(other, hi).createInit() // a fresh X25519 key the relay holds
    const swapped = Buffer.from(init)
    mine.copy(swapped, 1, 1, 33)
    expect((await rejectionOf(b.onHandshake(swapped))).code).toBe(E2eHandshakeError.code)
    const resp = await b.onHandshake(init) as Buffer
    const swappedResp = Buffer.from(resp)
    mine.copy(swappedResp, 1, 1, 33)
    expect((await rejectionOf(a.onHandshake(swappedResp))).code).toBe(E2eHandshakeError.code)
    await a.onHandshake(resp)
    expect(b.open(a.seal(Buffer.from('ok'))).toString()).toBe('ok')
  })

  it('refuses a DATA message with any single bit flipped, and the original still opens', async () => {
    clock.t = T0
    const a = endpoint(lo, hi)
    const b = endpoint(hi, lo)
    await handshake(a, b)
    const data = a.seal(pseudoRandomBytes(40, 7))
    const seen = new Set<string>()
    for (let bit = 0; bit < data.length * 8; bit++) {
      const bad = Buffer.from(data)
      bad[bit >> 3] = (bad[bit >> 3] as number) ^ (1 << (bit & 7))
      const code = codeOf(() => b.open(bad))
      expect(code, `bit ${bit}`).not.toBe('opened')
      seen.add(code)
    }
    expect([...seen].sort()).toEqual([E2eAuthError.code, E2eMessageError.code].sort())
    expect(b.open(data).equals(pseudoRandomBytes(40, 7))).toBe(true)
    expect(codeOf(() => b.open(data.subarray(0, 32)))).toBe(E2eMessageError.code)
    expect(codeOf(() => b.open(Buffer.alloc(0)))).toBe(E2eMessageError.code)
  })

  it('refuses replays and DATA older than the window, accepts reordering within it', async () => {
    clock.t = T0
    const a = endpoint(lo, hi)
    const b = endpoint(hi, lo)
    await handshake(a, b)
    const sealed = Array.from({ length: 101 }, (_, i) => a.seal(Buffer.from(`m${i}`)))
    const open = (i: number): string => codeOf(() => expect(b.open(sealed[i] as Buffer).toString()).toBe(`m${i}`))
    expect(open(5)).toBe('opened')
    expect(open(5)).toBe(E2eReplayError.code)
    expect(open(3)).toBe('opened')
    expect(open(100)).toBe('opened')
    expect(open(37)).toBe('opened') // 63 behind the highest
    expect(open(36)).toBe(E2eReplayError.code) // 64 behind
    expect(open(3)).toBe(E2eReplayError.code)
    expect(open(99)).toBe('opened')
    expect(open(99)).toBe(E2eReplayError.code)
    expect(open(100)).toBe(E2eReplayError.code)
    expect(open(37)).toBe(E2eReplayError.code)
    expect(open(38)).toBe('opened')
  })

  it('refuses an INIT with a bad signature, for another responder, too old, replayed or truncated', async () => {
    clock.t = T0
    const b = endpoint(hi, lo)
    const good = await endpoint(lo, hi).createInit()

    const badSig = Buffer.from(good)
    badSig[badSig.length - 5] = (badSig[badSig.length - 5] as number) ^ 0x10
    const e1 = await rejectionOf(b.onHandshake(badSig))
    expect(e1.code).toBe(E2eHandshakeError.code)
    expect(e1.reason).toMatch(/signature/)

    const forOther = await endpoint(lo, other).createInit() // A → C, delivered to B
    expect((await rejectionOf(b.onHandshake(forOther))).code).toBe(E2eHandshakeError.code)
    const fromOther = await endpoint(other, hi).createInit() // C claiming to be A's stream
    expect((await rejectionOf(b.onHandshake(fromOther))).code).toBe(E2eHandshakeError.code)
    expect((await rejectionOf(b.onHandshake(await endpoint(hi, lo).createInit()))).code).toBe(E2eHandshakeError.code) // B's own, reflected

    const old = await endpoint(lo, hi, { now: () => T0 - 61_000 }).createInit()
    const e2 = await rejectionOf(b.onHandshake(old))
    expect(e2.code).toBe(E2eHandshakeError.code)
    expect(e2.reason).toMatch(/60 s/)
    const ahead = await endpoint(lo, hi, { now: () => T0 + 61_000 }).createInit()
    expect((await rejectionOf(b.onHandshake(ahead))).code).toBe(E2eHandshakeError.code)
    const skewed = await endpoint(lo, hi, { now: () => T0 - 59_000 }).createInit()
    expect(await b.onHandshake(skewed)).toBeInstanceOf(Buffer)

    for (const cut of [1, 20, 58, good.length - 1]) {
      expect((await rejectionOf(b.onHandshake(good.subarray(0, cut)))).code).toBe(E2eMessageError.code)
    }
    expect((await rejectionOf(b.onHandshake(Buffer.concat([good, Buffer.from([0])])))).code).toBe(E2eMessageError.code)
    expect((await rejectionOf(b.onHandshake(Buffer.alloc(0)))).code).toBe(E2eMessageError.code)
    expect(() => e2eMessageType(new Uint8Array(0))).toThrow(E2eMessageError)
    const asData = Buffer.from(good); asData[0] = E2E_DATA
    expect((await rejectionOf(b.onHandshake(asData))).code).toBe(E2eMessageError.code)

    expect(await b.onHandshake(good)).toBeInstanceOf(Buffer)
    const e3 = await rejectionOf(b.onHandshake(good))
    expect(e3.code).toBe(E2eHandshakeError.code)
    expect(e3.reason).toMatch(/answered already/)
  })

  it('accepts a RESP only for the outstanding INIT', async () => {
    clock.t = T0
    const a = endpoint(lo, hi)
    const b = endpoint(hi, lo)
    const stray = await b.onHandshake(await endpoint(lo, hi).createInit()) as Buffer // answers someone else's INIT
    expect((await rejectionOf(a.onHandshake(stray))).code).toBe(E2eHandshakeError.code) // nothing outstanding
    const init1 = await a.createInit()
    expect((await rejectionOf(a.onHandshake(stray))).code).toBe(E2eHandshakeError.code) // answers another INIT
    const init2 = await a.createInit() // replaces init1
    const resp1 = await b.onHandshake(init1) as Buffer
    expect((await rejectionOf(a.onHandshake(resp1))).code).toBe(E2eHandshakeError.code)
    expect(a.ready).toBe(false)
    expect((await rejectionOf(a.onHandshake(resp1.subarray(0, 40)))).code).toBe(E2eMessageError.code)
    const resp2 = await b.onHandshake(init2) as Buffer
    await a.onHandshake(resp2)
    expect(b.open(a.seal(Buffer.from('hi'))).toString()).toBe('hi')
    expect(a.open(b.seal(Buffer.from('lo'))).toString()).toBe('lo')
    expect((await rejectionOf(a.onHandshake(resp2))).code).toBe(E2eHandshakeError.code) // replayed RESP
  })

  it('resolves simultaneous INITs to one session, the lower peer id initiating', async () => {
    clock.t = T0
    const l = endpoint(lo, hi)
    const h = endpoint(hi, lo)
    const initL = await l.createInit()
    const initH = await h.createInit()
    // each direction is in order: h gets l's INIT, l gets h's INIT, then l gets the RESP
    const resp = await h.onHandshake(initL)
    expect(resp).toBeInstanceOf(Buffer)
    expect(await l.onHandshake(initH)).toBeUndefined()
    expect(l.ready).toBe(false)
    await l.onHandshake(resp as Buffer)
    expect(l.ready && h.ready).toBe(true)
    const fromL = l.seal(Buffer.from('L'))
    const fromH = h.seal(Buffer.from('H'))
    expect(fromL.subarray(1, 9).equals(fromH.subarray(1, 9))).toBe(true) // one session id
    expect(h.open(fromL).toString()).toBe('L')
    expect(l.open(fromH).toString()).toBe('H')
    expect(l.needsHandshake() || h.needsHandshake()).toBe(false)

    // the other arrival order at h gives the same outcome
    const l2 = endpoint(lo, hi)
    const h2 = endpoint(hi, lo)
    const i2L = await l2.createInit()
    const i2H = await h2.createInit()
    expect(await l2.onHandshake(i2H)).toBeUndefined()
    await l2.onHandshake(await h2.onHandshake(i2L) as Buffer)
    expect(h2.open(l2.seal(Buffer.from('x'))).toString()).toBe('x')
  })

  it('an outstanding INIT blocks a new one for 2 s, then may be sent again', async () => {
    clock.t = T0
    const a = endpoint(hi, lo)
    const b = endpoint(lo, hi)
    await a.createInit()
    expect(a.needsHandshake(T0 + 1_999)).toBe(false)
    expect(a.needsHandshake(T0 + 2_000)).toBe(true)
    clock.t = T0 + 2_500
    const again = await a.createInit()
    // the timed-out INIT of the lower peer no longer wins the tie
    await b.createInit()
    clock.t = T0 + 5_000
    const resp = await b.onHandshake(again)
    expect(resp).toBeInstanceOf(Buffer)
    await a.onHandshake(resp as Buffer)
    expect(b.open(a.seal(Buffer.from('y'))).toString()).toBe('y')
  })

  it('rekeys after rekeyMs; DATA of the old session still opens for 30 s, not after', async () => {
    clock.t = T0
    const l = endpoint(lo, hi, { rekeyMs: 10_000 })
    const h = endpoint(hi, lo, { rekeyMs: 10_000 })
    await handshake(h, l) // the higher id may start the first session
    const oldSid = h.seal(Buffer.from('probe')).subarray(1, 9)
    clock.t = T0 + 9_999
    expect(l.needsHandshake() || h.needsHandshake()).toBe(false)
    clock.t = T0 + 10_000
    expect(l.needsHandshake()).toBe(true)
    expect(h.needsHandshake()).toBe(false) // only the lower peer id rekeys
    const oldFromL = [l.seal(Buffer.from('old0')), l.seal(Buffer.from('old1')), l.seal(Buffer.from('old2'))]
    const oldFromH = h.seal(Buffer.from('oldH'))
    await handshake(l, h)
    const newFromL = l.seal(Buffer.from('new'))
    expect(newFromL.subarray(1, 9).equals(oldSid)).toBe(false)
    expect(newFromL.readBigUInt64BE(9)).toBe(0n) // counters restart per session
    expect(h.open(newFromL).toString()).toBe('new')
    expect(l.open(h.seal(Buffer.from('newH'))).toString()).toBe('newH')
    const rekeyedAt = clock.t
    clock.t = rekeyedAt + 29_999
    expect(h.open(oldFromL[0] as Buffer).toString()).toBe('old0')
    expect(codeOf(() => h.open(oldFromL[0] as Buffer))).toBe(E2eReplayError.code)
    expect(l.open(oldFromH).toString()).toBe('oldH')
    clock.t = rekeyedAt + 30_000
    expect(codeOf(() => h.open(oldFromL[1] as Buffer))).toBe(E2eAuthError.code)
    expect(codeOf(() => h.open(oldFromL[2] as Buffer))).toBe(E2eAuthError.code)
    expect(l.needsHandshake(rekeyedAt + 9_999)).toBe(false)
    expect(l.needsHandshake(rekeyedAt + 10_000)).toBe(true)
  })

  it('200 random messages delivered in random order within the window each open exactly once', async () => {
    clock.t = T0
    const a = endpoint(lo, hi)
    const b = endpoint(hi, lo)
    await handshake(a, b)
    for (let seed = 1; seed <= 20; seed++) {
      const rand = prng(seed)
      const [from, to] = seed % 2 === 0 ? [a, b] : [b, a]
      const msgs = Array.from({ length: 200 }, (_, i) => pseudoRandomBytes(1 + Math.floor(rand() * 2000), seed * 1000 + i))
      const sealed = msgs.map(m => from.seal(m))
      // delay each by < 60 positions: whatever arrives first is at most 59 ahead of any later one
      const order = sealed.map((_, i) => ({ i, at: i + rand() * 60 })).sort((x, y) => x.at - y.at).map(x => x.i)
      // every message twice, the copy at a random later moment
      const withCopies = [...order]
      for (const i of order) withCopies.splice(withCopies.indexOf(i) + 1 + Math.floor(rand() * 30), 0, i)
      const opened = new Map<number, number>()
      for (const i of withCopies) {
        try {
          expect(to.open(sealed[i] as Buffer).equals(msgs[i] as Buffer)).toBe(true)
          opened.set(i, (opened.get(i) ?? 0) + 1)
        } catch (err) {
          expect((err as { code: string }).code).toBe(E2eReplayError.code)
        }
      }
      expect([...opened.keys()].sort((x, y) => x - y)).toEqual(order.slice().sort((x, y) => x - y))
      expect([...opened.values()].every(n => n === 1)).toBe(true)
    }
  })

  it('INIT, RESP and DATA follow the documented layout and signed transcripts', async () => {
    clock.t = T0
    const a = endpoint(lo, hi)
    const b = endpoint(hi, lo)
    const lp = (s: string): Buffer => { const x = Buffer.from(s); const l = Buffer.alloc(2); l.writeUInt16BE(x.length); return Buffer.concat([l, x]) }
    const head = (label: string): Buffer => Buffer.concat([lp('ctpf-overlay-e2e/1'), lp(label), lp(lo.id), lp(hi.id)])
    const init = await a.createInit()
    const eA = init.subarray(1, 33); const nA = init.subarray(33, 49)
    expect(init.readBigUInt64BE(49)).toBe(BigInt(T0))
    expect(init.length).toBe(59 + init.readUInt16BE(57))
    expect(await lo.key.publicKey.verify(Buffer.concat([head('init'), eA, nA, init.subarray(49, 57)]), init.subarray(59))).toBe(true)
    const resp = await b.onHandshake(init) as Buffer
    expect(resp.length).toBe(51 + resp.readUInt16BE(49))
    expect(await hi.key.publicKey.verify(Buffer.concat([head('resp'), eA, nA, resp.subarray(1, 49)]), resp.subarray(51))).toBe(true)
    await a.onHandshake(resp)
    const d0 = a.seal(Buffer.from('abc')); const d1 = a.seal(Buffer.from('abc'))
    expect(d0.length).toBe(1 + 8 + 8 + 3 + 16)
    expect(d0.subarray(1, 9).equals(d1.subarray(1, 9))).toBe(true)
    expect([d0.readBigUInt64BE(9), d1.readBigUInt64BE(9)]).toEqual([0n, 1n])
    expect(d0.subarray(17).equals(d1.subarray(17))).toBe(false) // a fresh iv per counter

    // a genuinely signed INIT whose ephemeral key is a low-order point (all zeros) is refused
    const ts = Buffer.alloc(8); ts.writeBigUInt64BE(BigInt(T0))
    const zeros = Buffer.alloc(32); const nonce = Buffer.alloc(16, 9)
    const sig = await lo.key.sign(Buffer.concat([head('init'), zeros, nonce, ts]))
    const len = Buffer.alloc(2); len.writeUInt16BE(sig.length)
    const evil = Buffer.concat([Buffer.from([1]), zeros, nonce, ts, len, sig])
    const err = await rejectionOf(endpoint(hi, lo).onHandshake(evil))
    expect(err.code).toBe(E2eHandshakeError.code)
    expect(err.reason).toMatch(/ephemeral key/)
  })

  it('refuses endpoints for itself or for a peer id without an Ed25519 key', () => {
    expect(() => endpoint(lo, lo)).toThrow(TypeError)
    expect(() => endpoint(lo, 'not-a-peer-id')).toThrow()
  })
})
