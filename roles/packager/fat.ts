/**
 * FAT images built with mtools on a file (no mount, no root): `mformat` sized from the
 * contents, `mmd` for the directories, `mcopy` per file.
 */
import { posix } from 'node:path'
import { inputSize, runTool } from './tools.js'
import type { PackageRunOptions } from './types.js'

/** A file to put into the image: `src` on disk → `dest` inside (`EFI/BOOT/BOOTX64.EFI`). */
export interface FatEntry { role: string, src: string, dest: string }

const MIB = 1024 * 1024

/**
 * Makes `img` a FAT (12/16, mformat's choice for the size) holding `entries`; `spareBytes`
 * are left free (SYSLINUX's ldlinux.sys + ldlinux.c32 need ~200 KiB). The size is the
 * contents plus a margin for FAT overhead, in whole MiB (one cylinder at 64 heads × 32 sectors).
 */
export async function buildFat (img: string, entries: FatEntry[], opts: PackageRunOptions & { label: string, spareBytes?: number }): Promise<void> {
  let bytes = opts.spareBytes ?? 0
  for (const e of entries) bytes += Math.ceil(await inputSize(e.role, e.src) / 4096) * 4096
  const size = Math.max(1, Math.ceil((bytes * 1.05 + 256 * 1024) / MIB)) * MIB
  await runTool('mformat', ['-i', img, '-C', '-T', String(size / 512), '-h', '64', '-s', '32', '-v', opts.label, '::'], opts)
  const dirs = new Set<string>()
  for (const e of entries) {
    for (let d = posix.dirname(e.dest); d !== '.' && d !== '/'; d = posix.dirname(d)) dirs.add(d)
  }
  const sorted = [...dirs].sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b))
  if (sorted.length > 0) await runTool('mmd', ['-i', img, ...sorted.map(d => `::/${d}`)], opts)
  for (const e of entries) await runTool('mcopy', ['-i', img, e.src, `::/${e.dest}`], opts)
}
