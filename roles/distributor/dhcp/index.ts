/**
 * Distributor DHCP role: a full DHCP server or a proxyDHCP beside an existing one, with
 * PXE / UEFI HTTP / iPXE boot answers, reservations by MAC and leases persisted in level.
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * import { createDhcpServer } from './roles/distributor/dhcp/index.js'
 * import { LevelLeaseStore } from './store/leases.js'
 *
 * const dhcp = createDhcpServer({
 *   serverAddress: '10.0.0.1',
 *   authoritative: true,
 *   subnets: [{
 *     network: '10.0.0.0', netmask: '255.255.255.0', range: { start: '10.0.0.100', end: '10.0.0.199' },
 *     router: '10.0.0.1', dnsServers: ['10.0.0.1'], domain: 'lab', leaseTime: 3600,
 *     reservations: [{ mac: '52:54:00:00:00:01', ip: '10.0.0.10', hostname: 'node1' }]
 *   }],
 *   boot: { files: { bios: 'undionly.kpxe', efiX64: 'ipxe.efi' }, ipxeScriptUrl: 'http://10.0.0.1:8080/boot.ipxe' }
 * }, { logger: pino(), leaseStore: new LevelLeaseStore(db.sublevel('dhcp-leases')) })
 * dhcp.on('host:sighted', host => console.log(host.mac, host.arch, host.ip))
 * await dhcp.start()   // binds 67 and 4011: needs root or CAP_NET_BIND_SERVICE
 * await dhcp.stop()
 * ```
 */
import { parseDhcpConfig, type DhcpConfigInput } from './config.js'
import { DhcpServer, type DhcpComponents } from './server.js'

export type DhcpInit = DhcpConfigInput

/** Validates `init` (throws `InvalidConfigError`) and builds a stopped server. */
export function createDhcpServer (init: DhcpInit, components: DhcpComponents): DhcpServer {
  return new DhcpServer(parseDhcpConfig(init), components)
}

export { DhcpServer } from './server.js'
export type { DhcpComponents, DhcpMetrics, DhcpServerEvents } from './server.js'
export type { HostSighted } from './handler.js'
export type { BootArch } from './boot.js'
export { DhcpConfigSchema, parseDhcpConfig } from './config.js'
export type { DhcpConfig, DhcpConfigInput } from './config.js'
export * from './errors.js'
