/**
 * The overlay's TUN device: a Linux TUN opened through our own N-API addon
 * (native/src/ctpf_tun.c, built by `node protocols/overlay/tun/native/build.mjs`), read in
 * batches, written in batches, optionally with IFF_VNET_HDR + TSO so TCP super-packets of up
 * to 64 KiB cross the overlay whole. The kernel's own IPv6 RS/ND/MLD chatter is dropped.
 * `createFakeTunPair()` gives two in-memory ends with the same interface for unit tests.
 *
 * @example
 * ```ts
 * import { openTun, TunPermissionError } from './protocols/overlay/tun/index.js'
 *
 * const tun = await openTun({ name: 'ctpf0', mtu: 1400, vnetHdr: true, addresses: ['10.99.0.1/16', 'fd63::1/64'] }, { logger })
 * tun.on('packets', pkts => overlay.send(pkts))      // each packet starts with a 10-byte virtio_net_hdr
 * overlay.on('packets', pkts => tun.write(pkts))
 * await tun.close()                                   // the kernel deletes the interface
 * // without CAP_NET_ADMIN: rejects with code ERR_TUN_PERMISSION; addon not built: ERR_TUN_ADDON_MISSING
 * ```
 */
import type { Logger } from 'pino'
import { DEFAULT_ADDON_PATH, loadAddon, openNative } from './addon.js'
import { NativeTunDevice } from './device.js'
import { TunConfigError } from './errors.js'
import { parseCidr, setUpLink } from './link.js'
import type { TunDevice } from './types.js'

export interface TunInit {
  /** Interface name, at most 15 bytes; `%d` lets the kernel pick a number. Default `ctpf%d`. */
  name?: string
  /** Open with IFF_VNET_HDR and TSO4/TSO6/CSUM offload. Default false. */
  vnetHdr?: boolean
  /** Default 1400. */
  mtu?: number
  /** CIDRs to assign, e.g. `10.99.0.1/16`, `fd63::1/64`. */
  addresses?: readonly string[]
  /** Drop the kernel's IPv6 RS/NS/NA/MLD packets (see isKernelNoise). Default true. */
  filterKernelNoise?: boolean
  /** Most packets per read batch. Default 128. */
  maxBatch?: number
  /** Bytes of the read buffer per batch (at least 64 KiB). Default 1 MiB. */
  readBufferBytes?: number
  signal?: AbortSignal
}

export interface TunComponents {
  logger?: Logger
  /** Path of ctpf_tun.node; default native/build/Release/ctpf_tun.node next to this module. */
  addonPath?: string
}

const IFNAME = /^[A-Za-z0-9_.%-]{1,15}$/

function validate (init: TunInit): Required<Omit<TunInit, 'signal'>> {
  const name = init.name ?? 'ctpf%d'
  if (!IFNAME.test(name) || Buffer.byteLength(name) > 15) throw new TunConfigError(`invalid interface name ${JSON.stringify(name)}`)
  const mtu = init.mtu ?? 1400
  if (!Number.isInteger(mtu) || mtu < 576 || mtu > 65535) throw new TunConfigError(`MTU must be an integer in 576..65535, not ${mtu}`)
  const maxBatch = init.maxBatch ?? 128
  if (!Number.isInteger(maxBatch) || maxBatch < 1 || maxBatch > 4096) throw new TunConfigError(`maxBatch must be in 1..4096, not ${maxBatch}`)
  const readBufferBytes = init.readBufferBytes ?? 1 << 20
  if (!Number.isInteger(readBufferBytes) || readBufferBytes < 65_600 || readBufferBytes > 64 << 20) {
    throw new TunConfigError(`readBufferBytes must be in 65600..${64 << 20}, not ${readBufferBytes}`)
  }
  const addresses = init.addresses ?? []
  for (const a of addresses) parseCidr(a)
  return { name, mtu, maxBatch, readBufferBytes, addresses, vnetHdr: init.vnetHdr ?? false, filterKernelNoise: init.filterKernelNoise ?? true }
}

/**
 * Opens a TUN device, sets its MTU and addresses and brings it up.
 * Rejects with TunConfigError, TunAddonMissingError, TunPermissionError, TunUnavailableError,
 * TunNameInUseError, TunOpenError or TunSetupError (the device is closed again on failure).
 */
export async function openTun (init: TunInit = {}, components: TunComponents = {}): Promise<NativeTunDevice> {
  const opts = validate(init)
  init.signal?.throwIfAborted()
  const addon = loadAddon(components.addonPath ?? DEFAULT_ADDON_PATH)
  const { fd, name } = openNative(addon, opts.name, opts.vnetHdr)
  const logger = components.logger?.child({ component: 'overlay:tun' })
  const dev = new NativeTunDevice(addon, { fd, name, mtu: opts.mtu, vnetHdr: opts.vnetHdr, filterKernelNoise: opts.filterKernelNoise, maxBatch: opts.maxBatch, readBufferBytes: opts.readBufferBytes, logger })
  try {
    await setUpLink(name, { mtu: opts.mtu, addresses: opts.addresses, signal: init.signal, logger })
  } catch (err) {
    await dev.close()
    throw err
  }
  logger?.info({ tun: name, mtu: opts.mtu, vnetHdr: opts.vnetHdr, addresses: opts.addresses }, 'TUN device open')
  return dev
}

export type { TunDevice, TunEvents, TunStats } from './types.js'
export { NativeTunDevice } from './device.js'
export { createFakeTunPair, FakeTunDevice, type FakeTunOptions } from './fake.js'
export { isKernelNoise } from './noise.js'
export { DEFAULT_ADDON_PATH } from './addon.js'
export { parseCidr } from './link.js'
export * from './vnet.js'
export * from './errors.js'
