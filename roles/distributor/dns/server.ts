/**
 * The DNS server: one UDP socket and one TCP listener on the same address and port, both
 * feeding a {@link QueryHandler}. `start()`/`stop()` are idempotent and may be repeated.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import type { Logger } from 'pino'
import type { DnsConfig } from './config.js'
import { AddressInUseError, BindError, PrivilegedPortError } from './errors.js'
import { Forwarder } from './forward.js'
import { QueryHandler } from './handler.js'
import { createMetrics, type DnsMetrics } from './metrics.js'
import { TcpListener } from './tcp.js'
import { Zone } from './zone.js'
import type { ZoneSource } from './zone-source.js'

const EPHEMERAL_ATTEMPTS = 20
const UDP_BUFFER_BYTES = 4 * 1024 * 1024

export interface DnsAddress {
  address: string
  port: number
}

export class DnsServer {
  readonly metrics: DnsMetrics = createMetrics()
  private readonly log: Logger
  private readonly forwarder: Forwarder
  private zone: Zone | undefined
  private udp: dgram.Socket | undefined
  private tcp: TcpListener | undefined
  private boundPort = 0
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined

  constructor (readonly config: DnsConfig, private readonly records: ZoneSource, logger: Logger) {
    this.log = logger.child({ component: 'role:distributor:dns' })
    this.forwarder = new Forwarder(config, this.log, this.metrics)
  }

  get running (): boolean {
    return this.udp !== undefined
  }

  /** Where we listen (the real port when configured with 0); undefined when stopped. */
  get address (): DnsAddress | undefined {
    return this.running ? { address: this.config.address, port: this.boundPort } : undefined
  }

  async start (): Promise<void> {
    if (this.stopping !== undefined) await this.stopping
    if (this.running) return
    this.starting ??= this.bind().finally(() => { this.starting = undefined })
    await this.starting
  }

  async stop (): Promise<void> {
    if (this.starting !== undefined) await this.starting.catch(() => {})
    if (!this.running) return
    this.stopping ??= this.unbind().finally(() => { this.stopping = undefined })
    await this.stopping
  }

  private async bind (): Promise<void> {
    const zone = new Zone(this.config, this.records)
    const handler = new QueryHandler(this.config, zone, this.forwarder, this.metrics, this.log)
    const { address, port } = this.config
    const attempts = port === 0 ? EPHEMERAL_ATTEMPTS : 1
    for (let attempt = 1; ; attempt++) {
      const udp = this.createUdp(handler)
      const tcp = new TcpListener(this.config, handler, this.metrics, this.log)
      try {
        const udpPort = await bindUdp(udp, address, port)
        await listenTcp(tcp.server, address, udpPort)
        try { udp.setRecvBufferSize(UDP_BUFFER_BYTES); udp.setSendBufferSize(UDP_BUFFER_BYTES) } catch { /* capped by net.core.rmem_max: keep the default */ }
        this.zone = zone
        this.udp = udp
        this.tcp = tcp
        this.boundPort = udpPort
        this.log.info({ address, port: udpPort, domain: this.config.domain, upstreams: this.config.upstreams.map(u => u.label) }, 'dns server listening')
        return
      } catch (err) {
        try { udp.close() } catch { /* never bound */ }
        tcp.server.close()
        // with port 0 the free UDP port may be taken for TCP: pick another
        if (!(err instanceof AddressInUseError && err.transport === 'tcp' && attempt < attempts)) {
          zone.close()
          throw err
        }
      }
    }
  }

  private createUdp (handler: QueryHandler): dgram.Socket {
    const udp = dgram.createSocket({ type: net.isIPv6(this.config.address) ? 'udp6' : 'udp4' })
    udp.on('message', (msg, rinfo) => {
      this.metrics.udpQueries++
      handler.handle(msg, 'udp', response => {
        if (this.udp === udp) udp.send(response, rinfo.port, rinfo.address, sendError)
      }, rinfo)
    })
    const sendError = (err: Error | null): void => {
      if (err !== null) this.log.debug({ err }, 'udp send failed')
    }
    udp.on('error', err => { this.log.warn({ err }, 'udp socket error') })
    return udp
  }

  private async unbind (): Promise<void> {
    const udp = this.udp
    const tcp = this.tcp
    this.udp = undefined
    this.tcp = undefined
    this.forwarder.stop()
    this.zone?.close()
    this.zone = undefined
    tcp?.destroyAll()
    await Promise.all([
      new Promise<void>(resolve => { if (udp === undefined) resolve(); else udp.close(() => { resolve() }) }),
      new Promise<void>(resolve => { if (tcp === undefined) resolve(); else tcp.server.close(() => { resolve() }) })
    ])
    this.log.info('dns server stopped')
  }
}

function bindError (err: unknown, address: string, port: number, transport: 'udp' | 'tcp'): Error {
  const code = (err as NodeJS.ErrnoException).code
  if (code === 'EACCES' && port > 0 && port < 1024) return new PrivilegedPortError(address, port, { cause: err })
  if (code === 'EADDRINUSE') return new AddressInUseError(address, port, transport, { cause: err })
  return new BindError(address, port, transport, { cause: err })
}

function bindUdp (udp: dgram.Socket, address: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { reject(bindError(err, address, port, 'udp')) }
    udp.once('error', onError)
    udp.bind({ address, port, exclusive: true }, () => {
      udp.off('error', onError)
      resolve(udp.address().port)
    })
  })
}

function listenTcp (server: net.Server, address: string, port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: Error): void => { reject(bindError(err, address, port, 'tcp')) }
    server.once('error', onError)
    server.listen({ host: address, port, exclusive: true }, () => {
      server.off('error', onError)
      resolve()
    })
  })
}
