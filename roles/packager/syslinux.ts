/**
 * The SYSLINUX/ISOLINUX side (BIOS): ipxe.lkrn booted as a Linux kernel with the script as
 * its initrd — iPXE's .lkrn runs an initrd that is an iPXE script as its embedded script.
 */

/** Where the BIOS pieces live on every medium. */
export const LKRN_PATH = 'ipxe.lkrn'
export const BIOS_SCRIPT_PATH = 'ctpf/bios.ipxe'

/** syslinux.cfg / isolinux.cfg: boot at once, no prompt, no menu. */
export function syslinuxConfig (): string {
  return [
    '# ctpf boot medium (generated): iPXE with its chainload script as initrd',
    'DEFAULT ctpf',
    'PROMPT 0',
    'LABEL ctpf',
    `  KERNEL /${LKRN_PATH}`,
    `  INITRD /${BIOS_SCRIPT_PATH}`,
    ''
  ].join('\n')
}
