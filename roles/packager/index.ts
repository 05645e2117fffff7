/**
 * Packager role core: turns iPXE binaries and a chainload script into boot media — a hybrid
 * BIOS+UEFI `.iso` (CD and USB stick), a FAT `.img` (USB stick, SD card; arm64 EFI when given)
 * and a PXE set (a directory of loaders + script). Each run writes under a temp name and
 * renames at the end (an aborted or failed run leaves nothing under `out`), and reports the
 * wall time of each step. On BIOS the script is embedded (ipxe.lkrn's initrd); on UEFI,
 * Debian's 2019 ipxe.efi cannot run an embedded script and falls back to DHCP autoboot — see
 * efi.ts for what was tried.
 *
 * @example
 * ```ts
 * import { chainloadScript } from '../../protocols/boot/ipxe-script.js'
 * import { packageIso, packageImg, packagePxeSet } from './roles/packager/index.js'
 *
 * const script = chainloadScript(['http://10.0.0.2:8080/boot.ipxe'])
 * const iso = await packageIso({ files: { lkrn: '/usr/lib/ipxe/ipxe.lkrn', efiX64: '/usr/lib/ipxe/ipxe.efi' }, script, out: 'ctpf.iso' }, { signal })
 * console.log(iso.bytes, iso.durationMs, iso.steps) // steps: inputs, stage, efiboot, xorriso, commit
 * await packageImg({ files: { lkrn: '/usr/lib/ipxe/ipxe.lkrn', efiX64: '/usr/lib/ipxe/ipxe.efi' }, script, out: 'ctpf.img' })
 * await packagePxeSet({ files: { undionly: '/usr/lib/ipxe/undionly.kpxe', ipxeEfi: '/usr/lib/ipxe/ipxe.efi', snponly: '/usr/lib/ipxe/snponly.efi' }, script, out: 'pxe/' })
 * ```
 */
export { packageIso, type IsoInit } from './iso.js'
export { packageImg, type ImgInit } from './img.js'
export { packagePxeSet, PXE_SET_NAMES, type PxeSetInit, type PxeSetResult } from './pxe-set.js'
export { AUTOEXEC, EFI_ARM64_LOADER, EFI_X64_LOADER } from './efi.js'
export { BIOS_SCRIPT_PATH, LKRN_PATH } from './syslinux.js'
export { DEFAULT_LOADERS } from './tools.js'
export * from './errors.js'
export type { MediaScript, MediaScripts, PackageResult, PackageRunOptions, PackagerLoaders, PackagerTools } from './types.js'
