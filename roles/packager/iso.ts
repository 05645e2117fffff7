/**
 * The hybrid `.iso`: El Torito BIOS (ISOLINUX → ipxe.lkrn + script as initrd), El Torito UEFI
 * (efiboot.img, a FAT with EFI/BOOT/BOOTX64.EFI, see efi.ts), and isohybrid (isohdpfx.bin MBR +
 * the EFI image as a GPT partition) so the same file written to a USB stick boots too.
 */
import { copyFile, mkdir, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { buildFat } from './fat.js'
import { efiEntries } from './efi.js'
import { InvalidPackageOptionsError } from './errors.js'
import { PackagingRun, buildAtomically, resolveScripts, stageText } from './staging.js'
import { BIOS_SCRIPT_PATH, LKRN_PATH, syslinuxConfig } from './syslinux.js'
import { inputSize, loaderPaths, runTool } from './tools.js'
import type { MediaScript, PackageResult, PackageRunOptions } from './types.js'

export interface IsoInit {
  files: {
    /** BIOS: iPXE as a Linux kernel (Debian: /usr/lib/ipxe/ipxe.lkrn). */
    lkrn: string
    /** x86_64 UEFI: /usr/lib/ipxe/ipxe.efi. */
    efiX64: string
    /** arm64 UEFI (EFI/BOOT/BOOTAA64.EFI in the EFI image), optional. */
    efiArm64?: string
  }
  script: MediaScript
  /** The .iso to write (replaced atomically if it exists). */
  out: string
  /** Volume label (default CTPF_BOOT). */
  volumeId?: string
}

/** Builds the hybrid ISO. See the module doc for the layout. */
export async function packageIso (init: IsoInit, opts: PackageRunOptions = {}): Promise<PackageResult> {
  const run = new PackagingRun(opts.signal)
  if (init?.files === undefined || typeof init.out !== 'string' || init.out === '') throw new InvalidPackageOptionsError('packageIso needs files and out')
  const volumeId = init.volumeId ?? 'CTPF_BOOT'
  if (!/^[A-Z0-9_]{1,32}$/.test(volumeId)) throw new InvalidPackageOptionsError('volumeId: 1–32 of A-Z 0-9 _')
  const scripts = resolveScripts(init.script)
  const loaders = await run.step('inputs', async () => {
    await inputSize('files.lkrn', init.files.lkrn)
    await inputSize('files.efiX64', init.files.efiX64)
    if (init.files.efiArm64 !== undefined) await inputSize('files.efiArm64', init.files.efiArm64)
    return await loaderPaths(opts, ['isolinuxBin', 'isohdpfx', 'ldlinuxC32'])
  })
  await buildAtomically(init.out, run, async (staging, partial) => {
    const root = join(staging, 'root')
    const efiScripts = await run.step('stage', async () => {
      await mkdir(join(root, 'isolinux'), { recursive: true })
      await copyFile(loaders.isolinuxBin, join(root, 'isolinux/isolinux.bin'))
      await copyFile(loaders.ldlinuxC32, join(root, 'isolinux/ldlinux.c32'))
      await stageText(root, 'isolinux/isolinux.cfg', syslinuxConfig())
      await copyFile(init.files.lkrn, join(root, LKRN_PATH))
      await stageText(root, BIOS_SCRIPT_PATH, scripts.bios)
      const x64 = await stageText(staging, 'efi/x64.ipxe', scripts.x64Efi)
      const arm64 = scripts.arm64Efi === scripts.x64Efi ? x64 : await stageText(staging, 'efi/arm64.ipxe', scripts.arm64Efi)
      return { x64Efi: x64, arm64Efi: arm64 }
    })
    await run.step('efiboot', async () => {
      await buildFat(join(root, 'efiboot.img'), efiEntries(init.files, efiScripts), { ...opts, label: 'CTPF_EFI' })
    })
    await run.step('xorriso', async () => {
      await runTool('xorriso', ['-as', 'mkisofs', '-quiet', '-o', partial, '-V', volumeId, '-iso-level', '3', '-R', '-J',
        '-isohybrid-mbr', loaders.isohdpfx,
        '-c', 'isolinux/boot.cat', '-b', 'isolinux/isolinux.bin', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table',
        '-eltorito-alt-boot', '-e', 'efiboot.img', '-no-emul-boot', '-isohybrid-gpt-basdat',
        root], opts)
    })
  })
  return run.result(init.out, (await stat(init.out)).size)
}
