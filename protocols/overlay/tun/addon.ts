/**
 * Loads the native addon (native/src/ctpf_tun.c) and maps its errno errors to TUN errors.
 */
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { fileURLToPath } from 'node:url'
import { TunAddonMissingError, TunNameInUseError, TunOpenError, TunPermissionError, TunUnavailableError } from './errors.js'

const BUILT = 'protocols/overlay/tun/native/build/Release/ctpf_tun.node'

/**
 * Where `native/build.mjs` puts the addon, seen from this module: next to it in the source
 * tree, from dist/protocols/overlay/tun/ after tsc, or from dist/ctpf.mjs after bundling.
 * The first that exists; the source-tree path when none does (the error then names it).
 */
export const DEFAULT_ADDON_PATH = ((): string => {
  const candidates = ['./native/build/Release/ctpf_tun.node', `../../../../${BUILT}`, `../${BUILT}`]
    .map(rel => fileURLToPath(new URL(rel, import.meta.url)))
  return candidates.find(p => existsSync(p)) ?? candidates[0] as string
})()

export interface NativeReader {
  stop: () => void
  ref: () => void
  unref: () => void
}

/** `(batch, lengths, count)` for packets; `(error, null, 0)` once when reading fails for good. */
export type BatchCallback = (batchOrError: Buffer | Error, lengths: Uint32Array | null, count: number) => void

export interface TunAddon {
  open: (name: string, vnetHdr: boolean) => { fd: number, name: string }
  write: (fd: number, pkts: readonly Buffer[]) => number
  close: (fd: number) => void
  Reader: new (fd: number, onBatch: BatchCallback, maxBatch: number, bufBytes: number) => NativeReader
}

const cache = new Map<string, TunAddon>()

/** Loads (once per path) the addon; throws TunAddonMissingError when it is absent or broken. */
export function loadAddon (path: string = DEFAULT_ADDON_PATH): TunAddon {
  const hit = cache.get(path)
  if (hit !== undefined) return hit
  let addon: TunAddon
  try {
    addon = createRequire(import.meta.url)(path) as TunAddon
  } catch (err) {
    throw new TunAddonMissingError(path, { cause: err })
  }
  if (typeof addon?.open !== 'function' || typeof addon.Reader !== 'function') {
    throw new TunAddonMissingError(path, { cause: new Error('not the ctpf_tun addon') })
  }
  cache.set(path, addon)
  return addon
}

/** Opens the device, translating errno codes into the module's errors. */
export function openNative (addon: TunAddon, name: string, vnetHdr: boolean): { fd: number, name: string } {
  try {
    return addon.open(name, vnetHdr)
  } catch (err) {
    const code = (err as { code?: string }).code
    const syscall = (err as { syscall?: string }).syscall ?? 'open'
    if (code === 'EPERM' || code === 'EACCES') throw new TunPermissionError(syscall, { cause: err })
    if (syscall.startsWith('open') && (code === 'ENOENT' || code === 'ENODEV' || code === 'ENXIO')) {
      throw new TunUnavailableError({ cause: err })
    }
    if (code === 'EBUSY' || code === 'EEXIST' || (code === 'EINVAL' && syscall === 'ioctl TUNSETIFF')) {
      throw new TunNameInUseError(name, { cause: err })
    }
    throw new TunOpenError(name, { cause: err })
  }
}
