/**
 * The I/O half of the DHCP server: UDP sockets, metrics, rate-limited logs, typed events.
 *
 * Node's dgram cannot bind to an interface or tell where a datagram came in, so the server
 * binds `bindAddress` (0.0.0.0) and serves the configured subnets. Broadcast replies go to
 * 255.255.255.255 — UEFI PXE firmware takes nothing else — where the host has a route for it
 * (a default route, or `ip route add 255.255.255.255/32 dev <boot interface>`); without one the
 * send fails and the reply goes to the subnet's broadcast address instead, which iPXE and
 * Linux clients accept.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import { DhcpCodecError, decode, encode, hardwareAddress, type DhcpMessage } from '../../../protocols/dhcp/index.js'
import type { Lease, LeaseStore } from '../../../store/leases.js'
import type { DhcpConfig } from './config.js'
import { BindError, PortInUseError, PrivilegedPortError } from './errors.js'
import { DhcpHandler, type HostSighted, type Outcome, type Via } from './handler.js'
import { LeasePool } from './leases.js'

export interface DhcpComponents {
  logger: Logger
  leaseStore: LeaseStore
  /** ms since the epoch; tests pass a fake clock */
  now?: () => number
}

export interface DhcpServerEvents {
  /** every lease and every boot request */
  'host:sighted': [HostSighted]
  'lease:granted': [Lease]
  'lease:released': [Lease]
  'lease:expired': [Lease]
}

export interface DhcpMetrics {
  received: number
  malformed: number
  ignored: number
  offers: number
  acks: number
  naks: number
  informs: number
  releases: number
  declines: number
  proxyOffers: number
  proxyAcks: number
  exhausted: number
  sendErrors: number
  handlerErrors: number
}

const METRIC_OF: Record<Outcome['kind'], keyof DhcpMetrics> = {
  offer: 'offers',
  ack: 'acks',
  nak: 'naks',
  inform: 'informs',
  'proxy-offer': 'proxyOffers',
  'proxy-ack': 'proxyAcks',
  release: 'releases',
  decline: 'declines',
  exhausted: 'exhausted',
  ignored: 'ignored'
}

const MALFORMED_LOG_INTERVAL_MS = 10_000

export class DhcpServer extends EventEmitter<DhcpServerEvents> {
  readonly metrics: DhcpMetrics = {
    received: 0, malformed: 0, ignored: 0, offers: 0, acks: 0, naks: 0, informs: 0, releases: 0,
    declines: 0, proxyOffers: 0, proxyAcks: 0, exhausted: 0, sendErrors: 0, handlerErrors: 0
  }

  private readonly log: Logger
  private readonly pool: LeasePool
  private readonly handler: DhcpHandler
  private sockets: Socket[] = []
  private sweepTimer: NodeJS.Timeout | undefined
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined
  private readonly inFlight = new Set<Promise<void>>()
  private lastMalformedLog = -Infinity
  private suppressedMalformed = 0

  constructor (readonly config: Readonly<DhcpConfig>, private readonly components: DhcpComponents) {
    super()
    this.log = components.logger.child({ component: 'role:distributor:dhcp', ...(config.dc === undefined ? {} : { dc: config.dc }) })
    const now = components.now ?? Date.now
    this.pool = new LeasePool(components.leaseStore, {
      now,
      offerTimeoutMs: config.offerTimeoutSeconds * 1000,
      declineHoldMs: config.declineHoldSeconds * 1000
    })
    this.handler = new DhcpHandler(config, this.pool)
  }

  get started (): boolean { return this.sockets.length > 0 }

  /** Loads leases and binds the server and PXE ports. Safe to call twice. */
  async start (): Promise<void> {
    if (this.stopping !== undefined) await this.stopping
    this.starting ??= this.doStart().catch(async err => {
      this.starting = undefined
      await this.closeSockets()
      throw err
    })
    return await this.starting
  }

  private async doStart (): Promise<void> {
    await this.components.leaseStore.open()
    await this.pool.load()
    const { server, pxe } = this.config.ports
    this.sockets.push(await this.bind(server, 'server'))
    this.sockets.push(await this.bind(pxe, 'pxe'))
    this.sweepTimer = setInterval(() => { void this.sweepExpired().catch(err => this.log.error({ err }, 'lease sweep failed')) },
      this.config.sweepIntervalSeconds * 1000)
    this.sweepTimer.unref()
    this.log.info({ mode: this.config.mode, server, pxe, address: this.config.bindAddress }, 'dhcp server listening')
  }

  /** Closes the sockets after in-flight requests are written. Safe to call twice. */
  async stop (): Promise<void> {
    if (this.starting === undefined) return
    this.stopping ??= (async () => {
      await this.starting?.catch(() => {})
      clearInterval(this.sweepTimer)
      this.sweepTimer = undefined
      await this.closeSockets()
      await Promise.allSettled([...this.inFlight])
      this.starting = undefined
      this.log.info('dhcp server stopped')
    })().finally(() => { this.stopping = undefined })
    return await this.stopping
  }

