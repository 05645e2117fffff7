/**
 * DNS over TCP (RFC 7766): 2-byte length framing, pipelined queries, idle timeout, a cap on
 * connections and on queries in flight per connection, a cap on frame size.
 */
import net from 'node:net'
import type { Logger } from 'pino'
import type { DnsConfig } from './config.js'
import type { QueryHandler } from './handler.js'
import type { DnsMetrics } from './metrics.js'

export class TcpListener {
  private readonly sockets = new Set<net.Socket>()
  readonly server: net.Server

  constructor (private readonly cfg: DnsConfig, private readonly handler: QueryHandler, private readonly metrics: DnsMetrics, private readonly log: Logger) {
    this.server = net.createServer({ noDelay: true }, socket => { this.accept(socket) })
  }

  /** Destroys every open connection (the server itself is closed by the caller). */
  destroyAll (): void {
    for (const socket of this.sockets) socket.destroy()
    this.sockets.clear()
  }

  private accept (socket: net.Socket): void {
    const limits = this.cfg.limits
    if (this.sockets.size >= limits.tcpMaxConnections) {
      this.metrics.tcpRejected++
      socket.destroy()
      return
    }
    this.metrics.tcpAccepted++
    this.metrics.tcpOpen++
    this.sockets.add(socket)
    const client = { address: socket.remoteAddress ?? '?', port: socket.remotePort ?? 0 }
    let buffered: Buffer = Buffer.alloc(0)
    let inFlight = 0
    let paused = false

    socket.setTimeout(limits.tcpIdleTimeoutMs, () => {
      this.metrics.tcpIdleClosed++
      socket.destroy()
    })
    socket.on('error', err => { this.log.debug({ err, client }, 'tcp connection error') })
    socket.on('close', () => {
      this.metrics.tcpOpen--
      this.sockets.delete(socket)
    })

    const write = (response: Buffer): void => {
      if (socket.destroyed) return
      const frame = Buffer.allocUnsafe(2 + response.length)
      frame.writeUInt16BE(response.length, 0)
      response.copy(frame, 2)
      socket.write(frame)
    }
    // stop reading while answers are outstanding or the client is not reading its answers
    const mustPause = (): boolean => inFlight >= limits.tcpMaxPipelined || socket.writableNeedDrain
    const maybeResume = (): void => {
      if (paused && !mustPause() && !socket.destroyed) {
        paused = false
        socket.resume()
      }
    }
    const settleLater = (response: Buffer): void => {
      inFlight--
      write(response)
      maybeResume()
    }
    socket.on('drain', maybeResume)

    socket.on('data', chunk => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      while (buffered.length >= 2) {
        const length = buffered.readUInt16BE(0)
        if (length < 12 || length > limits.maxMessageBytes) {
          // not DNS, or more than we accept: nothing sensible can follow on this stream
          this.metrics.malformed++
          this.metrics.dropped++
          socket.destroy()
          return
        }
        if (buffered.length < 2 + length) break
        const msg = buffered.subarray(2, 2 + length)
        buffered = buffered.subarray(2 + length)
        this.metrics.tcpQueries++
        let pending = false
        const outcome = this.handler.handle(msg, 'tcp', response => { if (pending) settleLater(response); else write(response) }, client)
        if (outcome === 'pending') {
          pending = true
          inFlight++
        }
      }
      if (!paused && mustPause()) {
        paused = true
        socket.pause()
      }
    })
  }
}
