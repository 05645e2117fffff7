/**
 * A small TFTP read client with blksize, tsize and windowsize (RFC 7440) support.
 *
 * Used by tests, the benchmark and health checks; boot clients are the real users of
 * the server. Receiver rules (RFC 7440 §4): acknowledge every `windowsize` blocks and
 * on the last block; on a gap acknowledge the last in-order block once; re-acknowledge
 * when nothing arrives within the timeout. After the last block the client lingers for
 * one timeout so a lost final ACK can be repeated.
 */
import { createSocket, type RemoteInfo } from 'node:dgram'
import { isIPv6 } from 'node:net'
import { decode, encode, type TftpPacket } from './codec.js'
import { BLOCK_MODULO, DEFAULT_BLKSIZE, TFTP_ERROR } from './constants.js'
import { TftpCodecError } from './errors.js'

export interface FetchOptions {
  address: string
  port: number
  filename: string
  mode?: 'octet' | 'netascii'
  blksize?: number
  windowsize?: number
  /** Ask for the transfer size (RFC 2349). */
  tsize?: boolean
  timeoutMs?: number
  retries?: number
  /** How long to linger after the last block to repeat a lost final ACK (default: timeoutMs). */
  dallyMs?: number
  signal?: AbortSignal
}

export interface FetchResult {
  data: Uint8Array
  /** Options the server acknowledged (empty without OACK). */
  negotiated: ReadonlyMap<string, string>
  dataPackets: number
  acksSent: number
}

/** The server answered with an ERROR packet. */
export class TftpRemoteError extends Error {
  override readonly name = 'TftpRemoteError'
  readonly code = 'ERR_TFTP_REMOTE'
  constructor (readonly tftpCode: number, message: string) {
    super(`server error ${tftpCode}: ${message}`)
  }
}

/** No usable answer within timeout × retries. */
export class TftpClientTimeoutError extends Error {
  override readonly name = 'TftpClientTimeoutError'
  readonly code = 'ERR_TFTP_CLIENT_TIMEOUT'
}

/** Fetch one file into memory. */
export async function fetchFile (opts: FetchOptions): Promise<FetchResult> {
  const timeoutMs = opts.timeoutMs ?? 1000
  const retries = opts.retries ?? 5
  const options = new Map<string, string>()
  if (opts.blksize !== undefined) options.set('blksize', String(opts.blksize))
  if (opts.tsize === true) options.set('tsize', '0')
  if (opts.windowsize !== undefined) options.set('windowsize', String(opts.windowsize))

  const socket = createSocket(isIPv6(opts.address) ? 'udp6' : 'udp4')
  await new Promise<void>((resolve, reject) => {
    socket.once('error', reject)
    socket.bind(0, () => { socket.off('error', reject); resolve() })
  })

  return await new Promise<FetchResult>((resolve, reject) => {
    const chunks: Uint8Array[] = []
    let serverPort: number | undefined
    let negotiated: ReadonlyMap<string, string> = new Map()
    let blksize = DEFAULT_BLKSIZE
    let windowsize = 1
    let next = 1 // absolute number of the next expected block
    let inWindow = 0
    let gapAcked = false
    let done = false
    let lastSent: Uint8Array = encode({ type: 'RRQ', filename: opts.filename, mode: opts.mode ?? 'octet', options })
    let attempts = 0
    let dataPackets = 0
    let acksSent = 0
    let timer: NodeJS.Timeout | undefined

    let closed = false
    const close = (): void => {
      if (closed) return
      closed = true
      clearTimeout(timer)
      opts.signal?.removeEventListener('abort', onAbort)
      socket.close()
    }
    const finish = (err?: Error): void => {
      if (err !== undefined) { close(); reject(err); return }
      // resolve now, linger to re-acknowledge a retransmitted final block
      resolve({ data: Buffer.concat(chunks), negotiated, dataPackets, acksSent })
      clearTimeout(timer)
      timer = setTimeout(close, opts.dallyMs ?? timeoutMs)
    }
    const send = (buf: Uint8Array): void => {
      lastSent = buf
      socket.send(buf, serverPort ?? opts.port, opts.address)
    }
    const ack = (block: number): void => {
      acksSent++
      send(encode({ type: 'ACK', block: block % BLOCK_MODULO }))
    }
    const arm = (): void => {
      clearTimeout(timer)
      timer = setTimeout(() => {
        if (++attempts > retries) { finish(new TftpClientTimeoutError(`no answer after ${retries} retries`)); return }
        socket.send(lastSent, serverPort ?? opts.port, opts.address)
        arm()
      }, timeoutMs)
    }
    const onAbort = (): void => { if (!done) finish(new Error('aborted', { cause: opts.signal?.reason })) }
    opts.signal?.addEventListener('abort', onAbort, { once: true })

    const onPacket = (packet: TftpPacket): void => {
      if (done) {
        if (packet.type === 'DATA') ack(next - 1)
        return
      }
      if (packet.type === 'ERROR') { finish(new TftpRemoteError(packet.code, packet.message)); return }
      if (packet.type === 'OACK' && next === 1 && chunks.length === 0) {
        negotiated = packet.options
        blksize = Number(packet.options.get('blksize') ?? DEFAULT_BLKSIZE)
        windowsize = Number(packet.options.get('windowsize') ?? 1)
        attempts = 0
        ack(0)
        arm()
        return
      }
      if (packet.type !== 'DATA') return
      dataPackets++
      if (packet.block === next % BLOCK_MODULO) {
        chunks.push(Uint8Array.prototype.slice.call(packet.data))
        next++
        inWindow++
        gapAcked = false
        attempts = 0
        const last = packet.data.length < blksize
        if (last || inWindow >= windowsize) { inWindow = 0; ack(next - 1) }
        if (last) { done = true; finish(); return }
        arm()
      } else if (!gapAcked) {
        // a gap or a duplicate: say where we are, once until progress is made
        gapAcked = true
        inWindow = 0
        ack(next - 1)
      }
    }

    socket.on('message', (msg: Buffer, rinfo: RemoteInfo) => {
      if (closed || rinfo.address !== opts.address) return
      if (serverPort === undefined) serverPort = rinfo.port
      else if (rinfo.port !== serverPort) {
        socket.send(encode({ type: 'ERROR', code: TFTP_ERROR.UNKNOWN_TID, message: 'unknown transfer ID' }), rinfo.port, rinfo.address)
        return
      }
      let packet: TftpPacket
      try {
        packet = decode(msg)
      } catch (err) {
        if (err instanceof TftpCodecError) return
        throw err
      }
      onPacket(packet)
    })
    socket.on('error', (err) => { finish(err) })
    socket.send(lastSent, opts.port, opts.address)
    arm()
  })
}
