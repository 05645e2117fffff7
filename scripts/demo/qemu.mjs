/**
 * QEMU machines for the demo (TCG: nested KVM is not to be relied on), network-booting from a
 * tap on a LAN bridge of the lab. BIOS machines use QEMU's own iPXE NIC ROM; UEFI machines
 * use OVMF's PXE (no NIC ROM), which fetches ipxe.efi over TFTP. The serial console goes to a
 * log file and is kept in memory for `waitFor`.
 *
 * @example
 * const vm = await startMachine(lab, lanNs, { name: 'a', tap: 'tapa', mac: '52:54:00:de:01:0a', firmware: 'bios', logDir })
 * await vm.waitFor(/^CTPF-BOOT-OK$/m, { timeoutMs: 120_000 })
 */
import { copyFileSync } from 'node:fs'
import { join } from 'node:path'

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE.fd'
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS.fd'

/** A path inside a QEMU `key=value,…` option: commas are doubled. */
const q = path => path.replace(/,/g, ',,')

export function qemuArgs ({ tap, mac, firmware, serialLog, varsFile, memoryMiB = 384 }) {
  const args = ['qemu-system-x86_64', '-accel', 'tcg', '-m', String(memoryMiB),
    // -nographic: SeaBIOS (and iPXE under it) mirror their console to serial
    '-nographic', '-no-reboot', '-monitor', 'none',
    '-chardev', `stdio,id=ser0,signal=off,logfile=${q(serialLog)},logappend=off`, '-serial', 'chardev:ser0']
  if (firmware === 'uefi') {
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${q(OVMF_CODE)}`, '-drive', `if=pflash,format=raw,unit=1,file=${q(varsFile)}`)
    // OVMF's own PXE, no iPXE ROM on the NIC: it loads ipxe.efi over TFTP
    args.push('-netdev', `tap,id=net0,ifname=${tap},script=no,downscript=no`, '-device', `virtio-net-pci,netdev=net0,mac=${mac},romfile=,bootindex=1`)
  } else {
    args.push('-netdev', `tap,id=net0,ifname=${tap},script=no,downscript=no`, '-device', `e1000,netdev=net0,mac=${mac},bootindex=1`)
  }
  return args
}

/** Starts a machine in `ns` on `tap`; it runs until the lab is cleaned up (or it powers off). */
export function startMachine (lab, ns, { name, tap, mac, firmware, logDir }) {
  const serialLog = join(logDir, `machine-${name}.serial.log`)
  let varsFile
  if (firmware === 'uefi') {
    varsFile = join(lab.dir(`machine-${name}`), 'OVMF_VARS.fd')
    copyFileSync(OVMF_VARS, varsFile)
  }
  const proc = lab.spawn(ns, qemuArgs({ tap, mac, firmware, serialLog, varsFile }), { name: `qemu-${name}` })
  return {
    name,
    mac,
    firmware,
    proc,
    serialLog,
    /** The serial console so far, without carriage returns. */
    get console () { return proc.text.replace(/\r/g, '') },
    waitFor: async (re, opts) => await proc.waitFor(re, opts)
  }
}
