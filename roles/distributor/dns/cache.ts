/**
 * A small TTL-respecting cache of forwarded answers. Entries expire at the smallest TTL of
 * their records (RFC 2308 for negative answers); the oldest entry goes when full.
 */
import type { Answer } from 'dns-packet'

export interface CachedAnswer {
  rcode: number
  answers: Answer[]
  authorities: Answer[]
  additionals: Answer[]
}

interface Entry {
  value: CachedAnswer
  storedAt: number
  expiresAt: number
}

export interface CacheLimits {
  entries: number
  maxTtl: number
  maxNegativeTtl: number
}

export class AnswerCache {
  private readonly map = new Map<string, Entry>()

  constructor (private readonly limits: CacheLimits, private readonly now: () => number = Date.now) {}

  get size (): number {
    return this.map.size
  }

  /** A copy with TTLs counted down, or undefined when absent or expired. */
  get (key: string): CachedAnswer | undefined {
    const entry = this.map.get(key)
    if (entry === undefined) return undefined
    const now = this.now()
    if (now >= entry.expiresAt) {
      this.map.delete(key)
      return undefined
    }
    const elapsed = Math.floor((now - entry.storedAt) / 1000)
    const age = (list: Answer[]): Answer[] => list.map(rr => rr.type === 'OPT' ? rr : { ...rr, ttl: Math.max(0, (rr.ttl ?? 0) - elapsed) } as Answer)
    const v = entry.value
    return { rcode: v.rcode, answers: age(v.answers), authorities: age(v.authorities), additionals: age(v.additionals) }
  }

  /** Stores when the answer is cacheable (NOERROR with records, or NXDOMAIN/NODATA with a SOA). */
  set (key: string, value: CachedAnswer): void {
    if (this.limits.entries === 0) return
    const ttl = cacheTtl(value, this.limits)
    if (ttl <= 0) return
    if (this.map.size >= this.limits.entries && !this.map.has(key)) {
      const oldest = this.map.keys().next()
      if (oldest.done !== true) this.map.delete(oldest.value)
    }
    const now = this.now()
    this.map.delete(key)
    this.map.set(key, { value, storedAt: now, expiresAt: now + ttl * 1000 })
  }

  clear (): void {
    this.map.clear()
  }
}

const NOERROR = 0
const NXDOMAIN = 3

/** Seconds an answer may be cached; 0 means not at all. */
export function cacheTtl (v: CachedAnswer, limits: Pick<CacheLimits, 'maxTtl' | 'maxNegativeTtl'>): number {
  if (v.rcode === NOERROR && v.answers.length > 0) {
    let ttl = limits.maxTtl
    for (const rr of v.answers) ttl = Math.min(ttl, rr.type === 'OPT' ? ttl : rr.ttl ?? 0)
    return ttl
  }
  if (v.rcode !== NOERROR && v.rcode !== NXDOMAIN) return 0
  const soa = v.authorities.find(rr => rr.type === 'SOA')
  if (soa === undefined || soa.type !== 'SOA') return 0
  return Math.min(limits.maxNegativeTtl, soa.ttl ?? 0, soa.data.minimum ?? 0)
}
