/**
 * The distributor role: the LAN side of a datacenter — DHCP (full or proxy), TFTP, HTTP boot,
 * DNS, and Router Advertisements so iPXE does not wait for IPv6. Each service is optional;
 * all of them start and stop together. Every lease and boot request is a `host:sighted`
 * event that the agent records in replicated state.
 *
 * @example
 * const d = createDistributor(config, { logger, leaseStore, files: new DirectoryFileSource('/srv/boot'), zone })
 * d.on('host:sighted', s => state.write(`sightings/${s.dc}/${s.mac}`, s))
 * await d.start()
 */
import { EventEmitter } from 'node:events'
import { createDhcpServer } from './dhcp/index.js'
import { createDnsServer } from './dns/index.js'
import { HttpBootServer } from './http/server.js'
import { RouterAdvertiser, ulaPrefix } from './radvd.js'
import { createTftpServer } from './tftp/index.js'
import { distributorConfigSchema } from './config.js'
import type { DistributorConfig, DistributorConfigInput } from './config.js'
import type { DhcpServer } from './dhcp/index.js'
import type { DnsServer, ZoneSource } from './dns/index.js'
import type { FileSource, TftpServer } from './tftp/index.js'
import type { BootAnswerer } from './http/server.js'
import type { LeaseStore } from '../../store/leases.js'
import type { Logger } from 'pino'

export { distributorConfigSchema } from './config.js'
export type { DistributorConfig, DistributorConfigInput } from './config.js'
export { DirectoryFileSource } from './tftp/index.js'
export { MemoryZoneSource } from './dns/index.js'
export type { FileSource } from './tftp/index.js'
export type { ZoneSource } from './dns/index.js'
export type { BootAnswerer } from './http/server.js'
export type { BootIdentity } from './http/script.js'

export interface Sighting {
  mac: string
  dc: string
  arch?: string
  ip?: string
  uuid?: string
  hostname?: string
  via: 'dhcp' | 'http'
  at: number
}

export interface DistributorComponents {
  logger: Logger
  leaseStore: LeaseStore
  files: FileSource
  zone: ZoneSource
  /** The scripts role, when this agent has it: answers identified machines (see BootAnswerer). */
  answerer?: BootAnswerer
}

export class DistributorError extends Error {
  constructor (readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'DistributorError'
  }
}

interface Component { name: string, start: () => Promise<void>, stop: () => Promise<void> }

export class Distributor extends EventEmitter<{ 'host:sighted': [Sighting] }> {
  readonly config: DistributorConfig
  readonly dhcp?: DhcpServer
  readonly tftp?: TftpServer
  readonly dns?: DnsServer
  readonly http: HttpBootServer
  readonly #components: Component[] = []
  readonly #log: Logger
  #started: Component[] = []

  constructor (config: DistributorConfig, c: DistributorComponents) {
    super()
    this.config = config
    this.#log = c.logger
    const base = `http://${config.address}:${config.http.port}`
    this.http = new HttpBootServer({ bind: config.http.bind ?? '0.0.0.0', port: config.http.port, baseUrl: base, profile: config.profile, chainUndionly: config.http.chainUndionly }, { files: c.files, logger: c.logger.child({ component: 'http-boot' }), answerer: c.answerer })
    this.http.on('boot:requested', who => { this.#sighted({ mac: who.mac as string, arch: who.arch, ip: who.ip.replace(/^::ffff:/, ''), uuid: who.uuid, via: 'http' }) })
    if (config.tftp != null) {
      this.tftp = createTftpServer({ address: '0.0.0.0', ...config.tftp }, { files: c.files, logger: c.logger.child({ component: 'tftp' }) })
      this.#components.push({ name: 'tftp', start: async () => { await this.tftp?.start() }, stop: async () => { await this.tftp?.stop() } })
    }
    this.#components.push({ name: 'http', start: async () => { await this.http.start() }, stop: async () => { await this.http.stop() } })
    if (config.dns != null) {
      this.dns = createDnsServer({ address: config.address, ...config.dns } as Parameters<typeof createDnsServer>[0], { logger: c.logger.child({ component: 'dns' }), records: c.zone })
      this.#components.push({ name: 'dns', start: async () => { await this.dns?.start() }, stop: async () => { await this.dns?.stop() } })
    }
    if (config.ipv6RouterAdvertisements && config.interface != null) {
      const ra = new RouterAdvertiser(config.interface, ulaPrefix(`${config.dc}/${config.interface}`), c.logger.child({ component: 'radvd' }))
      this.#components.push({ name: 'radvd', start: async () => { await ra.start() }, stop: async () => { await ra.stop() } })
    }
    if (config.dhcp != null) {
      const dhcpInit = {
        serverAddress: config.address,
        ...config.dhcp,
        boot: {
          files: { bios: 'undionly.kpxe', efiX64: 'ipxe.efi', efiArm64: 'snp.efi' },
          ipxeScriptUrl: `${base}/boot.ipxe`,
          ...(config.dhcp.boot as object | undefined)
        }
      }
      this.dhcp = createDhcpServer(dhcpInit as Parameters<typeof createDhcpServer>[0], { logger: c.logger.child({ component: 'dhcp' }), leaseStore: c.leaseStore })
      this.dhcp.on('host:sighted', s => { this.#sighted({ mac: s.mac, arch: s.arch, ip: s.ip, uuid: s.uuid, hostname: s.hostname, via: 'dhcp' }) })
      // DHCP last: machines are only told to boot once everything they will ask for answers
      this.#components.push({ name: 'dhcp', start: async () => { await this.dhcp?.start() }, stop: async () => { await this.dhcp?.stop() } })
    }
  }

  #sighted (s: Omit<Sighting, 'dc' | 'at'>): void {
    this.emit('host:sighted', { ...s, dc: this.config.dc, at: Date.now() })
  }

  /** Starts every configured service; if one fails, the ones started are stopped again. */
  async start (): Promise<void> {
    if (this.#started.length > 0) return
    for (const comp of this.#components) {
      try {
        await comp.start()
        this.#started.push(comp)
      } catch (err) {
        await this.stop()
        const e = err as NodeJS.ErrnoException & { code?: string }
        const hint = e.code === 'EACCES' ? ' (binding a port below 1024 needs root or CAP_NET_BIND_SERVICE)' : ''
        throw new DistributorError(typeof e.code === 'string' ? e.code : 'DISTRIBUTOR_START_FAILED', `distributor ${comp.name} could not start: ${e.message}${hint}`, { cause: err })
      }
    }
    this.#log.info({ dc: this.config.dc, services: this.#started.map(c => c.name) }, 'distributor running')
  }

  async stop (): Promise<void> {
    for (const comp of this.#started.reverse()) {
      await comp.stop().catch(err => { this.#log.warn({ err, service: comp.name }, 'service did not stop cleanly') })
    }
    this.#started = []
  }
}

export function createDistributor (init: DistributorConfigInput, components: DistributorComponents): Distributor {
  return new Distributor(distributorConfigSchema.parse(init), components)
}
