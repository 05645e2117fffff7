/**
 * One query to one upstream, over UDP (a fresh socket per query: random source port) or TCP
 * (2-byte length framing). Resolves with the validated, decoded response.
 */
import dgram from 'node:dgram'
import net from 'node:net'
import dnsPacket from 'dns-packet'
import type { DecodedPacket, Question } from 'dns-packet'
import type { Upstream } from './config.js'
import { ForwardAbortedError, UpstreamBadResponseError, UpstreamTimeoutError, UpstreamUnreachableError } from './errors.js'

export interface ExchangeOptions {
  timeoutMs: number
  signal?: AbortSignal
}

/** Why a response is not an answer to our query, or undefined when it is. */
export function mismatch (res: DecodedPacket, id: number, q: Question): string | undefined {
  if (res.type !== 'response') return 'not a response'
  if (res.id !== id) return 'wrong id'
  const rq = res.questions?.[0]
  if (res.questions?.length !== 1 || rq === undefined) return 'question count'
  if (rq.name.toLowerCase() !== q.name.toLowerCase() || rq.type !== q.type || (rq.class ?? 'IN') !== (q.class ?? 'IN')) return 'question differs'
  return undefined
}

function decodeOrUndefined (buf: Buffer): DecodedPacket | undefined {
  try {
    return dnsPacket.decode(buf)
  } catch {
    return undefined
  }
}

/** Common settle/timeout/abort plumbing for one exchange. */
function exchange (upstream: Upstream, opts: ExchangeOptions, run: (settle: Settle) => () => void): Promise<DecodedPacket> {
  return new Promise((resolve, reject) => {
    let done = false
    let cleanup = (): void => {}
    const finish = (err: Error | undefined, res?: DecodedPacket): void => {
      if (done) return
      done = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      cleanup()
      if (err !== undefined) reject(err)
      else resolve(res as DecodedPacket)
    }
    const onAbort = (): void => { finish(new ForwardAbortedError()) }
    const timer = setTimeout(() => { finish(new UpstreamTimeoutError(upstream.label, opts.timeoutMs)) }, opts.timeoutMs)
    if (opts.signal?.aborted === true) { finish(new ForwardAbortedError()); return }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    cleanup = run(finish)
  })
}

type Settle = (err: Error | undefined, res?: DecodedPacket) => void

export function exchangeUdp (upstream: Upstream, query: Buffer, id: number, q: Question, opts: ExchangeOptions): Promise<DecodedPacket> {
  return exchange(upstream, opts, settle => {
    const socket = dgram.createSocket(net.isIPv6(upstream.host) ? 'udp6' : 'udp4')
    socket.on('error', err => { settle(new UpstreamUnreachableError(upstream.label, { cause: err })) })
    socket.on('message', msg => {
      const res = decodeOrUndefined(msg)
      // anything that is not the answer to our question (late, spoofed, garbage) is ignored
      if (res !== undefined && mismatch(res, id, q) === undefined) settle(undefined, res)
    })
    socket.connect(upstream.port, upstream.host, () => {
      socket.send(query, err => { if (err != null) settle(new UpstreamUnreachableError(upstream.label, { cause: err })) })
    })
    return () => { try { socket.close() } catch { /* already closed */ } }
  })
}

export function exchangeTcp (upstream: Upstream, query: Buffer, id: number, q: Question, opts: ExchangeOptions): Promise<DecodedPacket> {
  return exchange(upstream, opts, settle => {
    const socket = net.connect({ host: upstream.host, port: upstream.port, noDelay: true })
    let buffered = Buffer.alloc(0)
    socket.on('error', err => { settle(new UpstreamUnreachableError(upstream.label, { cause: err })) })
    socket.on('close', () => { settle(new UpstreamBadResponseError(upstream.label, 'connection closed before an answer')) })
    socket.on('data', chunk => {
      buffered = buffered.length === 0 ? chunk : Buffer.concat([buffered, chunk])
      if (buffered.length < 2) return
      const length = buffered.readUInt16BE(0)
      if (buffered.length < 2 + length) return
      const res = decodeOrUndefined(buffered.subarray(2, 2 + length))
      const why = res === undefined ? 'undecodable' : mismatch(res, id, q)
      if (why !== undefined) settle(new UpstreamBadResponseError(upstream.label, why))
      else settle(undefined, res)
    })
    const frame = Buffer.alloc(2 + query.length)
    frame.writeUInt16BE(query.length, 0)
    query.copy(frame, 2)
    socket.write(frame)
    return () => { socket.destroy() }
  })
}
