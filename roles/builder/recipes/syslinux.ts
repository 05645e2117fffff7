/**
 * SYSLINUX/ISOLINUX loader files, copied from the distribution's packages (`syslinux-common`,
 * `isolinux`) into `out/syslinux/`: the ISO loader and hybrid MBR (`isolinux.bin`,
 * `isohdpfx.bin`), the disk MBRs (`mbr.bin`, `gptmbr.bin`), the BIOS core modules
 * (`ldlinux.c32`, `libcom32.c32`, `libutil.c32`, `menu.c32`, …), plus `params.modules`.
 */
import { existsSync } from 'node:fs'
import { mkdir } from 'node:fs/promises'
import { posix } from 'node:path'
import { z } from 'zod'
import { BuildToolMissingError } from '../errors.js'
import { directoryHash, filesHash, memoFingerprint } from '../toolchain.js'
import type { Recipe } from './types.js'

export const SYSLINUX_FILES = ['isolinux.bin', 'isohdpfx.bin', 'mbr.bin', 'gptmbr.bin', 'ldlinux.c32', 'libcom32.c32',
  'libutil.c32', 'menu.c32', 'vesamenu.c32', 'chain.c32', 'reboot.c32', 'poweroff.c32', 'linux.c32', 'memdisk'] as const

/** Where Debian (and most distributions) put them; the first hit wins. */
export const SYSLINUX_DIRS = ['/usr/lib/ISOLINUX', '/usr/lib/syslinux/modules/bios', '/usr/lib/syslinux/mbr', '/usr/lib/syslinux', '/usr/share/syslinux']

export const SYSLINUX_OUT_DIR = 'out/syslinux'

export const syslinuxParams = z.object({
  /** Extra BIOS modules to collect, e.g. `vesainfo.c32`. */
  modules: z.array(z.string().regex(/^[a-z0-9_]{1,64}\.c32$/)).max(128).default([])
}).strict()

export type SyslinuxParams = z.output<typeof syslinuxParams>

function files (p: SyslinuxParams): string[] {
  return [...new Set([...SYSLINUX_FILES, ...p.modules])]
}

/** The host path of a loader file, or undefined. */
export function findSyslinuxFile (name: string): string | undefined {
  for (const d of SYSLINUX_DIRS) {
    const p = posix.join(d, name)
    if (existsSync(p)) return p
  }
  return undefined
}

export const syslinuxRecipe: Recipe<SyslinuxParams> = {
  name: 'syslinux',
  version: '1',
  source: 'none',
  params: syslinuxParams,
  requiredTools: () => ['cp'],
  defaultTargets: () => [],
  defaultOutputs: (p) => files(p).map(f => `${SYSLINUX_OUT_DIR}/${f}`),
  toolchain: async () => await memoFingerprint('syslinux', async () => {
    const found = SYSLINUX_FILES.map(f => findSyslinuxFile(f) ?? `${f}:missing`)
    return { files: await filesHash(found), 'modules/bios': await directoryHash('/usr/lib/syslinux/modules/bios') }
  }),
  prepare: async (ctx) => {
    const sources = files(ctx.params).map(f => {
      const p = findSyslinuxFile(f)
      if (p === undefined) throw new BuildToolMissingError(f, 'install syslinux-common and isolinux')
      return p
    })
    await mkdir(posix.join(ctx.hostJobDir, SYSLINUX_OUT_DIR), { recursive: true })
    return [{ argv: ['cp', '--', ...sources, posix.join(ctx.jobDir, SYSLINUX_OUT_DIR) + '/'] }]
  }
}
