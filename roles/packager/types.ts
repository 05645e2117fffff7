/**
 * Shared option and result types of the packager role.
 */

/**
 * The iPXE script each platform's iPXE runs (normally `chainloadScript(endpoints)` from
 * protocols/boot/ipxe-script.ts). A string is used for every platform.
 */
export type MediaScript = string | MediaScripts

export interface MediaScripts {
  /** BIOS (ipxe.lkrn's initrd); also the default for the platforms not given. */
  bios: string
  /** x86_64 UEFI (`autoexec.ipxe`, see efi.ts for what Debian's 2019 ipxe.efi does with it). */
  x64Efi?: string
  /** arm64 UEFI. */
  arm64Efi?: string
}

/** Executables, found on PATH unless given. */
export interface PackagerTools {
  xorriso?: string
  mformat?: string
  mmd?: string
  mcopy?: string
  syslinux?: string
}

/** SYSLINUX/ISOLINUX files (Debian's `isolinux` and `syslinux-common` paths by default). */
export interface PackagerLoaders {
  /** /usr/lib/ISOLINUX/isolinux.bin */
  isolinuxBin?: string
  /** /usr/lib/ISOLINUX/isohdpfx.bin — the MBR that makes the ISO bootable from a USB stick. */
  isohdpfx?: string
  /** /usr/lib/syslinux/modules/bios/ldlinux.c32 — ISOLINUX's core module. */
  ldlinuxC32?: string
}

export interface PackageRunOptions {
  signal?: AbortSignal
  /** Per-program time limit (default 120 s). */
  toolTimeoutMs?: number
  tools?: PackagerTools
  loaders?: PackagerLoaders
}

/** What a packaging run made and where its time went. */
export interface PackageResult {
  /** The output: a file (iso, img) or a directory (PXE set). */
  path: string
  /** Size of the file, or the sum of the set's files. */
  bytes: number
  /** Wall time of the whole run. */
  durationMs: number
  /** Wall time of each step, in order (`inputs`, `stage`, `efiboot`, `xorriso`, `commit`, …). */
  steps: Array<{ step: string, durationMs: number }>
}
