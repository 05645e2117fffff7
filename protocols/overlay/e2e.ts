/**
 * End-to-end session crypto for overlay packets that a member relays as opaque blobs: two agents
 * run a small signed X25519 key exchange through the relay (INIT, RESP), then seal every frame
 * with AES-256-GCM (DATA). The relay sees only ciphertext and cannot forge, replay or reflect it.
 *
 * Wire (big-endian, every message starts with its type byte; A = initiator, B = responder):
 * - INIT 1: eA (32) | nA (16) | ts u64 ms | sigLen u16 | sig_A over `CTX|"init"|A|B|eA|nA|ts`
 * - RESP 2: eB (32) | nB (16) | sigLen u16 | sig_B over `CTX|"resp"|A|B|eA|nA|eB|nB`
 * - DATA 3: sid (8) | counter u64 | ciphertext | tag (16); iv = 0000 | counter, AAD = type | sid | counter
 * Strings in a transcript (CTX, label, A, B) are each prefixed by their u16 byte length.
 * Keys: HKDF-SHA256(X25519(eA, eB), salt nA|nB, info CTX|"keys"|A|B) → kAB | kBA | sid (72 bytes).
 *
 * The module assumes each direction delivers handshake messages in order (one stream per hop),
 * which is what the simultaneous-INIT rule needs to leave both sides with one session.
 */
