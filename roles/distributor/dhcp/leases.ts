/**
 * Address pool: reservations by MAC, pending offers, bound leases and their expiry.
 *
 * Indexes live in memory; every committed change is written to the `LeaseStore` before the
 * server answers, so an ACKed lease survives a restart. Leases are keyed by hardware address
 * (not option 61): a netbooting host keeps its address through PXE ROM, iPXE, installer and OS,
 * which all send different client identifiers.
 */
import { intToIp, ipToInt } from '../../../protocols/dhcp/index.js'
import type { Lease, LeaseStore } from '../../../store/leases.js'
import type { Subnet } from './config.js'

export interface PoolOptions {
  now: () => number
  offerTimeoutMs: number
  declineHoldMs: number
}

/** How a requested address relates to a client. */
export type Claim = 'ours' | 'conflict' | 'unknown'

interface Offer { mac: string, expiresAt: number }

export class LeasePool {
  private readonly byIp = new Map<number, Lease>()
  private readonly byMac = new Map<string, number>()
  private readonly offers = new Map<number, Offer>()
  private readonly offerByMac = new Map<string, number>()
  private readonly cursors = new WeakMap<Subnet, number>()

  constructor (private readonly store: LeaseStore, private readonly opts: PoolOptions) {}

  async load (): Promise<void> {
    this.byIp.clear(); this.byMac.clear(); this.offers.clear(); this.offerByMac.clear()
    for (const lease of await this.store.all()) this.index(lease)
  }

  list (): Lease[] { return [...this.byIp.values()].map(l => ({ ...l })) }
  leaseOf (mac: string): Lease | undefined {
    const ip = this.byMac.get(mac)
    return ip === undefined ? undefined : this.byIp.get(ip)
  }

  private index (lease: Lease): void {
    const ip = ipToInt(lease.ip)
    const old = this.byIp.get(ip)
    if (old !== undefined && this.byMac.get(old.mac) === ip) this.byMac.delete(old.mac)
    this.byIp.set(ip, lease)
    if (lease.state !== 'declined') this.byMac.set(lease.mac, ip)
  }

  private unindex (ip: number): void {
    const old = this.byIp.get(ip)
    if (old === undefined) return
    this.byIp.delete(ip)
    if (this.byMac.get(old.mac) === ip) this.byMac.delete(old.mac)
  }

  private dropOfferAt (ip: number): void {
    const o = this.offers.get(ip)
    if (o === undefined) return
    this.offers.delete(ip)
    if (this.offerByMac.get(o.mac) === ip) this.offerByMac.delete(o.mac)
  }

  /** Forgets a pending offer (the client chose another server). */
  dropOffer (mac: string): void {
    const ip = this.offerByMac.get(mac)
    if (ip !== undefined) this.dropOfferAt(ip)
  }

  /** Whether `mac` may be given `ip` right now. */
  private available (s: Subnet, ip: number, mac: string, now: number): boolean {
    if (((ip & s.mask) >>> 0) !== s.network || s.excluded.has(ip)) return false
    const reservedFor = s.reservationsByIp.get(ip)
    if (reservedFor !== undefined) return reservedFor === mac
    const lease = this.byIp.get(ip)
    if (lease !== undefined && lease.mac !== mac && lease.expiresAt > now) return false
    if (lease !== undefined && lease.state === 'declined' && lease.expiresAt > now) return false
    const offer = this.offers.get(ip)
    if (offer !== undefined && offer.mac !== mac && offer.expiresAt > now) return false
    return true
  }

  private inRange (s: Subnet, ip: number): boolean {
    return s.range !== undefined && ip >= s.range.start && ip <= s.range.end
  }

  /** Picks and holds an address for a DISCOVER; undefined when the pool is exhausted. */
  offer (s: Subnet, mac: string, requested?: string): string | undefined {
    const now = this.opts.now()
    const ip = this.choose(s, mac, requested, now)
    if (ip === undefined) return undefined
    this.dropOffer(mac)
    this.dropOfferAt(ip)
    this.offers.set(ip, { mac, expiresAt: now + this.opts.offerTimeoutMs })
    this.offerByMac.set(mac, ip)
    return intToIp(ip)
  }

