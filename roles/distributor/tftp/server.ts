/**
 * The listening side: one UDP socket on the configured port receives requests and starts a
 * `ReadSession` per transfer. Write requests are refused (a boot server is read-only),
 * malformed datagrams are counted and logged at a rate limit but never answered (no
 * reflection of garbage), rejected requests get an ERROR packet from the listening port.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { EventEmitter } from 'node:events'
import { isIPv6 } from 'node:net'
import type { Logger } from 'pino'
import {
  TFTP_ERROR, TftpCodecError, UnsupportedModeError, decode, encode, type RequestPacket, type TftpPacket
} from '../../../protocols/tftp/index.js'
import type { TftpConfig } from './config.js'
import {
  AccessDeniedError, AddressInUseError, BindError, PrivilegedPortError, type TftpServerError
} from './errors.js'
import type { FileSource, TftpServerEvents } from './index.js'
import { createMetrics, type TftpMetrics } from './metrics.js'
import { negotiate } from './options.js'
import { normalizeRequestPath } from './path.js'
import { RateLimitedLog } from './rate-limited-log.js'
import { ReadSession } from './session.js'

function bindError (err: unknown, address: string, port: number): TftpServerError {
  const code = typeof err === 'object' && err !== null && 'code' in err ? (err as { code: unknown }).code : undefined
  if (code === 'EACCES' || code === 'EPERM') return new PrivilegedPortError(address, port, { cause: err })
  if (code === 'EADDRINUSE') return new AddressInUseError(address, port, { cause: err })
  return new BindError(`cannot bind UDP ${address}:${port}: ${String(code ?? err)}`, { cause: err })
}

export class TftpServer extends EventEmitter<TftpServerEvents> {
  private readonly counters: TftpMetrics = createMetrics()
  private readonly sessions = new Map<string, ReadSession>()
  private readonly logger: Logger
  private readonly malformedLog: RateLimitedLog
  private readonly busyLog: RateLimitedLog
  private readonly refusalLog: RateLimitedLog
  private readonly family: 'udp4' | 'udp6'
  private socket: Socket | undefined
  private starting: Promise<void> | undefined
  private stopping: Promise<void> | undefined

  constructor (readonly config: TftpConfig, private readonly files: FileSource, logger: Logger) {
    super()
    this.logger = logger.child({ component: 'role:distributor:tftp' })
    this.malformedLog = new RateLimitedLog(this.logger, config.logIntervalMs)
    this.busyLog = new RateLimitedLog(this.logger, config.logIntervalMs)
    this.refusalLog = new RateLimitedLog(this.logger, Math.min(config.logIntervalMs, 1000), 'info')
    this.family = isIPv6(config.address) ? 'udp6' : 'udp4'
  }

  /** Live counters (read-only view). */
  get metrics (): Readonly<TftpMetrics> {
    return this.counters
  }

  /** The bound address once started (the real port when `port: 0` was configured). */
  get address (): { address: string, port: number } | undefined {
    if (this.socket === undefined) return undefined
    const { address, port } = this.socket.address()
    return { address, port }
  }

  /** Bind the listening socket. Safe to call twice. */
  async start (): Promise<void> {
    if (this.stopping !== undefined) await this.stopping
    this.starting ??= this.bind().catch((err: unknown) => {
      this.starting = undefined
      throw err
    })
    await this.starting
  }

  /** End every transfer and close every socket. Safe to call twice. */
  async stop (): Promise<void> {
    if (this.starting === undefined) return
    this.stopping ??= (async () => {
      await this.starting?.catch(() => {})
      const socket = this.socket
      this.socket = undefined
      const running = [...this.sessions.values()]
      for (const session of running) session.abort()
      await Promise.all(running.map(async s => await s.done))
      if (socket !== undefined) await new Promise<void>(resolve => { socket.close(() => { resolve() }) })
      this.starting = undefined
      this.stopping = undefined
      this.logger.info('tftp server stopped')
    })()
    await this.stopping
  }

  private async bind (): Promise<void> {
    const { address, port } = this.config
    const socket = createSocket({ type: this.family })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', (err) => { socket.close(); reject(bindError(err, address, port)) })
      socket.bind({ address, port, exclusive: true }, () => { socket.removeAllListeners('error'); resolve() })
    })
    socket.on('error', (err) => { this.logger.warn({ err }, 'listening socket error') })
    socket.on('message', (msg, rinfo) => {
      this.onRequest(msg, rinfo).catch((err: unknown) => { this.logger.error({ err, host: rinfo.address }, 'request handling failed') })
    })
    this.socket = socket
    this.logger.info({ address, port: socket.address().port }, 'tftp server listening')
  }

  private reply (to: RemoteInfo, code: number, message: string): void {
    this.socket?.send(encode({ type: 'ERROR', code, message }), to.port, to.address)
  }

  private reject (to: RemoteInfo, code: number, message: string, file?: string): void {
    this.counters.rejectedRequests++
    this.refusalLog.log({ host: to.address, port: to.port, file, tftpCode: code }, `request refused: ${message}`)
    this.reply(to, code, message)
  }

  private async onRequest (msg: Buffer, rinfo: RemoteInfo): Promise<void> {
    let packet: TftpPacket
    try {
      packet = decode(msg)
    } catch (err) {
      if (!(err instanceof TftpCodecError)) throw err
      if (err instanceof UnsupportedModeError) {
        this.reject(rinfo, TFTP_ERROR.ILLEGAL_OPERATION, `unsupported mode "${err.mode.slice(0, 32)}"`)
        return
      }
      this.counters.malformedPackets++
      this.malformedLog.log({ host: rinfo.address, port: rinfo.port, size: msg.length, reason: err.code }, 'malformed TFTP packet')
      return
    }
    switch (packet.type) {
      case 'RRQ':
        this.counters.requests++
        await this.onReadRequest(packet, rinfo)
        return
      case 'WRQ':
        this.counters.requests++
        this.reject(rinfo, TFTP_ERROR.ACCESS_VIOLATION, 'server is read-only', packet.filename)
        return
      case 'ERROR':
        return // never answer an error
      default:
        this.reject(rinfo, TFTP_ERROR.ILLEGAL_OPERATION, `${packet.type} sent to the request port`)
    }
  }

  private async onReadRequest (request: RequestPacket, client: RemoteInfo): Promise<void> {
    const key = `${client.address}|${client.port}`
    if (this.sessions.has(key)) {
      this.counters.duplicateRequests++ // our first answer was lost; the transfer retransmits it
      return
    }
    if (this.sessions.size >= this.config.maxSessions) {
      this.counters.busyDrops++
      this.busyLog.log({ host: client.address, active: this.sessions.size }, 'too many transfers, request dropped')
      return
    }
    if (request.mode === 'mail') {
      this.reject(client, TFTP_ERROR.ILLEGAL_OPERATION, 'mail mode is not supported', request.filename)
      return
    }
    let filename: string
    let file
    try {
      filename = normalizeRequestPath(request.filename)
      file = await this.files.open(filename, { signal: AbortSignal.timeout(10_000) })
    } catch (err) {
      if (err instanceof AccessDeniedError) {
        this.reject(client, TFTP_ERROR.ACCESS_VIOLATION, 'access violation', request.filename)
      } else {
        this.logger.warn({ err, file: request.filename }, 'file source failed')
        this.reject(client, TFTP_ERROR.NOT_DEFINED, 'cannot read file', request.filename)
      }
      return
    }
    if (file === undefined) {
      this.reject(client, TFTP_ERROR.FILE_NOT_FOUND, 'file not found', request.filename)
      return
    }
    if (this.socket === undefined || this.sessions.has(key)) {
      await file.close() // stopped, or a duplicate request raced us while we opened the file
      return
    }
    const session = new ReadSession({
      client: { address: client.address, port: client.port },
      filename,
      file,
      negotiated: negotiate(request.options, file.size, this.config),
      config: this.config,
      logger: this.logger.child({ host: client.address, file: filename }),
      metrics: this.counters,
      malformedLog: this.malformedLog
    })
    this.sessions.set(key, session)
    this.counters.activeSessions = this.sessions.size
    void session.done.then(outcome => {
      this.sessions.delete(key)
      this.counters.activeSessions = this.sessions.size
      const base = { file: filename, host: client.address, port: client.port, bytes: outcome.bytes, durationMs: outcome.durationMs, retransmits: outcome.retransmits }
      if (outcome.ok) {
        this.counters.filesServed++
        this.counters.bytesServed += outcome.bytes
        this.logger.debug(base, 'file served')
        this.emit('file:served', { ...base, size: file.size, blocks: outcome.blocks })
      } else {
        this.counters.transfersFailed++
        this.logger.info({ ...base, err: outcome.error }, 'transfer failed')
        this.emit('transfer:failed', { ...base, error: outcome.error })
      }
    })
    try {
      await session.start(this.config.address, this.family)
    } catch (err) {
      this.logger.warn({ err }, 'cannot open a transfer socket')
      session.abort(new BindError('cannot bind a transfer socket', { cause: err }))
      this.reply(client, TFTP_ERROR.NOT_DEFINED, 'server cannot start a transfer')
    }
  }
}
