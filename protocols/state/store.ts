/**
 * The replicated keyspace held by one agent: every record verified (schema, signature,
 * author's membership, write rules, clock skew, size) before it is stored; last writer wins
 * on (stamp, author); deletes are tombstones, collected after a horizon. Writes are persisted
 * before they are acknowledged; a batch from a sync lands in one atomic level batch.
 */
import { createHash } from 'node:crypto'
import { canonicalJson } from '../codec.js'
import { StateKeyError, StateRecordRefusedError } from './errors.js'
import { HybridClock } from './hlc.js'
import { MAX_VALUE_BYTES, isTombstone, keySchema, signStateRecord, stateRecordSchema, supersedes, valueSize, verifyStateRecord } from './records.js'
import type { StateRecord } from './records.js'
import type { Authority, WriteRules } from './rules.js'
import type { Sublevel } from '../../store/index.js'
import type { PrivateKey } from '@libp2p/interface'

export const MAX_CLOCK_SKEW_MS = 60_000
export const DEFAULT_TOMBSTONE_HORIZON_MS = 7 * 24 * 3600_000
export const BUCKETS = 256

export type Watcher = (record: StateRecord) => void
/**
 * A check of a record's value for one key prefix, run before the author's membership is
 * checked (so a record can carry the membership that makes its author known — `members/`).
 * Throws StateRecordRefusedError to refuse.
 */
export type ValueCheck = (record: StateRecord) => Promise<void>
export type ApplyOutcome = 'accepted' | 'known' | 'stale'

export interface StateStoreInit {
  meshId: string
  self: string
  privateKey: PrivateKey
  persist: Sublevel<StateRecord>
  rules: WriteRules
  authority: Authority
  now?: () => number
  tombstoneHorizonMs?: number
  /** Value checks by key prefix. */
  checks?: ReadonlyArray<{ prefix: string, check: ValueCheck }>
}

export interface RefusalCounters { [reason: string]: number }

export class StateStore {
  readonly refused: RefusalCounters = {}
  readonly #init: StateStoreInit
  readonly #clock: HybridClock
  readonly #records = new Map<string, StateRecord>()
  readonly #watchers = new Map<string, Set<Watcher>>()
  readonly #bucketDigest = new Map<number, string>()
  readonly #bucketKeys = Array.from({ length: BUCKETS }, () => new Set<string>())
  /** Keys by their first segment (`jobs`, `agents` …): `list` looks only at its own prefix. */
  readonly #byTop = new Map<string, Set<string>>()
  readonly #now: () => number

  constructor (init: StateStoreInit) {
    this.#init = init
    this.#now = init.now ?? Date.now
    this.#clock = new HybridClock(this.#now)
  }

  async load (): Promise<void> {
    for await (const [, r] of this.#init.persist.entries()) {
      this.#records.set(r.key, r)
      this.#bucketKeys[bucketOf(r.key)].add(r.key)
      this.#indexTop(r.key)
      this.#clock.observe(r.stamp)
    }
  }

