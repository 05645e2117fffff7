/**
 * In-memory stand-ins for the overlay's unit tests: a replicated state shared by several
 * agents (last writer wins on (stamp, author), watchers per prefix), a membership view, and
 * IPv4 and IPv6 packets built by hand.
 */
import { ipv6ToBytes } from '../../protocols/overlay/index.js'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import type { OverlayMembers, OverlayState } from '../../protocols/overlay/index.js'
import type { PrivateKey } from '@libp2p/interface'
import type { StateRecord } from '../../protocols/state/index.js'

const MESH = 'ctpf-ov-test-mesh'

const keys = new Map<string, PrivateKey>()

/** A fresh Ed25519 key for a test node (`createLibp2p({ privateKey })`), so `signer(peer)` can sign as it. */
export async function newKey (): Promise<PrivateKey> {
  const key = await generateKeyPair('Ed25519')
  keys.set(peerIdFromPrivateKey(key).toString(), key)
  return key
}

/** Signs as a peer made with `newKey()` (an overlay service's `sign`). */
export function signer (peer: string): (data: Uint8Array) => Promise<Uint8Array> {
  return async data => {
    const key = keys.get(peer)
    if (key == null) throw new Error(`no test key for ${peer}`)
    return await key.sign(data)
  }
}

/** One keyspace seen by many agents; `view(peer)` writes as that peer. */
export class SharedState {
  readonly records = new Map<string, StateRecord>()
  readonly #watchers = new Set<{ prefix: string, fn: (r: StateRecord) => void }>()
  #t = 1_000

  /** Stores a record as `author` with the next stamp (or the one given) and tells watchers. */
  put (author: string, key: string, value: unknown, t?: number): StateRecord {
    const r: StateRecord = { mesh: MESH, key, value: value ?? null, stamp: { t: t ?? ++this.#t, c: 0 }, author, sig: 'x' }
    this.records.set(key, r)
    for (const w of this.#watchers) if (key.startsWith(w.prefix)) w.fn(r)
    return r
  }

  view (self: string): OverlayState {
    return {
      write: async (key, value) => this.put(self, key, value),
      delete: async key => this.put(self, key, null),
      store: {
        list: <T>(prefix: string) => [...this.records.values()]
          .filter(r => r.key.startsWith(prefix) && r.value !== null)
          .sort((a, b) => a.key < b.key ? -1 : 1)
          .map(record => ({ key: record.key, value: record.value as T, record })),
        watch: (prefix, fn) => {
          const w = { prefix, fn }
          this.#watchers.add(w)
          return () => { this.#watchers.delete(w) }
        }
      }
    }
  }
}

/** Members with tags; `revoke` and `setTags` notify like the registry does. */
export class FakeMembers implements OverlayMembers {
  readonly tags = new Map<string, Record<string, string>>()
  readonly #listeners = new Set<() => void>()

  add (peer: string, tags: Record<string, string> = {}): void { this.tags.set(peer, tags); this.#notify() }
  revoke (peer: string): void { this.tags.delete(peer); this.#notify() }
  setTags (peer: string, tags: Record<string, string>): void { this.tags.set(peer, tags); this.#notify() }
  isMember = (peer: string): boolean => this.tags.has(peer)
  tagsOf = (peer: string): Record<string, string> => this.tags.get(peer) ?? {}
  list = (): string[] => [...this.tags.keys()]
  onChange = (fn: () => void): (() => void) => { this.#listeners.add(fn); return () => { this.#listeners.delete(fn) } }
  #notify (): void { for (const l of this.#listeners) l() }
}

function checksum (buf: Buffer): number {
  let s = 0
  for (let i = 0; i + 1 < buf.length; i += 2) s += buf.readUInt16BE(i)
  if (buf.length % 2 === 1) s += (buf[buf.length - 1] as number) << 8
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16)
  return ~s & 0xffff
}

function ipv4 (src: string, dst: string, proto: number, l4: Buffer): Buffer {
  const h = Buffer.alloc(20)
  h[0] = 0x45
  h.writeUInt16BE(20 + l4.length, 2)
  h[8] = 64
  h[9] = proto
  src.split('.').forEach((o, i) => { h[12 + i] = Number(o) })
  dst.split('.').forEach((o, i) => { h[16 + i] = Number(o) })
  h.writeUInt16BE(checksum(h), 10)
  return Buffer.concat([h, l4])
}

/** An ICMP echo request (type 8) or reply (type 0). */
export function icmpEcho (src: string, dst: string, id: number, seq: number, type: 8 | 0 = 8, payload = Buffer.from('ctpf-ov')): Buffer {
  const m = Buffer.alloc(8 + payload.length)
  m[0] = type
  m.writeUInt16BE(id, 4)
  m.writeUInt16BE(seq, 6)
  payload.copy(m, 8)
  m.writeUInt16BE(checksum(m), 2)
  return ipv4(src, dst, 1, m)
}

/** A TCP segment (checksum left zero: the fake TUN does not check it). */
export function tcp (src: string, dst: string, sport: number, dport: number, flags = 0x02, payload = Buffer.alloc(0)): Buffer {
  const t = Buffer.alloc(20 + payload.length)
  t.writeUInt16BE(sport, 0)
  t.writeUInt16BE(dport, 2)
  t[12] = 0x50
  t[13] = flags
  t.writeUInt16BE(65535, 14)
  payload.copy(t, 20)
  return ipv4(src, dst, 6, t)
}

function udpDatagram (sport: number, dport: number, payload: Buffer): Buffer {
  const u = Buffer.alloc(8 + payload.length)
  u.writeUInt16BE(sport, 0)
  u.writeUInt16BE(dport, 2)
  u.writeUInt16BE(8 + payload.length, 4)
  payload.copy(u, 8)
  return u
}

export function udp (src: string, dst: string, sport: number, dport: number, payload = Buffer.from('x')): Buffer {
  return ipv4(src, dst, 17, udpDatagram(sport, dport, payload))
}

/** A UDP datagram over IPv6 (checksum left zero: the fake TUN does not check it). */
export function udp6 (src: string, dst: string, sport: number, dport: number, payload = Buffer.from('x')): Buffer {
  const u = udpDatagram(sport, dport, payload)
  const h = Buffer.alloc(40)
  h[0] = 0x60
  h.writeUInt16BE(u.length, 4)
  h[6] = 17
  h[7] = 64
  ipv6ToBytes(src).copy(h, 8)
  ipv6ToBytes(dst).copy(h, 24)
  return Buffer.concat([h, u])
}

/** Deterministic pseudo-random bytes. */
export function pseudoRandomBytes (size: number, seed = 1): Buffer {
  const out = Buffer.alloc(size)
  let x = seed >>> 0 || 1
  for (let i = 0; i < size; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    out[i] = x & 0xff
  }
  return out
}
