/**
 * A real TUN device: the addon's fd, a native reader that hands over whole batches, and a
 * batched writer. Link setup (MTU, addresses, up) is done by `setUpLink` in link.ts.
 */
import { EventEmitter } from 'node:events'
import type { Logger } from 'pino'
import type { NativeReader, TunAddon } from './addon.js'
import { TunClosedError, TunReadError } from './errors.js'
import { isKernelNoise } from './noise.js'
import { emptyStats, type TunDevice, type TunEvents, type TunStats } from './types.js'
import { VNET_HDR_LEN } from './vnet.js'

export interface NativeTunOptions {
  fd: number
  name: string
  mtu: number
  vnetHdr: boolean
  filterKernelNoise: boolean
  maxBatch: number
  readBufferBytes: number
  logger?: Logger
}

export class NativeTunDevice extends EventEmitter<TunEvents> implements TunDevice {
  readonly name: string
  readonly mtu: number
  readonly vnetHdr: boolean
  readonly stats: TunStats = emptyStats()
  private readonly fd: number
  private readonly filter: boolean
  private readonly logger: Logger | undefined
  private reader: NativeReader | undefined
  private readonly maxBatch: number
  private readonly readBufferBytes: number
  private isClosed = false
  private readFailed = false
  private refed = true
  private paused = false

  constructor (private readonly addon: TunAddon, opts: NativeTunOptions) {
    super()
    this.fd = opts.fd
    this.name = opts.name
    this.mtu = opts.mtu
    this.vnetHdr = opts.vnetHdr
    this.filter = opts.filterKernelNoise
    this.logger = opts.logger
    this.maxBatch = opts.maxBatch
    this.readBufferBytes = opts.readBufferBytes
    // read only once someone listens: until then packets wait in the kernel's queue
    const untyped: EventEmitter = this as unknown as EventEmitter
    untyped.on('newListener', (event: string | symbol) => { if (event === 'packets') this.startReading() })
  }

  private startReading (): void {
    if (this.reader !== undefined || this.isClosed || this.readFailed || this.paused) return
    this.reader = new this.addon.Reader(this.fd, (first, lengths, count) => {
      if (lengths === null) this.onReadError(first as Error)
      else this.onBatch(first as Buffer, lengths, count)
    }, this.maxBatch, this.readBufferBytes)
    if (!this.refed) this.reader.unref()
  }

  get closed (): boolean { return this.isClosed }

  private onBatch (buf: Buffer, lengths: Uint32Array, count: number): void {
    const pkts: Buffer[] = []
    const skip = this.vnetHdr ? VNET_HDR_LEN : 0
    let off = 0
    let bytes = 0
    for (let i = 0; i < count; i++) {
      const len = lengths[i] as number
      const pkt = buf.subarray(off, off + len)
      off += len
      if (this.filter && isKernelNoise(skip === 0 ? pkt : pkt.subarray(skip))) {
        this.stats.rxNoise++
        continue
      }
      pkts.push(pkt)
      bytes += len
    }
    this.stats.rxBatches++
    if (pkts.length === 0) return
    this.stats.rxPackets += pkts.length
    this.stats.rxBytes += bytes
    this.emit('packets', pkts)
  }

  private onReadError (cause: Error): void {
    this.reader = undefined
    this.readFailed = true
    const err = new TunReadError(this.name, { cause })
    this.logger?.error({ err, tun: this.name }, 'TUN read failed; device stops reading')
    if (this.listenerCount('error') > 0) this.emit('error', err)
  }

  write (pkts: readonly Buffer[]): number {
    if (this.isClosed) throw new TunClosedError(this.name)
    if (pkts.length === 0) return 0
    const n = this.addon.write(this.fd, pkts)
    if (n === pkts.length) {
      this.stats.txPackets += n
      for (const p of pkts) this.stats.txBytes += p.length
    } else {
      // the addon skips refused packets; we cannot tell which, so count bytes of the first n
      this.stats.txPackets += n
      this.stats.txDropped += pkts.length - n
      for (let i = 0; i < n; i++) this.stats.txBytes += (pkts[i] as Buffer).length
      this.logger?.debug({ tun: this.name, dropped: pkts.length - n }, 'kernel refused packets')
    }
    return n
  }

  pause (): void {
    this.paused = true
    this.reader?.stop()
    this.reader = undefined
  }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    if (this.listenerCount('packets') > 0) this.startReading()
  }

  /** Lets the process exit while the device is open (like `socket.unref()`). */
  unref (): this { this.refed = false; this.reader?.unref(); return this }
  ref (): this { this.refed = true; this.reader?.ref(); return this }

  async close (): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    this.reader?.stop()
    this.reader = undefined
    this.addon.close(this.fd)
    this.logger?.info({ tun: this.name, stats: this.stats }, 'TUN device closed')
    this.emit('close')
  }
}
