/**
 * Overlay names: `<name>.<dc>.<domain>` (or `<name>.<domain>` for a member without a `dc` tag)
 * for every member tagged `name=` that holds an overlay address — A its claimed IPv4 address,
 * AAAA its derived IPv6 address. Served by the agent on its own overlay addresses, port 53,
 * UDP and TCP (the distributor's DNS server, roles/distributor/dns, over a zone built here).
 * Only the mesh domain is answered (no forwarding: other names are REFUSED), so a host points
 * the domain at the overlay (split DNS), e.g. `resolvectl dns ctpf0 <address>` and
 * `resolvectl domain ctpf0 '~ctpf.internal'`.
 *
 * Which member gets which name is protocols/overlay/names.ts (the same on every agent);
 * this file keeps the zone and the servers.
 *
 * @example
 * ```ts
 * const names = new OverlayNames({ domain: 'ctpf.internal', logger })
 * names.update([{ peer, tags: { name: 'web1', dc: 'nbg1' }, address: '100.96.3.4', address6: 'fd…' }])
 * const dns = new OverlayDns({ domain: 'ctpf.internal', zone: names.zone, logger })
 * await dns.listen(['100.96.0.7', 'fd…'])   // web1.nbg1.ctpf.internal → 100.96.3.4
 * await dns.stop()
 * ```
 */
import { createDnsServer, MemoryZoneSource } from '../roles/distributor/dns/index.js'
import type { DnsServer } from '../roles/distributor/dns/index.js'
import { overlayNames } from '../protocols/overlay/names.js'
import type { OverlayMemberName, OverlayNameRecord } from '../protocols/overlay/names.js'
import type { Logger } from 'pino'

export { DEFAULT_OVERLAY_DOMAIN } from '../protocols/overlay/names.js'

/** The zone of overlay names (protocols/overlay/names.ts), rebuilt from the members and their addresses. */
export class OverlayNames {
  readonly zone = new MemoryZoneSource()
  readonly domain: string
  readonly #log: Logger | undefined
  #byPeer = new Map<string, string>()
  #last = ''
  #conflicts = ''

  constructor (init: { domain: string, logger?: Logger }) {
    this.domain = init.domain
    this.#log = init.logger
  }

  /** The full name of a member (`name.dc.domain`), when it has one in the zone. */
  nameOf (peer: string): string | undefined {
    const rel = this.#byPeer.get(peer)
    return rel === undefined ? undefined : `${rel}.${this.domain}`
  }

  /** Replaces the zone's content; no change notification when nothing changed. */
  update (members: readonly OverlayMemberName[]): void {
    const { records, conflicts } = overlayNames(members)
    const conflictText = JSON.stringify(conflicts)
    if (conflictText !== this.#conflicts) {
      this.#conflicts = conflictText
      if (conflicts.length > 0) this.#log?.warn({ conflicts }, 'overlay names: several members with one name and datacenter; the lowest peer id keeps it')
    }
    const text = JSON.stringify(records)
    if (text === this.#last) return
    this.#last = text
    const valid: OverlayNameRecord[] = []
    for (const r of records) {
      try { new MemoryZoneSource().set(r.name, r); valid.push(r) } catch (err) {
        this.#log?.warn({ name: r.name, err: (err as Error).message }, 'overlay names: name left out')
      }
    }
    this.zone.replace(valid)
    this.#byPeer = new Map(valid.map(r => [r.peer, r.name]))
    this.#log?.debug({ names: valid.length }, 'overlay names updated')
  }
}

/** Where the overlay's DNS listens, and what went wrong where it could not. */
export interface OverlayDnsStatus {
  domain: string
  listening: string[]
  errors: Array<{ address: string, error: string }>
}

/** DNS servers for the overlay zone, one per overlay address of this agent. */
export class OverlayDns {
  readonly #servers = new Map<string, DnsServer>()
  readonly #errors = new Map<string, string>()
  readonly #init: { domain: string, zone: MemoryZoneSource, port?: number, logger: Logger }
  #chain: Promise<void> = Promise.resolve()
  readonly #retired = { queries: 0, answers: 0, nxdomain: 0, refused: 0 }

  constructor (init: { domain: string, zone: MemoryZoneSource, port?: number, logger: Logger }) {
    this.#init = init
  }

  /** Listens on exactly these addresses (starting and stopping servers as needed); never throws. */
  async listen (addresses: readonly string[]): Promise<void> {
    const next = this.#chain.then(async () => { await this.#listen(addresses) })
    this.#chain = next.catch(() => {})
    await next
  }

  async #listen (addresses: readonly string[]): Promise<void> {
    const want = new Set(addresses)
    for (const [address, server] of this.#servers) {
      if (want.has(address)) continue
      this.#servers.delete(address)
      add(this.#retired, server)
      await server.stop().catch(() => {})
    }
    for (const address of [...this.#errors.keys()]) if (!want.has(address)) this.#errors.delete(address)
    for (const address of want) {
      if (this.#servers.has(address)) continue
      const { domain, zone, port, logger } = this.#init
      try {
        const server = createDnsServer({ address, port: port ?? 53, domain }, { logger, records: zone })
        await server.start()
        this.#servers.set(address, server)
        this.#errors.delete(address)
        logger.info({ address, port: port ?? 53, domain }, 'overlay names served')
      } catch (err) {
        const text = `${(err as { code?: string }).code ?? 'ERR'}: ${(err as Error).message}`
        this.#errors.set(address, text)
        logger.warn({ address, err: text }, 'overlay DNS could not listen (overlay names are not served there)')
      }
    }
  }

  status (): OverlayDnsStatus {
    const port = this.#init.port ?? 53
    return {
      domain: this.#init.domain,
      listening: [...this.#servers.keys()].map(a => a.includes(':') ? `[${a}]:${port}` : `${a}:${port}`),
      errors: [...this.#errors].map(([address, error]) => ({ address, error }))
    }
  }

  /** Queries, zone answers, NXDOMAIN and REFUSED answers of every server this agent ran. */
  metrics (): { queries: number, answers: number, nxdomain: number, refused: number } {
    const out = { ...this.#retired }
    for (const s of this.#servers.values()) add(out, s)
    return out
  }

  async stop (): Promise<void> { await this.listen([]) }
}

function add (to: { queries: number, answers: number, nxdomain: number, refused: number }, s: DnsServer): void {
  const m = s.metrics
  to.queries += m.udpQueries + m.tcpQueries
  to.answers += m.authoritative
  to.nxdomain += m.nxdomain
  to.refused += m.refused
}
