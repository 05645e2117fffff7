/**
 * Groups map hosts to profiles. A group matches a host when every field of its selector
 * matches; the most specific matching group wins (most selector fields, each tag counting as
 * one — as in matchbox). Ties are refused when groups are written (validateGroups); if two
 * agents' concurrent writes still merge into a tie, selectGroup picks the lower name.
 */
import { DuplicateGroupError, GroupTieError, UnknownProfileError } from './errors.js'
import { normalizeArch, normalizeHostname, normalizeMac, normalizeUuid } from './normalize.js'
import { parseGroup } from './schema.js'
import type { Group, Selector } from './schema.js'

/** What is known of a machine: from the boot request (`mac`, `uuid`, `arch`) and the registry. */
export interface HostFacts {
  mac?: string
  uuid?: string
  /** `${buildarch}` or any alias; see normalizeArch. */
  arch?: string
  /** `${platform}`: `pcbios` or `efi` (only used to read `arch`). */
  platform?: string
  hostname?: string
  dc?: string
  addresses?: readonly string[]
  tags?: Readonly<Record<string, string>>
}

type Constraint = readonly [key: string, value: string]

function constraints (s: Selector): Constraint[] {
  const out: Constraint[] = []
  if (s.mac != null) out.push(['mac', s.mac])
  if (s.uuid != null) out.push(['uuid', s.uuid])
  if (s.arch != null) out.push(['arch', s.arch])
  if (s.hostname != null) out.push(['hostname', s.hostname])
  for (const [k, v] of Object.entries(s.tags ?? {})) out.push([`tags.${k}`, v])
  return out
}

/** Number of selector fields (each tag counts as one). */
export function specificity (group: Pick<Group, 'selector'>): number {
  return constraints(group.selector).length
}

function hostConstraints (host: HostFacts): Map<string, string> {
  const m = new Map<string, string>()
  const mac = host.mac != null ? normalizeMac(host.mac) : undefined
  const uuid = host.uuid != null ? normalizeUuid(host.uuid) : undefined
  const arch = host.arch != null ? normalizeArch(host.arch, host.platform) : undefined
  if (mac != null) m.set('mac', mac)
  if (uuid != null) m.set('uuid', uuid)
  if (arch != null) m.set('arch', arch)
  if (host.hostname != null && host.hostname !== '') m.set('hostname', normalizeHostname(host.hostname))
  for (const [k, v] of Object.entries(host.tags ?? {})) m.set(`tags.${k}`, v)
  return m
}

export function matches (group: Pick<Group, 'selector'>, host: HostFacts): boolean {
  const h = hostConstraints(host)
  return constraints(group.selector).every(([k, v]) => h.get(k) === v)
}

/** The most specific group matching `host` (lower name on a tie), or undefined. */
export function selectGroup<G extends Pick<Group, 'name' | 'selector'>> (groups: Iterable<G>, host: HostFacts): G | undefined {
  const h = hostConstraints(host)
  let best: G | undefined
  let bestSpec = -1
  for (const g of groups) {
    const c = constraints(g.selector)
    if (!c.every(([k, v]) => h.get(k) === v)) continue
    if (c.length > bestSpec || (c.length === bestSpec && best != null && g.name < best.name)) {
      best = g
      bestSpec = c.length
    }
  }
  return best
}

/**
 * Parses every group and refuses the set when two groups have the same name, a group names an
 * unknown profile (checked only when `profiles` is given), or two groups could tie: same
 * specificity, no conflicting field (so one host can match both), and no more specific group
 * whose selector lies within both of theirs (which would win for every such host).
 * Check the whole set after every write and delete (deleting that covering group creates a tie).
 *
 * @throws InvalidGroupError | DuplicateGroupError | UnknownProfileError | GroupTieError
 */
export function validateGroups (groups: Iterable<unknown>, options: { profiles?: Iterable<string> } = {}): Group[] {
  const parsed = [...groups].map(g => parseGroup(g))
  const names = new Set<string>()
  for (const g of parsed) {
    if (names.has(g.name)) throw new DuplicateGroupError(g.name)
    names.add(g.name)
  }
  if (options.profiles != null) {
    const profiles = new Set(options.profiles)
    for (const g of parsed) if (!profiles.has(g.profile)) throw new UnknownProfileError(g.name, g.profile)
  }
  const sorted = [...parsed].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
  const cs = sorted.map(g => new Map(constraints(g.selector)))
  for (let a = 0; a < sorted.length; a++) {
    for (let b = a + 1; b < sorted.length; b++) {
      const A = cs[a]
      const B = cs[b]
      if (A.size !== B.size) continue
      let compatible = true
      for (const [k, v] of A) if (B.has(k) && B.get(k) !== v) { compatible = false; break }
      if (!compatible) continue
      const union = new Map([...A, ...B])
      const covered = cs.some(C => C.size > A.size && [...C].every(([k, v]) => union.get(k) === v))
      if (covered) continue
      const example = union.size === 0 ? 'any facts' : [...union].map(([k, v]) => `${k}=${v}`).join(', ')
      throw new GroupTieError([sorted[a].name, sorted[b].name], A.size, example)
    }
  }
  return parsed
}
