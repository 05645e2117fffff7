/**
 * The small interface the overlay sees: a real TUN device (device.ts) or an in-memory fake
 * (fake.ts) both implement it.
 */
import type { EventEmitter } from 'node:events'

export interface TunEvents {
  /**
   * A batch read from the device. With `vnetHdr`, each packet starts with a 10-byte virtio_net_hdr.
   * The device starts reading when the first listener is added; the packets are views of one
   * Buffer per batch that is never reused, so listeners may keep them.
   */
  packets: [pkts: Buffer[]]
  /** Reading failed for good (the device was deleted under us); no more `packets` follow. */
  error: [err: Error]
  close: []
}

export interface TunStats {
  /** Packets and bytes handed to `packets` listeners (after the kernel-noise filter). */
  rxPackets: number
  rxBytes: number
  /** Read batches (one callback each). */
  rxBatches: number
  /** Kernel IPv6 RS/NS/NA/MLD packets dropped by the filter. */
  rxNoise: number
  /** Packets the kernel accepted from `write()`. */
  txPackets: number
  txBytes: number
  /** Packets the kernel refused (malformed packet or virtio header, link down). */
  txDropped: number
}

export interface TunDevice extends Pick<EventEmitter<TunEvents>, 'on' | 'once' | 'off'> {
  /** The interface name the kernel gave (e.g. `ctpf0`). */
  readonly name: string
  readonly mtu: number
  /** Packets in both directions carry a virtio_net_hdr first (GSO super-packets up to 64 KiB). */
  readonly vnetHdr: boolean
  readonly stats: Readonly<TunStats>
  readonly closed: boolean
  /**
   * Writes a batch; returns how many packets the kernel took (the others count as `txDropped`).
   * Throws TunClosedError after `close()`.
   */
  write: (pkts: readonly Buffer[]) => number
  /**
   * Stops reading (backpressure): packets wait in the kernel's queue (txqueuelen, 500 by
   * default) and are dropped beyond it, as on a congested link. `resume()` reads again.
   */
  pause: () => void
  resume: () => void
  /** Stops reading, closes the fd (the kernel deletes the interface). Safe to call twice. */
  close: () => Promise<void>
}

export function emptyStats (): TunStats {
  return { rxPackets: 0, rxBytes: 0, rxBatches: 0, rxNoise: 0, txPackets: 0, txBytes: 0, txDropped: 0 }
}
