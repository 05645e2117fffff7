/**
 * The UEFI side of every medium: the iPXE EFI binaries as the removable-media loaders
 * (`EFI/BOOT/BOOTX64.EFI`, `EFI/BOOT/BOOTAA64.EFI`) and the script as `autoexec.ipxe`.
 *
 * What runs our script on UEFI — measured 2026-11-22 in QEMU (OVMF, TCG, NIC ROM disabled)
 * with Debian's ipxe 1.0.0+git-20190125.36a4c85 (cannot be rebuilt here: no source):
 * - `autoexec.ipxe` beside the binary, in EFI/BOOT/ and at the volume root: ignored. Support
 *   for it came to iPXE in 2021 (efi_autoexec.c); this build has no such string.
 * - EFI load options as a command line (GRUB EFI `chainloader /EFI/ipxe/ipxe.efi 'echo … &&
 *   chain http://…'`): ignored; iPXE starts, runs its DHCP autoboot, and after "Nothing to
 *   boot" returns to GRUB. This build has no load-option/command-line support either.
 * - GRUB EFI loading ipxe.lkrn with `linux` + the script as `initrd`: GRUB loads it, then the
 *   machine hangs after "Booting in blind mode" — ipxe.lkrn needs BIOS services.
 * - GRUB fetching over HTTP itself would need a GRUB config from the scripts role, which
 *   serves iPXE scripts: not the same contract, not pursued.
 * So with this iPXE, no UEFI medium can run an embedded script. The UEFI loaders are plain
 * ipxe.efi, which falls back to its DHCP autoboot: it asks DHCP (user class `iPXE`) and
 * chains the filename it gets — the distributor answers iPXE with the script endpoint, so the
 * machine still reaches the scripts role, but only on a segment one of our DHCP servers (full
 * or proxy) serves. The script is still written as `autoexec.ipxe` (volume root and
 * EFI/BOOT/): an ipxe.efi built from source (≥ 1.21.1, or with `EMBED=`, e.g. by the builder
 * role) runs it, with no change to the medium's layout.
 */
import type { FatEntry } from './fat.js'

export const EFI_X64_LOADER = 'EFI/BOOT/BOOTX64.EFI'
export const EFI_ARM64_LOADER = 'EFI/BOOT/BOOTAA64.EFI'
export const AUTOEXEC = 'autoexec.ipxe'

/**
 * FAT entries of the EFI tree. One volume holds one `autoexec.ipxe`: the x64 script when there
 * is an x64 binary, else the arm64 one; the arm64 script is also kept as
 * `EFI/BOOT/autoexec-arm64.ipxe` for reference when it differs.
 */
export function efiEntries (bins: { efiX64?: string, efiArm64?: string }, scripts: { x64Efi?: string, arm64Efi?: string }): FatEntry[] {
  const entries: FatEntry[] = []
  if (bins.efiX64 !== undefined) entries.push({ role: 'files.efiX64', src: bins.efiX64, dest: EFI_X64_LOADER })
  if (bins.efiArm64 !== undefined) entries.push({ role: 'files.efiArm64', src: bins.efiArm64, dest: EFI_ARM64_LOADER })
  const main = bins.efiX64 !== undefined ? scripts.x64Efi : scripts.arm64Efi
  if (main !== undefined) {
    entries.push({ role: 'script', src: main, dest: AUTOEXEC }, { role: 'script', src: main, dest: `EFI/BOOT/${AUTOEXEC}` })
  }
  if (bins.efiX64 !== undefined && bins.efiArm64 !== undefined && scripts.arm64Efi !== undefined && scripts.arm64Efi !== scripts.x64Efi) {
    entries.push({ role: 'script', src: scripts.arm64Efi, dest: 'EFI/BOOT/autoexec-arm64.ipxe' })
  }
  return entries
}
