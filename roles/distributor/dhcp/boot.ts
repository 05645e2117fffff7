/**
 * Network-boot decisions: which firmware is asking, and which file it gets.
 */
import { ClientArch, decodePxeVendorOptions, encodePxeVendorOptions, type DhcpMessage, type DhcpOptions } from '../../../protocols/dhcp/index.js'
import type { DhcpConfig } from './config.js'

export type BootArch =
  | 'x86-bios' | 'x86-uefi' | 'x86_64-uefi' | 'arm64-uefi'
  | 'x86_64-uefi-http' | 'arm64-uefi-http' | 'unknown'

export interface BootClient {
  arch: BootArch
  /** the architecture number, from option 93 or the vendor class string */
  archCode?: number
  /** option 60 starts with `PXEClient` */
  pxe: boolean
  /** option 60 starts with `HTTPClient` (UEFI HTTP boot) */
  http: boolean
  /** user-class `iPXE`: already running iPXE, wants its script */
  ipxe: boolean
  uuid?: string
}

const ARCH_NAMES = new Map<number, BootArch>([
  [ClientArch.BIOS, 'x86-bios'],
  [ClientArch.EFI_IA32, 'x86-uefi'],
  [ClientArch.EFI_X64, 'x86_64-uefi'],
  [ClientArch.EFI_BC, 'x86_64-uefi'],
  [ClientArch.EFI_ARM64, 'arm64-uefi'],
  [ClientArch.EFI_X64_HTTP, 'x86_64-uefi-http'],
  [ClientArch.EFI_ARM64_HTTP, 'arm64-uefi-http']
])

const FILE_KEYS: Record<BootArch, keyof DhcpConfig['boot']['files'] | undefined> = {
  'x86-bios': 'bios',
  'x86-uefi': 'efiIa32',
  'x86_64-uefi': 'efiX64',
  'arm64-uefi': 'efiArm64',
  'x86_64-uefi-http': 'httpX64',
  'arm64-uefi-http': 'httpArm64',
  unknown: undefined
}

/** `PXEClient:Arch:00007:UNDI:003016` → 7 */
function archFromVendorClass (vc: string): number | undefined {
  const m = /^(?:PXEClient|HTTPClient):Arch:(\d{5})/.exec(vc)
  return m === null ? undefined : Number(m[1])
}

/** Classifies a request; undefined for a client that is not network-booting. */
export function bootClient (m: DhcpMessage): BootClient | undefined {
  const vc = m.options.vendorClassId ?? ''
  const pxe = vc.startsWith('PXEClient')
  const http = vc.startsWith('HTTPClient')
  const ipxe = (m.options.userClass ?? []).includes('iPXE')
  if (!pxe && !http && !ipxe) return undefined
  const archCode = m.options.clientArch?.[0] ?? archFromVendorClass(vc)
  const client: BootClient = { arch: archCode === undefined ? 'unknown' : (ARCH_NAMES.get(archCode) ?? 'unknown'), pxe, http, ipxe }
  if (archCode !== undefined) client.archCode = archCode
  if (m.options.clientUuid !== undefined) client.uuid = m.options.clientUuid
  return client
}

export interface BootAnswer {
  siaddr: string
  file: string
  options: DhcpOptions
}

/**
 * What to tell a booting client, or undefined when nothing is configured for it.
 * iPXE gets the HTTP script instead of another loader, so it does not chainload itself forever.
 */
export function bootAnswer (c: BootClient, cfg: DhcpConfig, request: DhcpMessage): BootAnswer | undefined {
  const key = FILE_KEYS[c.arch]
  const file = c.ipxe && cfg.boot.ipxeScriptUrl !== undefined
    ? cfg.boot.ipxeScriptUrl
    : (key === undefined ? undefined : cfg.boot.files[key])
  if (file === undefined) return undefined
  const options: DhcpOptions = { bootfileName: file }
  if (c.http) {
    options.vendorClassId = 'HTTPClient'
  } else {
    options.tftpServerName = cfg.tftpServer
    if (c.pxe) {
      options.vendorClassId = 'PXEClient'
    }
    // UEFI PXE (OVMF, measured) treats a PXE boot menu in option 43 as a request for boot-server
    // discovery on port 4011 and times out (PXE-E18); with no option 43 it boots the file named.
    if (c.pxe && (c.arch === 'x86-bios' || c.arch === 'unknown')) {
      // Discovery control 8: boot the file named here, skip multicast/broadcast boot-server
      // discovery. A one-item menu with a zero prompt timeout keeps strict ROMs happy.
      const bootItem = request.options.vendorSpecific === undefined ? undefined : requestedBootItem(request.options.vendorSpecific)
      options.vendorSpecific = encodePxeVendorOptions({
        discoveryControl: 8,
        bootMenu: [{ type: 0x8000, description: 'ctpf' }],
        menuPrompt: { timeout: 0, prompt: 'ctpf' },
        ...(bootItem === undefined ? {} : { bootItem })
      })
    }
  }
  if (c.uuid !== undefined) options.clientUuid = c.uuid
  return { siaddr: c.http ? '0.0.0.0' : cfg.tftpServer, file, options }
}

function requestedBootItem (b: Uint8Array): { type: number, layer: number } | undefined {
  // sub-option 71 asks for a boot item; echo it so the ROM accepts the ACK
  try { return decodePxeVendorOptions(b).bootItem } catch { return undefined }
}
