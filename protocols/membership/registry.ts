/**
 * The verified set of membership records an agent holds. Every record is checked on the way
 * in: a schema, a signature, and a chain of authority back to the root key. Records whose
 * issuer is not known yet wait (bounded) until it is. Everything accepted is persisted.
 *
 * Validity is judged when asked, not only when stored: a member record issued by an admin
 * stays valid if it was issued before that admin's revocation, and stops counting if it was
 * issued after.
 */
import { canonicalJson } from '../codec.js'
import { Emitter } from '../events.js'
import { RecordInvalidError } from './errors.js'
import { ROOT_ISSUER, anyRecordSchema, newer, verifySignature } from './records.js'
import type { AnyRecord, MemberRecord, Revocation, Tags, TagsRecord } from './records.js'
import type { Sublevel } from '../../store/index.js'
import type { PublicKey } from '@libp2p/interface'

export interface Member {
  peerId: string
  tags: Tags
  caps: string[]
  issuer: string
  issuedAt: number
}

export interface RegistryEvents {
  'member:joined': Member
  'member:updated': Member
  'member:revoked': { peerId: string, issuer: string }
}

export type ApplyResult = 'accepted' | 'known' | 'stale' | 'pending'

const MAX_PENDING = 1024
/** A record dated further ahead than this is refused: clocks on a mesh are not that far apart. */
export const MAX_CLOCK_SKEW_MS = 5 * 60_000

function keyOf (r: AnyRecord): string { return `${r.type}/${r.peer}` }

export class MemberRegistry extends Emitter<RegistryEvents> {
  readonly meshId: string
  readonly #rootKey: PublicKey
  readonly #persist?: Sublevel<AnyRecord>
  readonly #records = new Map<string, AnyRecord>()
  readonly #pending = new Map<string, AnyRecord>()
  #validity = new Map<string, boolean>()

  /**
   * `persist` is optional: in an agent the records live in replicated state (`members/…`) and
   * the registry is the verified index over them, seeded with `applyMany` at start.
   */
  constructor (meshId: string, rootKey: PublicKey, persist?: Sublevel<AnyRecord>) {
    super()
    this.meshId = meshId
    this.#rootKey = rootKey
    this.#persist = persist
  }

