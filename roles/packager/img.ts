/**
 * The FAT `.img` for USB sticks and SD cards: a partitionless FAT ("superfloppy") whose boot
 * sector is SYSLINUX's (BIOS: ipxe.lkrn + script as initrd) and which holds the removable-
 * media EFI loaders (x86_64, and arm64 when given; see efi.ts). Written to a whole device with
 * `dd`, BIOS and UEFI firmware both boot it.
 */
import { stat } from 'node:fs/promises'
import { buildFat, type FatEntry } from './fat.js'
import { efiEntries } from './efi.js'
import { InvalidPackageOptionsError } from './errors.js'
import { PackagingRun, buildAtomically, resolveScripts, stageText } from './staging.js'
import { BIOS_SCRIPT_PATH, LKRN_PATH, syslinuxConfig } from './syslinux.js'
import { inputSize, runTool } from './tools.js'
import type { MediaScript, PackageResult, PackageRunOptions } from './types.js'

export interface ImgInit {
  /** At least one. BIOS boot needs `lkrn`; UEFI needs `efiX64` and/or `efiArm64`. */
  files: {
    lkrn?: string
    efiX64?: string
    efiArm64?: string
  }
  script: MediaScript
  /** The .img to write (replaced atomically if it exists). */
  out: string
  /** FAT volume label, at most 11 characters (default CTPF_BOOT). */
  label?: string
}

/** Room for SYSLINUX's ldlinux.sys + ldlinux.c32. */
const SYSLINUX_SPARE = 512 * 1024

export async function packageImg (init: ImgInit, opts: PackageRunOptions = {}): Promise<PackageResult> {
  const run = new PackagingRun(opts.signal)
  if (init?.files === undefined || typeof init.out !== 'string' || init.out === '') throw new InvalidPackageOptionsError('packageImg needs files and out')
  const { lkrn, efiX64, efiArm64 } = init.files
  if (lkrn === undefined && efiX64 === undefined && efiArm64 === undefined) throw new InvalidPackageOptionsError('packageImg: files needs lkrn, efiX64 or efiArm64')
  const label = init.label ?? 'CTPF_BOOT'
  if (!/^[A-Z0-9_]{1,11}$/.test(label)) throw new InvalidPackageOptionsError('label: 1–11 of A-Z 0-9 _')
  const scripts = resolveScripts(init.script)
  await run.step('inputs', async () => {
    if (lkrn !== undefined) await inputSize('files.lkrn', lkrn)
    if (efiX64 !== undefined) await inputSize('files.efiX64', efiX64)
    if (efiArm64 !== undefined) await inputSize('files.efiArm64', efiArm64)
  })
  await buildAtomically(init.out, run, async (staging, partial) => {
    const entries = await run.step('stage', async () => {
      const list: FatEntry[] = []
      if (lkrn !== undefined) {
        list.push({ role: 'files.lkrn', src: lkrn, dest: LKRN_PATH },
          { role: 'script', src: await stageText(staging, 'bios.ipxe', scripts.bios), dest: BIOS_SCRIPT_PATH },
          { role: 'syslinux.cfg', src: await stageText(staging, 'syslinux.cfg', syslinuxConfig()), dest: 'syslinux.cfg' })
      }
      const x64 = await stageText(staging, 'x64.ipxe', scripts.x64Efi)
      const arm64 = scripts.arm64Efi === scripts.x64Efi ? x64 : await stageText(staging, 'arm64.ipxe', scripts.arm64Efi)
      list.push(...efiEntries({ efiX64, efiArm64 }, { x64Efi: x64, arm64Efi: arm64 }))
      return list
    })
    await run.step('fat', async () => {
      await buildFat(partial, entries, { ...opts, label, spareBytes: lkrn !== undefined ? SYSLINUX_SPARE : 0 })
    })
    // syslinux writes its boot sector and ldlinux.sys/.c32 through mtools, on the file itself
    if (lkrn !== undefined) await run.step('syslinux', async () => { await runTool('syslinux', ['--install', partial], opts) })
  })
  return run.result(init.out, (await stat(init.out)).size)
}
