/**
 * DNS for a datacenter: authoritative for the mesh zone (`<name>.<dc>.<domain>`,
 * `<name>.<domain>`, their PTR names, SOA/NS at the apex), forwarding everything else to
 * configured upstreams with a small cache. UDP and TCP on the same port.
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * import { createDnsServer, MemoryZoneSource } from './roles/distributor/dns/index.js'
 *
 * const records = new MemoryZoneSource()
 * records.set('web1', { a: ['10.0.0.5'] }, 'nbg1')          // web1.nbg1.mesh.internal
 * records.set('agent-a', { a: ['10.0.0.2'], aaaa: ['fd00::2'] }) // agent-a.mesh.internal
 * const dns = createDnsServer(
 *   { address: '10.0.0.1', port: 53, domain: 'mesh.internal', upstreams: ['192.0.2.53:53'] },
 *   { logger: pino(), records }
 * )
 * await dns.start()   // PrivilegedPortError (code ERR_DNS_PRIVILEGED_PORT) without CAP_NET_BIND_SERVICE
 * records.set('web2', { a: ['10.0.0.6'] }, 'nbg1')          // visible in the next answer
 * console.log(dns.metrics.authoritative)
 * await dns.stop()
 * ```
 */
import type { Logger } from 'pino'
import { parseDnsConfig, type DnsConfigInput } from './config.js'
import { DnsServer } from './server.js'
import type { ZoneSource } from './zone-source.js'

export type DnsInit = DnsConfigInput

export interface DnsComponents {
  logger: Logger
  records: ZoneSource
}

/** Validates `init` (throws DnsConfigError) and returns a stopped server. */
export function createDnsServer (init: DnsInit, components: DnsComponents): DnsServer {
  return new DnsServer(parseDnsConfig(init), components.records, components.logger)
}

export { DnsServer, type DnsAddress } from './server.js'
export { MemoryZoneSource, type ZoneSource, type ZoneAddresses, type AddressesInput } from './zone-source.js'
export { parseDnsConfig, type DnsConfig, type DnsConfigInput, type Upstream } from './config.js'
export type { DnsMetrics } from './metrics.js'
export * from './errors.js'
