/** Canonical forms of what machines report, so selectors compare equal however iPXE spells them. */

export const ARCHES = ['x86_64', 'i386', 'arm64', 'arm32', 'riscv64'] as const
export type Arch = typeof ARCHES[number]

const ALIASES: Readonly<Record<string, Arch>> = {
  x86_64: 'x86_64', amd64: 'x86_64', x64: 'x86_64',
  i386: 'i386', i486: 'i386', i586: 'i386', i686: 'i386', x86: 'i386',
  arm64: 'arm64', aarch64: 'arm64',
  arm32: 'arm32', arm: 'arm32', armhf: 'arm32', armv7: 'arm32', armv7l: 'arm32',
  riscv64: 'riscv64'
}

/**
 * The canonical architecture for an iPXE `${buildarch}` (or any common alias), or undefined.
 * iPXE's BIOS builds (undionly.kpxe, ipxe.lkrn, ipxe.pxe) are i386 builds whatever the CPU, so
 * `i386` on `pcbios` is taken as `x86_64`: ctpf boots 64-bit machines, and a 64-bit bzImage
 * boots from a 32-bit iPXE. Pass no platform to get the plain alias mapping.
 */
export function normalizeArch (arch: string, platform?: string): Arch | undefined {
  const a = Object.hasOwn(ALIASES, arch.toLowerCase()) ? ALIASES[arch.toLowerCase()] : undefined
  if (a === 'i386' && platform === 'pcbios') return 'x86_64'
  return a
}

const MAC = /^[0-9a-f]{2}([:-]?)[0-9a-f]{2}(\1[0-9a-f]{2}){4}$/i

/** `AA-BB-CC-DD-EE-FF`, `aabbccddeeff`, `aa:bb:…` → `aa:bb:cc:dd:ee:ff`; undefined if not a MAC. */
export function normalizeMac (mac: string): string | undefined {
  if (!MAC.test(mac)) return undefined
  return (mac.toLowerCase().replace(/[:-]/g, '').match(/../g) as string[]).join(':')
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i

export function normalizeUuid (uuid: string): string | undefined {
  return UUID.test(uuid) ? uuid.toLowerCase() : undefined
}

export function normalizeHostname (hostname: string): string {
  return hostname.toLowerCase().replace(/\.$/, '')
}
