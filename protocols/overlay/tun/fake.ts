/**
 * Two in-memory TUN ends wired back to back, for unit tests of the overlay: what one end
 * `write()`s, the other end emits as `packets` — asynchronously, batched per tick, copied
 * (so a writer may reuse its buffers), like a real device read.
 */
import { EventEmitter } from 'node:events'
import { TunClosedError } from './errors.js'
import { emptyStats, type TunDevice, type TunEvents, type TunStats } from './types.js'

export interface FakeTunOptions {
  names?: [string, string]
  mtu?: number
  vnetHdr?: boolean
}

export class FakeTunDevice extends EventEmitter<TunEvents> implements TunDevice {
  readonly stats: TunStats = emptyStats()
  peer: FakeTunDevice | undefined
  private isClosed = false
  private pending: Buffer[] = []
  private scheduled = false
  private paused = false

  constructor (readonly name: string, readonly mtu: number, readonly vnetHdr: boolean) {
    super()
    // like the real device, packets wait until someone listens
    const untyped: EventEmitter = this as unknown as EventEmitter
    untyped.on('newListener', (event: string | symbol) => { if (event === 'packets') this.schedule() })
  }

  get closed (): boolean { return this.isClosed }

  /** Makes the device emit `pkts` as if the kernel had routed them into it (a local app sending). */
  inject (pkts: readonly Buffer[]): void {
    if (this.isClosed) return
    for (const p of pkts) this.pending.push(Buffer.from(p))
    this.schedule()
  }

  /** Held packets are delivered on resume (the fake's queue is unbounded, unlike the kernel's). */
  pause (): void { this.paused = true }

  resume (): void {
    if (!this.paused) return
    this.paused = false
    this.schedule()
  }

  private schedule (): void {
    if (this.scheduled || this.paused || this.pending.length === 0) return
    this.scheduled = true
    setImmediate(() => {
      this.scheduled = false
      if (this.isClosed || this.paused || this.pending.length === 0 || this.listenerCount('packets') === 0) return
      const batch = this.pending
      this.pending = []
      this.stats.rxBatches++
      this.stats.rxPackets += batch.length
      for (const p of batch) this.stats.rxBytes += p.length
      this.emit('packets', batch)
    })
  }

  write (pkts: readonly Buffer[]): number {
    if (this.isClosed) throw new TunClosedError(this.name)
    this.stats.txPackets += pkts.length
    for (const p of pkts) this.stats.txBytes += p.length
    this.peer?.inject(pkts)
    return pkts.length
  }

  async close (): Promise<void> {
    if (this.isClosed) return
    this.isClosed = true
    this.pending = []
    this.emit('close')
  }
}

/**
 * @example
 * const [a, b] = createFakeTunPair()
 * b.on('packets', pkts => console.log(pkts.length))
 * a.write([packet])
 */
export function createFakeTunPair (opts: FakeTunOptions = {}): [FakeTunDevice, FakeTunDevice] {
  const [na, nb] = opts.names ?? ['faketun0', 'faketun1']
  const a = new FakeTunDevice(na, opts.mtu ?? 1400, opts.vnetHdr ?? false)
  const b = new FakeTunDevice(nb, opts.mtu ?? 1400, opts.vnetHdr ?? false)
  a.peer = b
  b.peer = a
  return [a, b]
}
