/**
 * The distribution's prebuilt iPXE binaries (Debian's `ipxe` package: /usr/lib/ipxe/…), so the
 * pipeline works without an iPXE source tree: a CLI command adds each as the named artifact
 * `ipxe/<file>`.
 */
import { readdir, stat } from 'node:fs/promises'
import { posix } from 'node:path'

/** Directories searched, in order; a file name found in an earlier one wins. */
export const DISTRIBUTION_IPXE_DIRS = ['/usr/lib/ipxe']

/** Boot files worth importing (NIC option ROMs of `ipxe-qemu` are left out). */
const BOOT_FILE = /\.(kpxe|kkpxe|kkkpxe|pxe|efi|lkrn|iso|usb|img)$/

export interface DistributionIpxeFile {
  /** `ipxe/<file>`, e.g. `ipxe/undionly.kpxe`. */
  name: string
  path: string
  size: number
}

/** Find the prebuilt iPXE boot files; empty when the package is not installed. Sorted by name. */
export async function importDistributionIpxe (options: { dirs?: readonly string[] } = {}): Promise<DistributionIpxeFile[]> {
  const found = new Map<string, DistributionIpxeFile>()
  for (const dir of options.dirs ?? DISTRIBUTION_IPXE_DIRS) {
    let names: string[]
    try { names = await readdir(dir) } catch { continue }
    for (const file of names.sort()) {
      if (!BOOT_FILE.test(file) || found.has(file)) continue
      const path = posix.join(dir, file)
      const st = await stat(path).catch(() => undefined)
      if (st?.isFile() !== true || st.size === 0) continue
      found.set(file, { name: `ipxe/${file}`, path, size: st.size })
    }
  }
  return [...found.values()].sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
}
