/**
 * Where the zone's names come from. The agent fills a {@link MemoryZoneSource} from replicated
 * state (agents and hosts per datacenter); the DNS server only reads through {@link ZoneSource}.
 *
 * Names are relative to the zone's domain and lower case: `web1.nbg1` is
 * `web1.nbg1.<domain>`, `agent-a` is `agent-a.<domain>`.
 */
import { checkIPv4, checkIPv6, normalizeZoneName } from './names.js'

export interface ZoneAddresses {
  readonly a: readonly string[]
  readonly aaaa: readonly string[]
}

export interface ZoneSource {
  /** Addresses of one relative, lower-case name; undefined when the name does not exist. */
  lookup: (name: string) => ZoneAddresses | undefined
  /** Every name with its addresses (used to build the PTR index and find empty non-terminals). */
  entries: () => Iterable<readonly [string, ZoneAddresses]>
  /** Called after every change; returns an unsubscribe function. */
  onChange: (listener: () => void) => () => void
}

export interface AddressesInput {
  a?: readonly string[]
  aaaa?: readonly string[]
}

/** In-memory ZoneSource. Validates names and addresses on the way in. */
export class MemoryZoneSource implements ZoneSource {
  private readonly names = new Map<string, ZoneAddresses>()
  private readonly listeners = new Set<() => void>()

  /** Sets (replaces) `name` — or `name.dc` when `dc` is given. */
  set (name: string, addresses: AddressesInput, dc?: string): void {
    const [key, value] = this.entry(name, addresses, dc)
    this.names.set(key, value)
    this.changed()
  }

  /** Removes `name` (or `name.dc`); true when it existed. */
  delete (name: string, dc?: string): boolean {
    const removed = this.names.delete(relativeName(name, dc))
    if (removed) this.changed()
    return removed
  }

  /** Replaces the whole content at once (one change notification). */
  replace (records: Iterable<{ name: string, dc?: string } & AddressesInput>): void {
    const next = new Map<string, ZoneAddresses>()
    for (const r of records) {
      const [key, value] = this.entry(r.name, r, r.dc)
      next.set(key, value)
    }
    this.names.clear()
    for (const [k, v] of next) this.names.set(k, v)
    this.changed()
  }

  get size (): number {
    return this.names.size
  }

  lookup (name: string): ZoneAddresses | undefined {
    return this.names.get(name)
  }

  entries (): Iterable<readonly [string, ZoneAddresses]> {
    return this.names.entries()
  }

  onChange (listener: () => void): () => void {
    this.listeners.add(listener)
    return () => { this.listeners.delete(listener) }
  }

  private entry (name: string, addresses: AddressesInput, dc?: string): [string, ZoneAddresses] {
    const key = relativeName(name, dc)
    const value: ZoneAddresses = Object.freeze({
      a: Object.freeze([...new Set((addresses.a ?? []).map(checkIPv4))]),
      aaaa: Object.freeze([...new Set((addresses.aaaa ?? []).map(checkIPv6))])
    })
    return [key, value]
  }

  private changed (): void {
    for (const listener of [...this.listeners]) listener()
  }
}

function relativeName (name: string, dc?: string): string {
  return normalizeZoneName(dc === undefined ? name : `${name}.${dc}`)
}
