/**
 * Overlay names, computed the same way by every agent from the same members and claims:
 * a member tagged `name=<n>` and `dc=<d>` that holds an overlay IPv4 address is
 * `<n>.<d>.<domain>` (`<n>.<domain>` without a `dc` tag), with its claimed IPv4 address (A)
 * and its derived IPv6 address (AAAA). Names and datacenters must be DNS labels (letters,
 * digits, inner hyphens; compared in lower case), otherwise the member has no name. When
 * several members share a name and datacenter, the lowest peer id keeps it.
 */

/** The mesh domain of overlay names when none is configured (`overlay.domain`). */
export const DEFAULT_OVERLAY_DOMAIN = 'ctpf.internal'

const LABEL = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

export interface OverlayMemberName {
  peer: string
  tags: Record<string, string>
  /** Claimed IPv4 overlay address; a member without one has no name. */
  address?: string
  address6: string
}

export interface OverlayNameRecord {
  /** Relative to the mesh domain, lower case: `web1.nbg1` or `web1`. */
  name: string
  peer: string
  a: string[]
  aaaa: string[]
}

export interface OverlayNameConflict { name: string, peer: string, keptBy: string }

/** The relative name (`name.dc` or `name`) a member's tags give it; undefined when none. */
export function relativeNameOf (tags: Record<string, string>): string | undefined {
  const name = tags.name?.toLowerCase()
  const dc = tags.dc?.toLowerCase()
  if (name == null || !LABEL.test(name)) return undefined
  if (dc == null || dc === '') return name
  if (!LABEL.test(dc)) return undefined
  return `${name}.${dc}`
}

/** The zone's records (sorted by peer id) and the members left out because their name was taken. */
export function overlayNames (members: readonly OverlayMemberName[]): { records: OverlayNameRecord[], conflicts: OverlayNameConflict[] } {
  const byName = new Map<string, OverlayNameRecord>()
  const conflicts: OverlayNameConflict[] = []
  for (const m of [...members].sort((x, y) => x.peer < y.peer ? -1 : x.peer > y.peer ? 1 : 0)) {
    if (m.address == null) continue
    const name = relativeNameOf(m.tags)
    if (name === undefined) continue
    const held = byName.get(name)
    if (held != null) { conflicts.push({ name, peer: m.peer, keptBy: held.peer }); continue }
    byName.set(name, { name, peer: m.peer, a: [m.address], aaaa: [m.address6] })
  }
  return { records: [...byName.values()], conflicts }
}