  private choose (s: Subnet, mac: string, requested: string | undefined, now: number): number | undefined {
    const reserved = s.reservationsByMac.get(mac)
    if (reserved !== undefined) return this.available(s, reserved.ip, mac, now) ? reserved.ip : undefined
    const pending = this.offerByMac.get(mac)
    if (pending !== undefined && this.inRange(s, pending) && this.available(s, pending, mac, now)) return pending
    const known = this.byMac.get(mac)
    if (known !== undefined && this.inRange(s, known) && this.available(s, known, mac, now)) return known
    if (requested !== undefined) {
      const r = ipToInt(requested)
      if (this.inRange(s, r) && this.available(s, r, mac, now)) return r
    }
    const range = s.range
    if (range === undefined) return undefined
    const size = range.end - range.start + 1
    const from = this.cursors.get(s) ?? 0
    for (let i = 0; i < size; i++) {
      const off = (from + i) % size
      const ip = range.start + off
      if (this.available(s, ip, mac, now)) {
        this.cursors.set(s, (off + 1) % size)
        return ip
      }
    }
    return undefined
  }

  /** Relation of `ip` to `mac`, for REQUESTs in INIT-REBOOT, RENEWING and REBINDING states. */
  claim (s: Subnet, mac: string, ip: string): Claim {
    const n = ipToInt(ip)
    const now = this.opts.now()
    const reserved = s.reservationsByMac.get(mac)
    if (reserved !== undefined) return reserved.ip === n ? 'ours' : 'conflict'
    if (!this.available(s, n, mac, now)) return 'conflict'
    const lease = this.byIp.get(n)
    if (lease !== undefined && lease.mac === mac && lease.state === 'bound') return 'ours'
    const offer = this.offers.get(n)
    if (offer !== undefined && offer.mac === mac) return 'ours'
    return 'unknown'
  }

  /** Whether a SELECTING-state REQUEST for `ip` matches what we offered (or hold) for `mac`. */
  acceptsSelection (s: Subnet, mac: string, ip: string): boolean {
    const n = ipToInt(ip)
    if (!this.available(s, n, mac, this.opts.now())) return false
    if (this.offers.get(n)?.mac === mac) return true
    if (s.reservationsByMac.get(mac)?.ip === n) return true
    const lease = this.byIp.get(n)
    return lease !== undefined && lease.mac === mac
  }

  // Every mutation below updates the in-memory indexes synchronously and only then awaits the
  // store, so two requests interleaving at an await never see (or undo) each other's half-state.
  // The store applies writes in the order they were issued.

  /** Binds `ip` to `mac` and persists it before returning. */
  async commit (s: Subnet, mac: string, ip: string, extra: { clientId?: string, hostname?: string } = {}): Promise<Lease> {
    const n = ipToInt(ip)
    const lease: Lease = { ip, mac, expiresAt: this.opts.now() + s.leaseTime * 1000, state: 'bound', ...extra }
    const previous = this.byMac.get(mac)
    const writes: Array<Promise<void>> = []
    if (previous !== undefined && previous !== n) {
      this.unindex(previous)
      writes.push(this.store.delete(intToIp(previous)))
    }
    this.dropOfferAt(n)
    this.index(lease)
    writes.push(this.store.put(lease))
    await Promise.all(writes)
    return { ...lease }
  }

  /** RELEASE: the address is free at once; the record remembers who had it. */
  async release (mac: string, ip: string): Promise<Lease | undefined> {
    const lease = this.byIp.get(ipToInt(ip))
    if (lease === undefined || lease.mac !== mac || lease.state !== 'bound') return undefined
    const released: Lease = { ...lease, state: 'released', expiresAt: this.opts.now() }
    this.index(released)
    await this.store.put(released)
    return { ...released }
  }

  /** DECLINE: someone else answers ARP for `ip`; keep it out of the pool for a while. */
  async decline (mac: string, ip: string): Promise<boolean> {
    const n = ipToInt(ip)
    const lease = this.byIp.get(n)
    const offered = this.offers.get(n)
    if (!(lease?.mac === mac || offered?.mac === mac)) return false
    this.dropOfferAt(n)
    const held: Lease = { ip, mac: '00:00:00:00:00:00', state: 'declined', expiresAt: this.opts.now() + this.opts.declineHoldMs }
    this.unindex(n)
    this.index(held)
    await this.store.put(held)
    return true
  }

  /** Drops expired offers and deletes expired lease records; returns the leases that lapsed. */
  async sweep (): Promise<Lease[]> {
    const now = this.opts.now()
    for (const [ip, o] of this.offers) if (o.expiresAt <= now) this.dropOfferAt(ip)
    const lapsed: Lease[] = []
    const deletes: Array<Promise<void>> = []
    for (const [ip, lease] of [...this.byIp]) {
      if (lease.expiresAt > now) continue
      this.unindex(ip)
      deletes.push(this.store.delete(lease.ip))
      if (lease.state === 'bound') lapsed.push({ ...lease })
    }
    await Promise.all(deletes)
    return lapsed
  }
}