  /** A snapshot of every lease record (bound, released, declined). */
  leases (): Lease[] { return this.pool.list() }

  /** Expires lapsed leases now (also runs on a timer); returns the ones that lapsed. */
  async sweepExpired (): Promise<Lease[]> {
    const lapsed = await this.pool.sweep()
    for (const lease of lapsed) {
      this.log.info({ host: lease.mac, ip: lease.ip }, 'lease expired')
      this.emit('lease:expired', lease)
    }
    return lapsed
  }

  private async closeSockets (): Promise<void> {
    const socks = this.sockets
    this.sockets = []
    await Promise.all(socks.map(async s => { await new Promise<void>(resolve => { try { s.close(() => resolve()) } catch { resolve() } }) }))
  }

  private async bind (port: number, via: Via): Promise<Socket> {
    const sock = createSocket({ type: 'udp4' })
    try {
      await new Promise<void>((resolve, reject) => {
        sock.once('error', reject)
        sock.bind({ port, address: this.config.bindAddress, exclusive: true }, () => { sock.off('error', reject); resolve() })
      })
    } catch (err) {
      try { sock.close() } catch {}
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EACCES' || code === 'EPERM') throw new PrivilegedPortError(port, { cause: err })
      if (code === 'EADDRINUSE') throw new PortInUseError(port, { cause: err })
      throw new BindError(`binding UDP ${this.config.bindAddress}:${port} failed: ${(err as Error).message}`, { cause: err })
    }
    sock.setBroadcast(true)
    try { sock.setRecvBufferSize(4 * 1024 * 1024) } catch {}
    sock.on('error', err => this.log.error({ err, port }, 'dhcp socket error'))
    sock.on('message', (buf, rinfo) => this.onDatagram(sock, buf, rinfo, via))
    return sock
  }

  private onDatagram (sock: Socket, buf: Buffer, rinfo: RemoteInfo, via: Via): void {
    this.metrics.received++
    let msg: DhcpMessage
    try {
      msg = decode(buf)
    } catch (err) {
      this.metrics.malformed++
      if (err instanceof DhcpCodecError) this.logMalformed(err, rinfo)
      else this.log.error({ err, from: `${rinfo.address}:${rinfo.port}` }, 'dhcp decoder failed unexpectedly')
      return
    }
    const mac = hardwareAddress(msg)
    const work = this.handler.handle({ msg, via, from: { address: rinfo.address, port: rinfo.port } })
      .then(outcome => { this.apply(sock, outcome, mac) })
      .catch(err => {
        this.metrics.handlerErrors++
        this.log.error({ err, host: mac }, 'dhcp request failed')
      })
    this.inFlight.add(work)
    void work.finally(() => this.inFlight.delete(work))
  }

  private logMalformed (err: DhcpCodecError, rinfo: RemoteInfo): void {
    const t = Date.now()
    if (t - this.lastMalformedLog < MALFORMED_LOG_INTERVAL_MS) { this.suppressedMalformed++; return }
    this.log.warn({ code: err.code, from: `${rinfo.address}:${rinfo.port}`, suppressed: this.suppressedMalformed }, `malformed dhcp packet: ${err.message}`)
    this.lastMalformedLog = t
    this.suppressedMalformed = 0
  }

  private limitedBroadcastFailedAt = 0

  private apply (sock: Socket, outcome: Outcome, mac: string): void {
    this.metrics[METRIC_OF[outcome.kind]]++
    if (outcome.kind === 'ignored') this.log.debug({ host: mac, reason: outcome.reason }, 'dhcp request ignored')
    else this.log.debug({ host: mac, kind: outcome.kind, reason: outcome.reason }, 'dhcp request answered')
    if (outcome.kind === 'ack' && outcome.lease !== undefined) this.emit('lease:granted', outcome.lease)
    if (outcome.kind === 'release' && outcome.lease !== undefined) this.emit('lease:released', outcome.lease)
    if (outcome.kind === 'exhausted') this.log.warn({ host: mac }, 'dhcp pool exhausted')
    if (outcome.reply !== undefined) {
      const { message, to } = outcome.reply
      const bytes = encode(message)
      if (this.sockets.includes(sock)) {
        const send = (address: string, fallback?: string): void => {
          sock.send(bytes, to.port, address, err => {
            if (err == null) return
            if (fallback !== undefined) {
              // no route for the limited broadcast (a host without a default route): the subnet's will do for most clients
              this.limitedBroadcastFailedAt = Date.now()
              send(fallback)
              return
            }
            this.metrics.sendErrors++
            this.log.warn({ err, to: `${address}:${to.port}` }, 'dhcp reply not sent')
          })
        }
        // UEFI PXE (OVMF, measured) takes only replies to 255.255.255.255; iPXE takes the subnet's too
        const tryLimited = to.broadcast === true && Date.now() - this.limitedBroadcastFailedAt > 60_000
        if (tryLimited) send('255.255.255.255', to.address)
        else send(to.address)
      }
    }
    if (outcome.sighted !== undefined) this.emit('host:sighted', outcome.sighted)
  }
}