  get size (): number { return this.#records.size }

  /** The live value of a key (undefined for missing and deleted keys). */
  get<T = unknown> (key: string): T | undefined {
    const r = this.#records.get(key)
    return r == null || isTombstone(r) ? undefined : r.value as T
  }

  record (key: string): StateRecord | undefined {
    return this.#records.get(key)
  }

  /** Live records under a prefix, in key order. */
  list<T = unknown> (prefix: string): Array<{ key: string, value: T, record: StateRecord }> {
    const out: Array<{ key: string, value: T, record: StateRecord }> = []
    const slash = prefix.indexOf('/')
    const keys = slash > 0 ? this.#byTop.get(prefix.slice(0, slash)) ?? [] : this.#records.keys()
    for (const key of keys) {
      const r = this.#records.get(key) as StateRecord
      if (key.startsWith(prefix) && !isTombstone(r)) out.push({ key, value: r.value as T, record: r })
    }
    return out.sort((a, b) => a.key < b.key ? -1 : a.key > b.key ? 1 : 0)
  }

  #indexTop (key: string): void {
    const top = key.slice(0, key.indexOf('/'))
    let set = this.#byTop.get(top)
    if (set == null) { set = new Set(); this.#byTop.set(top, set) }
    set.add(key)
  }

  /** Calls `fn` for every accepted change under `prefix` (tombstones too). */
  watch (prefix: string, fn: Watcher): () => void {
    let set = this.#watchers.get(prefix)
    if (set == null) { set = new Set(); this.#watchers.set(prefix, set) }
    set.add(fn)
    return () => { set.delete(fn) }
  }

  /** Writes a key as this agent: signed, checked like any other record, persisted. */
  async write (key: string, value: unknown): Promise<StateRecord> {
    const k = keySchema.safeParse(key)
    if (!k.success) throw new StateKeyError(key, k.error.issues[0]?.message ?? 'invalid')
    // every other agent would refuse these: refuse them here, where the writer hears of it
    if (valueSize(value) > MAX_VALUE_BYTES) throw new StateRecordRefusedError('oversize', `value of ${key} is larger than ${MAX_VALUE_BYTES} bytes`)
    if (!this.#init.rules.permits(key, this.#init.self, this.#init.authority)) throw new StateRecordRefusedError('unauthorized', `this agent may not write ${key}`)
    const record = await signStateRecord({ mesh: this.#init.meshId, key, value: value ?? null, stamp: this.#clock.tick(), author: this.#init.self }, this.#init.privateKey)
    await this.applyMany([record])
    return record
  }

  async delete (key: string): Promise<StateRecord> {
    return await this.write(key, null)
  }

  /** Checks a record from the network. Throws StateRecordRefusedError. */
  async verify (input: unknown): Promise<StateRecord> {
    try {
      return await this.#check(input)
    } catch (err) {
      this.#count(err)
      throw err
    }
  }

  /**
   * Checks records from one peer's batch. A record refused because its author (or the issuer
   * of a membership record) is not known yet is tried again after the rest of the batch: a
   * late joiner's first sync carries the members and their writes together, in any order.
   * Refused records are counted and dropped.
   */
  async verifyMany (inputs: unknown[]): Promise<StateRecord[]> {
    const good: StateRecord[] = []
    let waiting: unknown[] = []
    let errors: unknown[] = []
    for (const input of inputs) {
      // most of a sync round's records are already held: no signature check for those
      if (this.holdsOrSupersedes(input)) continue
      try {
        good.push(await this.#check(input))
      } catch (err) {
        if (err instanceof StateRecordRefusedError && (err.reason === 'author' || err.reason === 'pending')) waiting.push(input)
        else this.#count(err)
      }
    }
    while (waiting.length > 0) {
      const retry = waiting
      waiting = []
      errors = []
      for (const input of retry) {
        try {
          good.push(await this.#check(input))
        } catch (err) {
          waiting.push(input)
          errors.push(err)
        }
      }
      if (waiting.length === retry.length) break
    }
    for (const err of errors) this.#count(err)
    return good
  }

  async #check (input: unknown): Promise<StateRecord> {
    const parsed = stateRecordSchema.safeParse(input)
    if (!parsed.success) throw new StateRecordRefusedError('malformed', parsed.error.issues[0]?.message ?? 'malformed record')
    const r = parsed.data
    if (r.mesh !== this.#init.meshId) throw new StateRecordRefusedError('foreign', `record is for mesh ${r.mesh}`)
    if (valueSize(r.value) > MAX_VALUE_BYTES) throw new StateRecordRefusedError('oversize', `value of ${r.key} is larger than ${MAX_VALUE_BYTES} bytes`)
    if (r.stamp.t > this.#now() + MAX_CLOCK_SKEW_MS) throw new StateRecordRefusedError('future', `record ${r.key} is stamped ${r.stamp.t - this.#now()} ms in the future`)
    for (const { prefix, check } of this.#init.checks ?? []) if (r.key.startsWith(prefix)) await check(r)
    if (!this.#init.authority.isMember(r.author)) throw new StateRecordRefusedError('author', `author ${r.author} is not a member`)
    if (!this.#init.rules.permits(r.key, r.author, this.#init.authority)) throw new StateRecordRefusedError('unauthorized', `${r.author} may not write ${r.key}`)
    if (!(await verifyStateRecord(r))) throw new StateRecordRefusedError('signature', `signature of ${r.key} does not verify`)
    return r
  }

  #count (err: unknown): void {
    const reason = err instanceof StateRecordRefusedError ? err.reason : 'malformed'
    this.refused[reason] = (this.refused[reason] ?? 0) + 1
  }

  /**
   * True when the held record for this key is the same as, or wins over, `input` — which
   * can then be dropped without verifying it. Malformed input is never "held".
   */
  holdsOrSupersedes (input: unknown): boolean {
    const r = input as Partial<StateRecord> | null
    if (r == null || typeof r.key !== 'string' || typeof r.author !== 'string' || typeof r.sig !== 'string' || r.stamp == null) return false
    const held = this.#records.get(r.key)
    if (held == null) return false
    if (held.sig === r.sig && held.author === r.author && held.stamp.t === r.stamp.t && held.stamp.c === r.stamp.c) return true
    return supersedes(held, r as StateRecord)
  }

  /** Verifies and applies one record from the network. */
  async apply (input: unknown): Promise<ApplyOutcome> {
    const r = await this.verify(input)
    const [outcome] = await this.applyMany([r])
    return outcome
  }

  /**
   * Applies verified records: each one only if it wins over what is held. What wins is
   * persisted in one atomic batch before watchers hear of it.
   */
  async applyMany (records: StateRecord[]): Promise<ApplyOutcome[]> {
    // one batch at a time: concurrent rounds must not both count (and persist) the same record
    const run = this.#applying.then(async () => await this.#applyMany(records))
    this.#applying = run.catch(() => {})
    return await run
  }

  #applying: Promise<unknown> = Promise.resolve()

  /** Resolves when every batch queued for applying so far is applied. */
  async settled (): Promise<void> {
    await this.#applying
  }

  async #applyMany (records: StateRecord[]): Promise<ApplyOutcome[]> {
    const outcomes: ApplyOutcome[] = []
    const winners = new Map<string, StateRecord>()
    for (const r of records) {
      const current = winners.get(r.key) ?? this.#records.get(r.key)
      if (current != null && canonicalJson(current) === canonicalJson(r)) { outcomes.push('known'); continue }
      if (current != null && !supersedes(r, current)) { outcomes.push('stale'); continue }
      winners.set(r.key, r)
      outcomes.push('accepted')
    }
    if (winners.size === 0) return outcomes
    await this.#init.persist.batch([...winners.values()].map(r => ({ type: 'put' as const, key: r.key, value: r })))
    for (const r of winners.values()) {
      const b = bucketOf(r.key)
      this.#records.set(r.key, r)
      this.#bucketKeys[b].add(r.key)
      this.#indexTop(r.key)
      this.#clock.observe(r.stamp)
      this.#bucketDigest.delete(b)
    }
    for (const r of winners.values()) this.#notify(r)
    return outcomes
  }

  #notify (r: StateRecord): void {
    for (const [prefix, set] of this.#watchers) {
      if (!r.key.startsWith(prefix)) continue
      for (const fn of set) {
        try { fn(r) } catch { /* a watcher's failure is its own */ }
      }
    }
  }

  /** Digest of every bucket: what a sync compares first. */
  digests (): string[] {
    const out: string[] = []
    for (let b = 0; b < BUCKETS; b++) out.push(this.#digestOf(b))
    return out
  }

  /** All records (tombstones included) in the given buckets. */
  recordsIn (buckets: Iterable<number>): StateRecord[] {
    const out: StateRecord[] = []
    for (const b of new Set(buckets)) {
      for (const k of this.#bucketKeys[b] ?? []) out.push(this.#records.get(k) as StateRecord)
    }
    return out
  }

  #digestOf (bucket: number): string {
    const cached = this.#bucketDigest.get(bucket)
    if (cached != null) return cached
    const h = createHash('sha256')
    const keys = [...this.#bucketKeys[bucket]].sort()
    for (const k of keys) {
      const r = this.#records.get(k) as StateRecord
      h.update(`${k}\u0000${r.stamp.t}.${r.stamp.c}\u0000${r.author}\u0000${r.sig}\n`)
    }
    const d = h.digest('base64url').slice(0, 16)
    this.#bucketDigest.set(bucket, d)
    return d
  }

  /** Removes tombstones older than the horizon; returns how many. */
  async collectTombstones (): Promise<number> {
    const horizon = this.#now() - (this.#init.tombstoneHorizonMs ?? DEFAULT_TOMBSTONE_HORIZON_MS)
    const old = [...this.#records.values()].filter(r => isTombstone(r) && r.stamp.t < horizon)
    if (old.length === 0) return 0
    await this.#init.persist.batch(old.map(r => ({ type: 'del' as const, key: r.key })))
    for (const r of old) {
      const b = bucketOf(r.key)
      this.#records.delete(r.key)
      this.#bucketKeys[b].delete(r.key)
      this.#byTop.get(r.key.slice(0, r.key.indexOf('/')))?.delete(r.key)
      this.#bucketDigest.delete(b)
    }
    return old.length
  }
}

export function bucketOf (key: string): number {
  return createHash('sha256').update(key).digest()[0]
}