import { createCipheriv, createDecipheriv, createSecretKey, diffieHellman, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { peerIdFromString } from '@libp2p/peer-id'
import type { PublicKey } from '@libp2p/interface'
import { generateSealKeyPair, importSealPublicKey } from '../seal/keys.js'
import { E2eAuthError, E2eCounterExhaustedError, E2eHandshakeError, E2eMessageError, E2eNotReadyError, E2eReplayError } from './errors.js'

export const E2E_INIT = 1
export const E2E_RESP = 2
export const E2E_DATA = 3

const CTX = 'ctpf-overlay-e2e/1'
const EPH_BYTES = 32
const NONCE_BYTES = 16
const SID_BYTES = 8
const TAG_BYTES = 16
/** type | sid | counter: the DATA header, which is also its AAD. */
const DATA_HEADER = 1 + SID_BYTES + 8
const INIT_FIXED = 1 + EPH_BYTES + NONCE_BYTES + 8 + 2
const RESP_FIXED = 1 + EPH_BYTES + NONCE_BYTES + 2
const MAX_CLOCK_SKEW_MS = 60_000
const INIT_TIMEOUT_MS = 2_000
/** How long a RESP may still answer an INIT nobody replaced. */
const INIT_LIFETIME_MS = MAX_CLOCK_SKEW_MS
const OLD_SESSION_MS = 30_000
const DEFAULT_REKEY_MS = 120_000
const COUNTER_LIMIT = 1n << 60n
/** Ask for a new session well before the counter runs out, whichever side we are. */
const COUNTER_REKEY = COUNTER_LIMIT - (1n << 32n)
const WINDOW = 64n
const WINDOW_MASK = (1n << WINDOW) - 1n
const MAX_ID_BYTES = 1024

/** The type byte of an end-to-end message. Throws E2eMessageError on an empty one. */
export function e2eMessageType (msg: Uint8Array): number {
  if (msg.length === 0) throw new E2eMessageError('empty end-to-end message')
  return msg[0] as number
}

export interface E2eInit {
  /** This agent's peer id. */
  self: string
  /** The peer id at the other end; its Ed25519 key (inside the id) checks the handshake. */
  peer: string
  /** Signs with this agent's libp2p private key. */
  sign: (data: Uint8Array) => Promise<Uint8Array>
  /** Clock in ms since the epoch (tests inject one). Default Date.now. */
  now?: () => number
  /** The lower peer id starts a new session after this long. Default 120 000. */
  rekeyMs?: number
}

interface Pending {
  priv: KeyObject
  eA: Buffer
  nA: Buffer
  ts: Buffer
  sentAt: number
}

interface SendSession {
  sid: Buffer
  key: KeyObject
  counter: bigint
  createdAt: number
}

interface RecvSession {
  key: KeyObject
  /** Highest counter that opened, -1 before the first. */
  highest: bigint
  /** Bit i set: counter `highest - i` opened. */
  seen: bigint
  /** Infinity while this is the current session. */
  expiresAt: number
}

/**
 * One end of an end-to-end session with one peer. Handshake messages go through `createInit` /
 * `onHandshake`, frames through `seal` / `open` (synchronous: one cipher object per call).
 */
export class E2eEndpoint {
  private readonly self: string
  private readonly peer: string
  private readonly sign: (data: Uint8Array) => Promise<Uint8Array>
  private readonly now: () => number
  private readonly rekeyMs: number
  private readonly lower: boolean
  private readonly peerKey: PublicKey
  private pending: Pending | undefined
  private send: SendSession | undefined
  private readonly recv = new Map<bigint, RecvSession>()
  /** nA (hex) of INITs already answered → when to forget them. */
  private readonly answered = new Map<string, number>()

  constructor (init: E2eInit) {
    if (init.self === init.peer) throw new TypeError('an end-to-end session needs two different peers')
    for (const id of [init.self, init.peer]) {
      if (Buffer.byteLength(id) > MAX_ID_BYTES) throw new TypeError('peer id too long')
    }
    const key = peerIdFromString(init.peer).publicKey
    if (key == null || key.type !== 'Ed25519') throw new TypeError(`peer id ${init.peer} does not embed an Ed25519 public key`)
    this.self = init.self
    this.peer = init.peer
    this.sign = init.sign
    this.now = init.now ?? Date.now
    this.rekeyMs = init.rekeyMs ?? DEFAULT_REKEY_MS
    this.lower = init.self < init.peer
    this.peerKey = key
  }

  /** A session exists to seal with. */
  get ready (): boolean {
    return this.send != null
  }

  /**
   * True when this side should send an INIT now: no session yet, or the session is older than
   * `rekeyMs` and this is the lower peer id — unless an INIT went out less than 2 s ago.
   */
  needsHandshake (now = this.now()): boolean {
    if (this.pending != null && now - this.pending.sentAt < INIT_TIMEOUT_MS) return false
    const s = this.send
    if (s == null) return true
    if (s.counter >= COUNTER_REKEY) return true
    return this.lower && now - s.createdAt >= this.rekeyMs
  }

  /** A new INIT, remembered as the outstanding one (replacing any earlier). */
  async createInit (): Promise<Buffer> {
    const { publicKey, privateKey } = generateSealKeyPair()
    const eA = Buffer.from(publicKey, 'base64url')
    const nA = randomBytes(NONCE_BYTES)
    const now = this.now()
    const ts = Buffer.allocUnsafe(8)
    ts.writeBigUInt64BE(BigInt(Math.max(0, Math.floor(now))))
    const sig = await this.sign(transcript('init', this.self, this.peer, eA, nA, ts))
    if (sig.length > 0xffff) throw new RangeError('signature too long')
    const msg = Buffer.allocUnsafe(INIT_FIXED + sig.length)
    msg[0] = E2E_INIT
    eA.copy(msg, 1)
    nA.copy(msg, 1 + EPH_BYTES)
    ts.copy(msg, 1 + EPH_BYTES + NONCE_BYTES)
    msg.writeUInt16BE(sig.length, INIT_FIXED - 2)
    msg.set(sig, INIT_FIXED)
    this.pending = { priv: privateKey, eA, nA, ts, sentAt: now }
    return msg
  }

  /**
   * Handles an INIT or RESP from the peer. INIT → the RESP to send back (the new session is
   * installed), or undefined when the INIT loses the simultaneous-INIT tie; RESP → undefined
   * (installed). Throws E2eMessageError when the message is malformed, E2eHandshakeError when
   * it is refused (stale, bad signature, not for this pair, replayed, not answering our INIT).
   */
  async onHandshake (msg: Uint8Array): Promise<Buffer | undefined> {
    const type = e2eMessageType(msg)
    const buf = asBuffer(msg)
    if (type === E2E_INIT) return await this.onInit(buf)
    if (type === E2E_RESP) {
      await this.onResp(buf)
      return undefined
    }
    throw new E2eMessageError(`message type ${type} is not a handshake message`)
  }

  /** Seals one frame as a DATA message. Throws E2eNotReadyError without a session. */
  seal (plaintext: Uint8Array): Buffer {
    const s = this.send
    if (s == null) throw new E2eNotReadyError(this.peer)
    if (s.counter >= COUNTER_LIMIT) throw new E2eCounterExhaustedError(this.peer)
    const counter = s.counter++
    const out = Buffer.allocUnsafe(DATA_HEADER + plaintext.length + TAG_BYTES)
    out[0] = E2E_DATA
    s.sid.copy(out, 1)
    out.writeBigUInt64BE(counter, 1 + SID_BYTES)
    const cipher = createCipheriv('aes-256-gcm', s.key, ivFor(counter), { authTagLength: TAG_BYTES })
    cipher.setAAD(out.subarray(0, DATA_HEADER))
    cipher.update(plaintext).copy(out, DATA_HEADER)
    cipher.final()
    cipher.getAuthTag().copy(out, DATA_HEADER + plaintext.length)
    return out
  }

  /**
   * The plaintext of a DATA message. Throws E2eMessageError (malformed), E2eAuthError (unknown
   * or expired session, bad tag) or E2eReplayError (seen already, or older than the window).
   */
  open (msg: Uint8Array): Buffer {
    if (msg.length < DATA_HEADER + TAG_BYTES) throw new E2eMessageError('DATA message too short')
    if (msg[0] !== E2E_DATA) throw new E2eMessageError(`message type ${msg[0] as number} is not DATA`)
    const buf = asBuffer(msg)
    const sid = buf.readBigUInt64BE(1)
    const r = this.recv.get(sid)
    if (r == null) throw new E2eAuthError('DATA names no session with this peer')
    if (r.expiresAt !== Infinity && this.now() >= r.expiresAt) {
      this.recv.delete(sid)
      throw new E2eAuthError('DATA names an expired session')
    }
    const counter = buf.readBigUInt64BE(1 + SID_BYTES)
    if (counter <= r.highest) {
      const back = r.highest - counter
      if (back >= WINDOW) throw new E2eReplayError('DATA is older than the replay window')
      if (((r.seen >> back) & 1n) !== 0n) throw new E2eReplayError('DATA was received already')
    }
    const decipher = createDecipheriv('aes-256-gcm', r.key, ivFor(counter), { authTagLength: TAG_BYTES })
    decipher.setAAD(buf.subarray(0, DATA_HEADER))
    decipher.setAuthTag(buf.subarray(buf.length - TAG_BYTES))
    const plaintext = decipher.update(buf.subarray(DATA_HEADER, buf.length - TAG_BYTES))
    try {
      decipher.final()
    } catch {
      throw new E2eAuthError('DATA did not authenticate')
    }
    if (counter > r.highest) {
      const shift = counter - r.highest
      r.seen = shift >= WINDOW ? 1n : ((r.seen << shift) | 1n) & WINDOW_MASK
      r.highest = counter
    } else {
      r.seen |= 1n << (r.highest - counter)
    }
    return plaintext
  }

  private async onInit (msg: Buffer): Promise<Buffer | undefined> {
    if (msg.length < INIT_FIXED) throw new E2eMessageError('INIT too short')
    const sigLen = msg.readUInt16BE(INIT_FIXED - 2)
    if (msg.length !== INIT_FIXED + sigLen) throw new E2eMessageError('INIT length does not match its signature length')
    const eA = msg.subarray(1, 1 + EPH_BYTES)
    const nA = msg.subarray(1 + EPH_BYTES, 1 + EPH_BYTES + NONCE_BYTES)
    const tsBytes = msg.subarray(1 + EPH_BYTES + NONCE_BYTES, INIT_FIXED - 2)
    const sig = msg.subarray(INIT_FIXED)
    const now = this.now()
    const ts = Number(tsBytes.readBigUInt64BE(0))
    if (Math.abs(now - ts) > MAX_CLOCK_SKEW_MS) throw new E2eHandshakeError('INIT timestamp is more than 60 s away from this clock')
    // A is the peer, B is us: an INIT meant for another pair fails here like a forged one.
    const data = transcript('init', this.peer, this.self, eA, nA, tsBytes)
    if (!await this.verify(data, sig)) throw new E2eHandshakeError('INIT signature does not verify for this pair of peers')
    this.forgetAnswered(now)
    const nonce = nA.toString('hex')
    if (this.answered.has(nonce)) throw new E2eHandshakeError('INIT was answered already')

    const p = this.pending
    if (p != null && now - p.sentAt < INIT_TIMEOUT_MS) {
      // Both sent an INIT: the lower peer id stays initiator.
      if (this.lower) return undefined
    }
    const { publicKey, privateKey } = generateSealKeyPair()
    const eB = Buffer.from(publicKey, 'base64url')
    const nB = randomBytes(NONCE_BYTES)
    const keys = derive(privateKey, eA, nA, nB, this.peer, this.self)
    this.pending = undefined
    this.answered.set(nonce, ts + 2 * MAX_CLOCK_SKEW_MS)
    const rsig = await this.sign(transcript('resp', this.peer, this.self, eA, nA, eB, nB))
    if (rsig.length > 0xffff) throw new RangeError('signature too long')
    const resp = Buffer.allocUnsafe(RESP_FIXED + rsig.length)
    resp[0] = E2E_RESP
    eB.copy(resp, 1)
    nB.copy(resp, 1 + EPH_BYTES)
    resp.writeUInt16BE(rsig.length, RESP_FIXED - 2)
    resp.set(rsig, RESP_FIXED)
    this.install(keys.sid, keys.kBA, keys.kAB)
    return resp
  }

  private async onResp (msg: Buffer): Promise<void> {
    if (msg.length < RESP_FIXED) throw new E2eMessageError('RESP too short')
    const sigLen = msg.readUInt16BE(RESP_FIXED - 2)
    if (msg.length !== RESP_FIXED + sigLen) throw new E2eMessageError('RESP length does not match its signature length')
    const p = this.pending
    if (p == null || this.now() - p.sentAt > INIT_LIFETIME_MS) throw new E2eHandshakeError('RESP without an outstanding INIT')
    const eB = msg.subarray(1, 1 + EPH_BYTES)
    const nB = msg.subarray(1 + EPH_BYTES, 1 + EPH_BYTES + NONCE_BYTES)
    const data = transcript('resp', this.self, this.peer, p.eA, p.nA, eB, nB)
    if (!await this.verify(data, msg.subarray(RESP_FIXED))) throw new E2eHandshakeError('RESP does not answer our INIT or its signature does not verify')
    if (this.pending !== p) throw new E2eHandshakeError('RESP answers an INIT that was replaced')
    const keys = derive(p.priv, eB, p.nA, nB, this.self, this.peer)
    this.pending = undefined
    this.install(keys.sid, keys.kAB, keys.kBA)
  }

  private async verify (data: Uint8Array, sig: Uint8Array): Promise<boolean> {
    try {
      return await this.peerKey.verify(data, sig)
    } catch {
      return false
    }
  }

  /** The new session seals from now on; the previous one still opens for 30 s. */
  private install (sid: Buffer, sendKey: KeyObject, recvKey: KeyObject): void {
    const now = this.now()
    for (const [id, r] of this.recv) {
      if (r.expiresAt === Infinity) r.expiresAt = now + OLD_SESSION_MS
      else if (now >= r.expiresAt) this.recv.delete(id)
    }
    this.send = { sid, key: sendKey, counter: 0n, createdAt: now }
    this.recv.set(sid.readBigUInt64BE(0), { key: recvKey, highest: -1n, seen: 0n, expiresAt: Infinity })
  }

  private forgetAnswered (now: number): void {
    for (const [nonce, until] of this.answered) if (now >= until) this.answered.delete(nonce)
  }
}

function asBuffer (msg: Uint8Array): Buffer {
  return Buffer.isBuffer(msg) ? msg : Buffer.from(msg.buffer, msg.byteOffset, msg.byteLength)
}

function ivFor (counter: bigint): Buffer {
  const iv = Buffer.alloc(12)
  iv.writeBigUInt64BE(counter, 4)
  return iv
}

function field (s: string): Buffer {
  const bytes = Buffer.from(s, 'utf8')
  const out = Buffer.allocUnsafe(2 + bytes.length)
  out.writeUInt16BE(bytes.length)
  bytes.copy(out, 2)
  return out
}

/** CTX | label | A | B (each length-prefixed) | fixed-size fields. */
function transcript (label: string, a: string, b: string, ...fixed: Uint8Array[]): Buffer {
  return Buffer.concat([field(CTX), field(label), field(a), field(b), ...fixed])
}

interface SessionKeys { kAB: KeyObject, kBA: KeyObject, sid: Buffer }

/** X25519 with our ephemeral private key and the peer's ephemeral public key, then HKDF. */
function derive (priv: KeyObject, peerEphemeral: Buffer, nA: Buffer, nB: Buffer, a: string, b: string): SessionKeys {
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey: priv, publicKey: importSealPublicKey(peerEphemeral.toString('base64url'), 'the peer') })
  } catch {
    throw new E2eHandshakeError('the peer\'s ephemeral key is not a usable X25519 key')
  }
  if (shared.every(b => b === 0)) throw new E2eHandshakeError('the peer\'s ephemeral key is a low-order point')
  const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([nA, nB]), transcript('keys', a, b), 2 * 32 + SID_BYTES))
  const keys = {
    kAB: createSecretKey(okm.subarray(0, 32)),
    kBA: createSecretKey(okm.subarray(32, 64)),
    sid: Buffer.from(okm.subarray(64, 64 + SID_BYTES))
  }
  okm.fill(0)
  shared.fill(0)
  return keys
}
