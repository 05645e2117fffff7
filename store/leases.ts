/**
 * DHCP lease persistence: one record per leased IPv4 address.
 *
 * `LeaseStore` is the narrow interface the DHCP server needs. `LevelLeaseStore` keeps leases
 * in level (a sublevel handed in by the agent, or its own database at a path) so they
 * survive a restart; `MemoryLeaseStore` is the in-memory fake for unit tests.
 *
 * @example
 * ```ts
 * const store = new LevelLeaseStore(db.sublevel('leases'))
 * await store.open()
 * await store.put({ ip: '10.0.0.10', mac: '52:54:00:12:34:56', expiresAt: Date.now() + 3600_000, state: 'bound' })
 * for (const lease of await store.all()) console.log(lease.ip, lease.mac)
 * ```
 */
import { Level } from 'level'
import type { AbstractLevel } from 'abstract-level'

export type LeaseState = 'bound' | 'released' | 'declined'

export interface Lease {
  /** dotted-quad IPv4 address: the record key */
  ip: string
  /** lower-case colon-separated hardware address (`00:00:00:00:00:00` for a declined address) */
  mac: string
  /** hex of option 61, when the client sent one */
  clientId?: string
  hostname?: string
  /** ms since the epoch; after it the address is free again */
  expiresAt: number
  state: LeaseState
}

export interface LeaseStore {
  open: () => Promise<void>
  close: () => Promise<void>
  get: (ip: string) => Promise<Lease | undefined>
  put: (lease: Lease) => Promise<void>
  delete: (ip: string) => Promise<void>
  all: () => Promise<Lease[]>
}

/** A database or sublevel with string keys; values are written as JSON text. */
export type LeaseDb = AbstractLevel<any, string, any>

const STATES = new Set<LeaseState>(['bound', 'released', 'declined'])

/** Validates a stored record; a damaged row is skipped instead of poisoning the server. */
function parseLease (text: string): Lease | undefined {
  let v: unknown
  try { v = JSON.parse(text) } catch { return undefined }
  if (v === null || typeof v !== 'object') return undefined
  const r = v as Record<string, unknown>
  if (typeof r.ip !== 'string' || typeof r.mac !== 'string' || typeof r.expiresAt !== 'number') return undefined
  if (typeof r.state !== 'string' || !STATES.has(r.state as LeaseState)) return undefined
  const lease: Lease = { ip: r.ip, mac: r.mac, expiresAt: r.expiresAt, state: r.state as LeaseState }
  if (typeof r.clientId === 'string') lease.clientId = r.clientId
  if (typeof r.hostname === 'string') lease.hostname = r.hostname
  return lease
}

const TEXT = { valueEncoding: 'utf8' } as const

type WriteOp = { type: 'put', key: string, value: string } | { type: 'del', key: string }

interface Batch { ops: WriteOp[], done: Promise<void>, resolve: () => void, reject: (err: unknown) => void }

function newBatch (): Batch {
  let resolve!: () => void
  let reject!: (err: unknown) => void
  const done = new Promise<void>((res, rej) => { resolve = res; reject = rej })
  return { ops: [], done, resolve, reject }
}

/**
 * Writes are group-committed: while one batch is being written (with `sync: true` by default,
 * so an ACKed lease survives a power cut), every new put/delete joins the next batch, and each
 * call resolves when its own batch is on disk. A burst of clients costs a few fsyncs, not one each.
 */
export class LevelLeaseStore implements LeaseStore {
  private readonly db: LeaseDb
  private readonly owned: boolean
  private readonly sync: boolean
  private next: Batch | undefined
  private draining: Promise<void> | undefined

  /**
   * @param target a sublevel owned by the caller, or a directory path for a private database
   * @param options.sync fsync each batch before resolving (default true)
   */
  constructor (target: LeaseDb | string, options: { sync?: boolean } = {}) {
    if (typeof target === 'string') {
      this.db = new Level<string, string>(target) as unknown as LeaseDb
      this.owned = true
    } else {
      this.db = target
      this.owned = false
    }
    this.sync = options.sync ?? true
  }

  async open (): Promise<void> {
    if (this.db.status === 'opening' || this.db.status === 'closed') await this.db.open()
  }

  async close (): Promise<void> {
    await this.settled()
    if (this.owned && this.db.status !== 'closed') await this.db.close()
  }

  async get (ip: string): Promise<Lease | undefined> {
    await this.settled()
    const text = await this.db.get<string, string>(ip, TEXT)
    return text === undefined ? undefined : parseLease(text)
  }

  async put (lease: Lease): Promise<void> {
    await this.write({ type: 'put', key: lease.ip, value: JSON.stringify(lease) })
  }

  async delete (ip: string): Promise<void> {
    await this.write({ type: 'del', key: ip })
  }

  async all (): Promise<Lease[]> {
    await this.settled()
    const out: Lease[] = []
    for await (const text of this.db.values<string, string>(TEXT)) {
      const lease = parseLease(text)
      if (lease !== undefined) out.push(lease)
    }
    return out
  }

  private async write (op: WriteOp): Promise<void> {
    this.next ??= newBatch()
    const batch = this.next
    batch.ops.push(op)
    // let the rest of this tick's writes join before the first batch goes out
    this.draining ??= new Promise<void>(resolve => setImmediate(resolve)).then(async () => { await this.drain() })
    await batch.done
  }

  private async drain (): Promise<void> {
    // `sync` is a classic-level batch option that abstract-level's types do not list
    const options: { valueEncoding: 'utf8', sync: boolean } = { ...TEXT, sync: this.sync }
    try {
      for (let batch = this.next; batch !== undefined; batch = this.next) {
        this.next = undefined
        await this.db.batch<string, string>(batch.ops, options).then(batch.resolve, batch.reject)
      }
    } finally {
      this.draining = undefined
    }
  }

  /** Waits until every write issued so far is in the database. */
  private async settled (): Promise<void> {
    while (this.draining !== undefined) await this.draining
  }
}

export class MemoryLeaseStore implements LeaseStore {
  private readonly rows = new Map<string, string>()
  async open (): Promise<void> {}
  async close (): Promise<void> {}
  async get (ip: string): Promise<Lease | undefined> {
    const text = this.rows.get(ip)
    return text === undefined ? undefined : parseLease(text)
  }

  async put (lease: Lease): Promise<void> { this.rows.set(lease.ip, JSON.stringify(lease)) }
  async delete (ip: string): Promise<void> { this.rows.delete(ip) }
  async all (): Promise<Lease[]> {
    return [...this.rows.values()].map(parseLease).filter((l): l is Lease => l !== undefined)
  }
}
