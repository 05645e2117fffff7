/**
 * One read transfer. It owns an ephemeral UDP socket (its TID, RFC 1350 §4), sends an OACK
 * when options were negotiated, then DATA in windows of `windowsize` blocks (RFC 7440).
 *
 * - Only an ACK that acknowledges something new moves the transfer on; duplicate or stale
 *   ACKs are ignored, so a duplicated ACK never doubles the DATA stream (sorcerer's apprentice).
 * - An ACK inside the window means the client missed the next block: sending restarts there.
 * - With no progress for one timeout, the unacknowledged packets are sent again; after
 *   `maxRetries` such timeouts the transfer fails.
 * - Block numbers wrap from 65535 to 0; an ACK is matched against the few unacknowledged
 *   absolute block numbers, which is unambiguous because windows are far below 65536.
 * - Packets from any other address/port get error 5 and leave the transfer alone.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import type { Logger } from 'pino'
import {
  BLOCK_MODULO, TFTP_ERROR, TftpCodecError, decode, encode, type TftpPacket
} from '../../../protocols/tftp/index.js'
import { BlockReader } from './block-reader.js'
import type { TftpConfig } from './config.js'
import {
  ClientAbortError, IllegalOperationError, ServerStoppedError, SourceError, TransferTimeoutError, type TftpServerError
} from './errors.js'
import type { OpenedFile } from './index.js'
import type { TftpMetrics } from './metrics.js'
import type { Negotiated } from './options.js'
import type { RateLimitedLog } from './rate-limited-log.js'

export interface SessionInit {
  client: { address: string, port: number }
  filename: string
  file: OpenedFile
  negotiated: Negotiated
  config: TftpConfig
  logger: Logger
  metrics: TftpMetrics
  malformedLog: RateLimitedLog
}

export type SessionOutcome =
  | { ok: true, bytes: number, blocks: number, retransmits: number, durationMs: number }
  | { ok: false, error: TftpServerError, bytes: number, retransmits: number, durationMs: number }

interface Pending { abs: number, packet: Uint8Array }

export class ReadSession {
  readonly done: Promise<SessionOutcome>
  private resolveDone!: (outcome: SessionOutcome) => void
  private socket: Socket | undefined
  private readonly reader: BlockReader
  private readonly started = Date.now()
  private readonly unacked: Pending[] = []
  private oackPending: boolean
  private acked = 0
  private nextAbs = 1
  private finalAbs: number | undefined
  private bytes = 0
  private retries = 0
  private retransmits = 0
  private timer: NodeJS.Timeout | undefined
  private reading = false
  private finished = false

  constructor (private readonly init: SessionInit) {
    this.done = new Promise(resolve => { this.resolveDone = resolve })
    this.reader = new BlockReader(init.file.stream, init.file.size, init.negotiated.blksize)
    this.oackPending = init.negotiated.oack.size > 0
  }

  /** Bind the transfer's own socket next to `bindAddress` and send the first packet(s). */
  async start (bindAddress: string, family: 'udp4' | 'udp6'): Promise<void> {
    const socket = createSocket(family)
    this.socket = socket
    socket.on('message', (msg, rinfo) => { this.onMessage(msg, rinfo) })
    socket.on('error', (err) => { this.init.logger.debug({ err }, 'transfer socket error') })
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject)
      socket.bind({ address: bindAddress, port: 0, exclusive: true }, () => { socket.off('error', reject); resolve() })
    })
    if (this.oackPending) {
      this.send(encode({ type: 'OACK', options: this.init.negotiated.oack }))
      this.arm()
    } else {
      this.pump()
      this.arm()
    }
  }

  /** End the transfer from outside (server stopping). */
  abort (error: TftpServerError = new ServerStoppedError('server stopped')): void {
    this.fail(error, error.message)
  }

  private onMessage (msg: Buffer, rinfo: RemoteInfo): void {
    if (this.finished) return
    const { client, metrics } = this.init
    let packet: TftpPacket | undefined
    try {
      packet = decode(msg)
    } catch (err) {
      if (!(err instanceof TftpCodecError)) throw err
    }
    if (rinfo.address !== client.address || rinfo.port !== client.port) {
      metrics.unknownTidPackets++
      if (packet?.type !== 'ERROR') this.sendTo(rinfo, TFTP_ERROR.UNKNOWN_TID, 'unknown transfer ID')
      return
    }
    if (packet === undefined) {
      metrics.malformedPackets++
      this.init.malformedLog.log({ host: rinfo.address, port: rinfo.port, size: msg.length }, 'malformed TFTP packet in transfer')
      return
    }
    switch (packet.type) {
      case 'ACK':
        this.onAck(packet.block)
        return
      case 'ERROR':
        this.fail(new ClientAbortError(packet.code, packet.message))
        return
      default:
        this.fail(new IllegalOperationError(`${packet.type} in a read transfer`), `illegal ${packet.type} in a read transfer`, TFTP_ERROR.ILLEGAL_OPERATION)
    }
  }

  private onAck (block: number): void {
    if (this.oackPending) {
      if (block !== 0) return
      this.oackPending = false
      this.progress()
      this.pump()
      return
    }
    // which unacknowledged absolute block does this 16-bit number mean?
    let abs: number | undefined
    for (let a = this.acked + 1; a < this.nextAbs; a++) {
      if (a % BLOCK_MODULO === block) { abs = a; break }
    }
    if (abs === undefined) return // duplicate or stale: ignore, the timer covers real loss
    this.acked = abs
    while (this.unacked.length > 0 && (this.unacked[0] as Pending).abs <= abs) this.unacked.shift()
    this.progress()
    if (this.finalAbs !== undefined && abs >= this.finalAbs) {
      this.succeed()
      return
    }
    // an ACK inside the window: the client lost the next block, resend from there
    if (this.unacked.length > 0) {
      for (const p of this.unacked) this.send(p.packet)
      this.retransmits += this.unacked.length
      this.init.metrics.retransmittedPackets += this.unacked.length
    }
    this.pump()
  }

  /**
   * Send blocks until the window is full or the last block is out. Synchronous while the
   * reader has data buffered; otherwise it starts one read and continues when it lands.
   */
  private pump (): void {
    if (this.oackPending || this.finished) return
    const { windowsize, blksize } = this.init.negotiated
    try {
      while (this.unacked.length < windowsize && this.finalAbs === undefined && !this.finished) {
        const data = this.reader.tryNext()
        if (data === undefined) break
        const abs = this.nextAbs++
        const packet = encode({ type: 'DATA', block: abs % BLOCK_MODULO, data })
        this.unacked.push({ abs, packet })
        this.bytes += data.length
        if (data.length < blksize) this.finalAbs = abs
        this.send(packet)
      }
    } catch (err) {
      this.failOnSource(err)
      return
    }
    // read ahead: keep about one window buffered so the next ACK finds its blocks ready
    const starved = this.unacked.length < windowsize && this.finalAbs === undefined
    if (!this.reading && !this.finished && !this.reader.exhausted && (starved || this.reader.buffered < windowsize * blksize)) {
      this.reading = true
      this.reader.load().then(() => {
        this.reading = false
        if (!this.finished && !this.oackPending) this.pump()
      }, (err: unknown) => {
        this.reading = false
        this.failOnSource(err)
      })
    }
  }

  private failOnSource (err: unknown): void {
    const error = err instanceof SourceError ? err : new SourceError('transfer failed', { cause: err })
    this.fail(error, 'file read error')
  }

  private progress (): void {
    this.retries = 0
    this.arm()
  }

  private arm (): void {
    if (this.finished) return
    if (this.timer === undefined) this.timer = setTimeout(() => { this.onTimeout() }, this.init.negotiated.timeoutMs)
    else this.timer.refresh()
  }

  private onTimeout (): void {
    if (this.finished) return
    if (++this.retries > this.init.config.maxRetries) {
      this.fail(new TransferTimeoutError(`no answer from client after ${this.init.config.maxRetries} retries`), 'timeout')
      return
    }
    const packets = this.oackPending ? [encode({ type: 'OACK', options: this.init.negotiated.oack })] : this.unacked.map(p => p.packet)
    for (const p of packets) this.send(p)
    this.retransmits += packets.length
    this.init.metrics.retransmittedPackets += packets.length
    this.arm()
  }

  /** Send to the client; a failed send surfaces as a socket 'error' (logged) and counts as loss. */
  private send (packet: Uint8Array): void {
    this.socket?.send(packet, this.init.client.port, this.init.client.address)
  }

  private sendTo (to: { address: string, port: number }, code: number, message: string, callback?: () => void): void {
    this.socket?.send(encode({ type: 'ERROR', code, message }), to.port, to.address, () => callback?.())
  }

  private succeed (): void {
    this.finish({ ok: true, bytes: this.bytes, blocks: this.nextAbs - 1, retransmits: this.retransmits, durationMs: Date.now() - this.started })
  }

  /** Fail; when `notify` is given the client gets an ERROR packet first. */
  private fail (error: TftpServerError, notify?: string, code: number = TFTP_ERROR.NOT_DEFINED): void {
    if (this.finished) return
    if (notify !== undefined && this.socket !== undefined) {
      const socket = this.socket
      this.socket = undefined
      this.finished = true
      this.sendErrorThenClose(socket, code, notify)
    }
    this.finish({ ok: false, error, bytes: this.bytes, retransmits: this.retransmits, durationMs: Date.now() - this.started })
  }

  private sendErrorThenClose (socket: Socket, code: number, message: string): void {
    const { address, port } = this.init.client
    socket.send(encode({ type: 'ERROR', code, message }), port, address, () => { socket.close() })
  }

  private finish (outcome: SessionOutcome): void {
    this.finished = true
    clearTimeout(this.timer)
    this.socket?.close()
    this.socket = undefined
    void this.reader.close().catch(() => {})
    void Promise.resolve(this.init.file.close()).catch(() => {})
    this.resolveDone(outcome)
  }
}
