/**
 * The iPXE scripts the boot endpoint answers with. The first request carries no identity, so
 * the answer chains back with iPXE's own variables (MAC, UUID, architecture, platform); the
 * second gets the boot script of the machine's profile. A failure is a script that says why
 * and retries — a booting machine cannot show an HTTP error.
 */
export interface BootProfile {
  name: string
  kernel: string
  initrd?: string
  cmdline?: string
}

export interface BootIdentity {
  mac?: string
  uuid?: string
  arch?: string
  platform?: string
}

const SAFE = /^[A-Za-z0-9._:/=,+@ -]*$/

/** Values spliced into a script must not carry iPXE syntax (`${…}`, newlines, `||`). */
export function scriptSafe (value: string): string {
  if (!SAFE.test(value)) throw new Error(`unsafe characters in "${value.slice(0, 40)}"`)
  return value
}

/**
 * @param chainUndionly BIOS machines whose NIC ROM is an iPXE of its own first chainload the
 *   distribution's undionly.kpxe over TFTP (from the DHCP next-server), so every BIOS machine
 *   boots the same iPXE whatever its ROM (old ROMs lack commands and protocols).
 */
export function identifyScript (base: string, chainUndionly = false): string {
  return [
    '#!ipxe',
    ...(chainUndionly ? ['iseq ${platform} pcbios || goto identify', 'iseq ${net0/chip} undionly && goto identify ||', 'echo ctpf: ${net0/chip} chainloads undionly.kpxe', 'chain tftp://${next-server}/undionly.kpxe || goto identify'] : []),
    ':identify',
    `chain ${base}/boot.ipxe?mac=\${mac:hexhyp}&uuid=\${uuid}&buildarch=\${buildarch}&platform=\${platform} || goto retry`,
    // a script that gave up (exit 1) or an unreachable endpoint: ask again, identity included
    ':retry',
    'echo ctpf: no boot script yet, asking again in 10 s',
    'sleep 10',
    'goto identify',
    ''
  ].join('\n')
}

export function bootScript (base: string, profile: BootProfile, who: BootIdentity): string {
  const lines = ['#!ipxe', `echo ctpf: ${scriptSafe(who.mac ?? 'unknown')} (${scriptSafe(who.arch ?? '-')}/${scriptSafe(who.platform ?? '-')}) boots profile ${scriptSafe(profile.name)}`]
  const initrdName = profile.initrd != null ? profile.initrd.split('/').pop() as string : undefined
  const cmdline = [profile.cmdline ?? '', initrdName != null ? `initrd=${initrdName}` : ''].join(' ').trim()
  lines.push(`kernel ${base}/files/${scriptSafe(profile.kernel)} ${scriptSafe(cmdline)} || goto failed`)
  if (profile.initrd != null) lines.push(`initrd ${base}/files/${scriptSafe(profile.initrd)} || goto failed`)
  lines.push('boot || goto failed', ':failed', 'echo ctpf: boot failed, retrying in 10 s', 'sleep 10', `chain ${base}/boot.ipxe || goto failed`, '')
  return lines.join('\n')
}

export function errorScript (base: string, reason: string): string {
  return ['#!ipxe', `echo ctpf: cannot boot this machine: ${reason.replace(/[^A-Za-z0-9._:/=,+@ -]/g, ' ')}`, 'echo ctpf: retrying in 30 s', 'sleep 30', `chain ${base}/boot.ipxe`, ''].join('\n')
}
