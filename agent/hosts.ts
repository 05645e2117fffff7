/**
 * The host inventory, read from replicated state: sightings (`sightings/<dc>/<mac>`, written by
 * distributors), lifecycle events (`hostevents/<mac>/<at>-<peer>`, one record per transition,
 * so concurrent writers never lose one) and operator facts (`hosts/<mac>`). A host's status is
 * its latest event's. The registry role (`role=registry`) writes `discovered` for every newly
 * sighted machine.
 *
 * @example
 * const inv = new HostInventory(state)
 * inv.list()                       // HostView[]
 * await inv.transition(mac, 'reprovision', { by: 'operator' })
 */
import type { StateService } from '../protocols/state/index.js'
import type { Logger } from 'pino'

export const HOST_STATUSES = ['discovered', 'booting', 'installing', 'installed', 'ready', 'failed', 'reprovision'] as const
export type HostStatus = typeof HOST_STATUSES[number]

export interface HostEvent {
  status: HostStatus
  at: number
  by: string
  profile?: string
  group?: string
  arch?: string
  platform?: string
  addresses?: string[]
  sshHostKey?: string
  reason?: string
}

/** What an operator (or an external registry) says of a host: `hosts/<mac>`. */
export interface HostFactsRecord { hostname?: string, tags?: Record<string, string>, dc?: string, arch?: string, addresses?: string[], sshHostKey?: string, user?: string, port?: number }

export interface HostView {
  /** The MAC (`52-54-00-…`) of a machine a distributor sighted, or a provider's id (`hetzner-42`). */
  id: string
  mac?: string
  dc?: string
  arch?: string
  platform?: string
  uuid?: string
  hostname?: string
  tags: Record<string, string>
  addresses: string[]
  sshHostKey?: string
  /** SSH login and port when not root and 22 (from the host's facts). */
  user?: string
  port?: number
  profile?: string
  group?: string
  status: HostStatus
  lastSeen?: number
  events: HostEvent[]
}

interface Sighting { mac: string, dc: string, arch?: string, ip?: string, uuid?: string, hostname?: string, at: number }

/** `52:54:00:AB:…` or `52-54-00-ab-…` → `52-54-00-ab-…` (the id and key form). */
export function hostId (mac: string): string {
  return mac.toLowerCase().replace(/:/g, '-')
}

export class HostInventory {
  readonly #state: StateService
  readonly #self: string

  constructor (state: StateService, self: string) {
    this.#state = state
    this.#self = self
  }

  events (id: string): HostEvent[] {
    return this.#state.store.list<HostEvent>(`hostevents/${id}/`).map(e => e.value).sort((a, b) => a.at - b.at)
  }

  get (idOrMac: string): HostView | undefined {
    const id = hostId(idOrMac)
    const sightings = this.#state.store.list<Sighting>('sightings/').filter(s => hostId(s.value.mac) === id).map(s => s.value).sort((a, b) => a.at - b.at)
    const events = this.events(id)
    const facts = this.#state.store.get<HostFactsRecord>(`hosts/${id}`)
    if (sightings.length === 0 && events.length === 0 && facts == null) return undefined
    const seen = sightings.at(-1)
    const last = events.at(-1)
    const latest = <K extends keyof HostEvent>(k: K): HostEvent[K] | undefined => [...events].reverse().find(e => e[k] != null)?.[k]
    const addresses = latest('addresses') ?? facts?.addresses ?? [...new Set(sightings.map(s => s.ip).filter((ip): ip is string => ip != null))]
    return {
      id,
      mac: /^([0-9a-f]{2}-){5}[0-9a-f]{2}$/.test(id) ? id.replace(/-/g, ':') : undefined,
      dc: facts?.dc ?? seen?.dc,
      arch: latest('arch') ?? facts?.arch ?? seen?.arch,
      platform: latest('platform'),
      uuid: sightings.map(s => s.uuid).filter(u => u != null).at(-1),
      hostname: facts?.hostname ?? sightings.map(s => s.hostname).filter(h => h != null).at(-1),
      tags: facts?.tags ?? {},
      addresses,
      sshHostKey: latest('sshHostKey') ?? facts?.sshHostKey,
      user: facts?.user,
      port: facts?.port,
      profile: latest('profile'),
      group: latest('group'),
      status: last?.status ?? 'discovered',
      lastSeen: seen?.at,
      events
    }
  }

  list (): HostView[] {
    const ids = new Set<string>()
    for (const { value } of this.#state.store.list<Sighting>('sightings/')) ids.add(hostId(value.mac))
    for (const { key } of this.#state.store.list('hostevents/')) ids.add(key.split('/')[1])
    for (const { key } of this.#state.store.list('hosts/')) ids.add(key.split('/')[1])
    return [...ids].sort().map(id => this.get(id)).filter((h): h is HostView => h != null)
  }

  /**
   * Records a lifecycle transition (one record per event). `discovered` has a fixed key: two
   * registry agents that see the same machine at once write one record, not two.
   */
  async transition (mac: string, status: HostStatus, detail: Omit<HostEvent, 'status' | 'at' | 'by'> = {}): Promise<HostEvent> {
    const at = Date.now()
    const event: HostEvent = { status, at, by: this.#self, ...detail }
    const suffix = status === 'discovered' ? 'discovered' : `${at}-${this.#self.slice(-8)}`
    await this.#state.write(`hostevents/${hostId(mac)}/${suffix}`, event)
    return event
  }
}

/** The registry role: every machine a distributor sights for the first time is `discovered`. */
export function startRegistry (inventory: HostInventory, state: StateService, log: Logger): () => void {
  const seen = new Set<string>()
  const onSighting = (value: unknown): void => {
    const s = value as Sighting | null
    if (s?.mac == null) return
    const id = hostId(s.mac)
    if (seen.has(id)) return
    seen.add(id)
    if (inventory.events(id).length > 0) return
    void inventory.transition(id, 'discovered', { arch: s.arch, addresses: s.ip != null ? [s.ip] : undefined })
      .catch(err => { log.warn({ err, host: id }, 'discovery not recorded') })
  }
  for (const { value } of state.store.list('sightings/')) onSighting(value)
  return state.store.watch('sightings/', r => { onSighting(r.value) })
}