  /** Loads the persisted records (verified again: the disk is not trusted more than the wire). */
  async load (): Promise<void> {
    if (this.#persist == null) return
    const all: AnyRecord[] = []
    for await (const [, value] of this.#persist.entries()) all.push(value)
    await this.applyMany(all, { silent: true, allowFuture: true })
  }

  /** All records, for a snapshot to a joining or syncing peer. */
  records (): AnyRecord[] {
    return [...this.#records.values()]
  }

  member (peerId: string): Member | undefined {
    const rec = this.#records.get(`member/${peerId}`) as MemberRecord | undefined
    if (rec == null || !this.isMember(peerId)) return undefined
    return this.#view(rec)
  }

  members (): Member[] {
    const out: Member[] = []
    for (const r of this.#records.values()) {
      if (r.type === 'member' && this.isMember(r.peer)) out.push(this.#view(r))
    }
    return out.sort((a, b) => a.issuedAt - b.issuedAt)
  }

  isRevoked (peerId: string): boolean {
    return this.#records.has(`revocation/${peerId}`)
  }

  isMember (peerId: string): boolean {
    const cached = this.#validity.get(peerId)
    if (cached !== undefined) return cached
    const rec = this.#records.get(`member/${peerId}`) as MemberRecord | undefined
    const ok = rec != null && !this.isRevoked(peerId) && this.#chains(rec, new Set())
    this.#validity.set(peerId, ok)
    return ok
  }

  isAdmin (peerId: string): boolean {
    return this.member(peerId)?.caps.includes('admin') === true
  }

  /** Verifies and stores records in any order (a snapshot); returns how many were accepted. */
  async applyMany (records: unknown[], opts: { silent?: boolean, allowFuture?: boolean } = {}): Promise<number> {
    let accepted = 0
    for (const r of records) {
      try {
        if (await this.apply(r, opts) === 'accepted') accepted++
      } catch { /* one bad record does not spoil the rest */ }
    }
    return accepted
  }

  /**
   * Verifies one record and stores it when it is new. Throws RecordInvalidError for a record
   * that is malformed, forged, foreign or from an issuer without authority.
   */
  async apply (input: unknown, opts: { silent?: boolean, allowFuture?: boolean } = {}): Promise<ApplyResult> {
    const parsed = anyRecordSchema.safeParse(input)
    if (!parsed.success) throw new RecordInvalidError(parsed.error.issues[0]?.message ?? 'malformed')
    const record = parsed.data
    if (record.mesh !== this.meshId) throw new RecordInvalidError(`record is for mesh ${record.mesh}`)
    if (opts.allowFuture !== true && record.issuedAt > Date.now() + MAX_CLOCK_SKEW_MS) throw new RecordInvalidError('record is dated in the future')
    const current = this.#records.get(keyOf(record))
    if (current != null) {
      if (canonicalJson(current) === canonicalJson(record)) return 'known'
      if (!newer(record, current)) return 'stale'
    }
    if (!(await verifySignature(record, this.#rootKey))) throw new RecordInvalidError('signature does not verify')

    const issuer = record.type === 'tags' ? record.peer : record.issuer
    if (issuer !== ROOT_ISSUER) {
      const issuerRecord = this.#records.get(`member/${issuer}`)
      if (issuerRecord == null) {
        this.#park(record)
        return 'pending'
      }
      if (record.type !== 'tags' && !this.#hasAdminAt(issuer, record.issuedAt)) throw new RecordInvalidError(`issuer ${issuer} is not an admin`)
    }

    const before = this.#snapshotMembership()
    this.#records.set(keyOf(record), record)
    this.#validity = new Map()
    await this.#persist?.put(keyOf(record), record)
    if (opts.silent !== true) this.#announce(before)
    await this.#retryPending(opts)
    return 'accepted'
  }

  #park (record: AnyRecord): void {
    if (this.#pending.size >= MAX_PENDING) {
      const oldest = this.#pending.keys().next().value
      if (oldest !== undefined) this.#pending.delete(oldest)
    }
    this.#pending.set(`${keyOf(record)}/${record.sig}`, record)
  }

  async #retryPending (opts: { silent?: boolean, allowFuture?: boolean }): Promise<void> {
    if (this.#pending.size === 0) return
    const waiting = [...this.#pending.values()]
    this.#pending.clear()
    for (const r of waiting) {
      try { await this.apply(r, opts) } catch { /* dropped */ }
    }
  }

  #snapshotMembership (): Map<string, string> {
    const m = new Map<string, string>()
    for (const mem of this.members()) m.set(mem.peerId, JSON.stringify([mem.tags, mem.caps]))
    for (const r of this.#records.values()) if (r.type === 'revocation') m.set(r.peer, 'revoked')
    return m
  }

  #announce (before: Map<string, string>): void {
    const after = this.#snapshotMembership()
    for (const [peer, state] of after) {
      const was = before.get(peer)
      if (was === state) continue
      if (state === 'revoked') {
        const rev = this.#records.get(`revocation/${peer}`) as Revocation
        this.emit('member:revoked', { peerId: peer, issuer: rev.issuer })
      } else if (was === undefined) {
        this.emit('member:joined', this.member(peer) as Member)
      } else {
        this.emit('member:updated', this.member(peer) as Member)
      }
    }
  }

  #view (rec: MemberRecord): Member {
    const self = this.#records.get(`tags/${rec.peer}`) as TagsRecord | undefined
    // granted tags win over what an agent says of itself
    return { peerId: rec.peer, tags: { ...(self?.tags ?? {}), ...rec.tags }, caps: [...rec.caps], issuer: rec.issuer, issuedAt: rec.issuedAt }
  }

  #hasAdminAt (peer: string, at: number): boolean {
    const rec = this.#records.get(`member/${peer}`) as MemberRecord | undefined
    if (rec == null || !rec.caps.includes('admin')) return false
    const rev = this.#records.get(`revocation/${peer}`)
    if (rev != null && rev.issuedAt <= at) return false
    return this.#chains(rec, new Set())
  }

  /** A member record chains to the root when its issuer is the root or was an admin when it signed. */
  #chains (rec: MemberRecord, seen: Set<string>): boolean {
    if (rec.issuer === ROOT_ISSUER) return true
    if (seen.has(rec.peer)) return false
    seen.add(rec.peer)
    const issuerRec = this.#records.get(`member/${rec.issuer}`) as MemberRecord | undefined
    if (issuerRec == null || !issuerRec.caps.includes('admin')) return false
    const rev = this.#records.get(`revocation/${rec.issuer}`)
    if (rev != null && rev.issuedAt <= rec.issuedAt) return false
    return this.#chains(issuerRec, seen)
  }
}
