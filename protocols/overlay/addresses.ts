/**
 * IPv4 address allocation from the mesh range, claimed in replicated state.
 *
 * Each claim is its own record, `addresses/<ip>/<peer>` → `{ peer }`, written once by the
 * claimant (so its HLC stamp records when it was made). When several members claim one
 * address, the earliest claim — the lower (stamp, author), the reverse of state's
 * last-writer-wins order — keeps it; every agent computes the same owner from the same
 * records, and a loser deletes its claim and picks the next candidate. An agent's candidates
 * start at a position derived from a hash of its peer id, so it prefers the same address on
 * every start (and keeps the one it owns: its claim is persisted). Claims of peers that are
 * no longer members do not count.
 */
import { supersedes } from '../state/index.js'
import { ADDRESSES_PREFIX } from './constants.js'
import { AddressExhaustedError } from './errors.js'
import { inPrefix, intToIpv4, ipv4ToInt, peerHash32 } from './ip.js'
import type { V4Prefix } from './ip.js'
import type { OverlayState } from './types.js'
import type { StateRecord } from '../state/index.js'

export interface Claim { ip: number, peer: string, record: StateRecord }

export const claimKey = (ip: number, peer: string): string => `${ADDRESSES_PREFIX}${intToIpv4(ip)}/${peer}`

/** Reads the claims in state that count: well-formed, in range, by the member they name. */
export function readClaims (state: OverlayState, range: V4Prefix, isMember: (peer: string) => boolean): Claim[] {
  const out: Claim[] = []
  for (const { key, value, record } of state.store.list<{ peer?: unknown }>(ADDRESSES_PREFIX)) {
    const parts = key.split('/')
    if (parts.length !== 3) continue
    const [, ipText = '', peer = ''] = parts
    let ip: number
    try { ip = ipv4ToInt(ipText) } catch { continue }
    if (!inPrefix(ip, range) || value?.peer !== peer || record.author !== peer || !isMember(peer)) continue
    out.push({ ip, peer, record })
  }
  return out
}

/** ip → owner: per address, the earliest claim. */
export function owners (claims: readonly Claim[]): Map<number, Claim> {
  const best = new Map<number, Claim>()
  for (const c of claims) {
    const held = best.get(c.ip)
    if (held == null || supersedes(held.record, c.record)) best.set(c.ip, c)
  }
  return best
}

/** The addresses an agent may use in a range: all but the network and broadcast addresses (for prefixes up to /30). */
export function usableCount (range: V4Prefix): number {
  const size = 2 ** (32 - range.prefix)
  return range.prefix >= 31 ? size : size - 2
}

/** The k-th candidate address of `peer` (k = 0 is its preferred one). */
export function candidate (range: V4Prefix, peer: string, k: number): number {
  const n = usableCount(range)
  const first = range.prefix >= 31 ? 0 : 1
  return (range.network + first + ((peerHash32(peer) + k) % n)) >>> 0
}

export interface AddressBookInit {
  self: string
  range: V4Prefix
  state: OverlayState
  isMember: (peer: string) => boolean
}

export class AddressBook {
  readonly #init: AddressBookInit
  #chain: Promise<number> = Promise.resolve(0)

  constructor (init: AddressBookInit) {
    this.#init = init
  }

  claims (): Claim[] { return readClaims(this.#init.state, this.#init.range, this.#init.isMember) }

  /** ip → owning peer. */
  owners (): Map<number, string> {
    const out = new Map<number, string>()
    for (const [ip, c] of owners(this.claims())) out.set(ip, c.peer)
    return out
  }

  /** This agent's address as state stands now (undefined until a claim of its own wins). */
  current (): number | undefined {
    const mine = [...owners(this.claims()).values()].filter(c => c.peer === this.#init.self)
    mine.sort((a, b) => supersedes(a.record, b.record) ? 1 : -1)
    return mine[0]?.ip
  }

  /**
   * Makes sure this agent owns an address: keeps the earliest one it owns, deletes its other
   * claims, or claims its first free candidate. Resolves to the address. Calls are serialised.
   */
  async ensure (): Promise<number> {
    const next = this.#chain.catch(() => 0).then(async () => await this.#ensure())
    this.#chain = next
    return await next
  }

  async #ensure (): Promise<number> {
    const { self, range, state } = this.#init
    const claims = this.claims()
    const won = owners(claims)
    const keep = this.current()
    for (const c of claims) {
      if (c.peer !== self || c.ip === keep) continue
      await state.delete(claimKey(c.ip, self))
    }
    if (keep !== undefined) return keep
    const taken = new Set(won.keys())
    const n = usableCount(range)
    for (let k = 0; k < n; k++) {
      const ip = candidate(range, self, k)
      if (taken.has(ip)) continue
      await state.write(claimKey(ip, self), { peer: self })
      return ip
    }
    throw new AddressExhaustedError(range.text)
  }
}
