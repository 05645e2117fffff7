/**
 * DHCP option numbers and their typed values (RFC 2132, 3004, 3046, 4578; PXE 2.1 for 43).
 *
 * Each known option has a codec that checks the length before it reads a byte. Unknown
 * options stay raw bytes and are never interpreted.
 */
import { InvalidOptionError } from './errors.js'
import { ipToBytes, bytesToIp } from './ip.js'

export const Opt = {
  PAD: 0,
  SUBNET_MASK: 1,
  ROUTER: 3,
  DNS_SERVERS: 6,
  HOSTNAME: 12,
  DOMAIN_NAME: 15,
  BROADCAST_ADDRESS: 28,
  VENDOR_SPECIFIC: 43,
  REQUESTED_IP: 50,
  LEASE_TIME: 51,
  OVERLOAD: 52,
  MESSAGE_TYPE: 53,
  SERVER_ID: 54,
  PARAM_REQUEST_LIST: 55,
  MESSAGE: 56,
  MAX_MESSAGE_SIZE: 57,
  RENEWAL_TIME: 58,
  REBINDING_TIME: 59,
  VENDOR_CLASS_ID: 60,
  CLIENT_ID: 61,
  TFTP_SERVER_NAME: 66,
  BOOTFILE_NAME: 67,
  USER_CLASS: 77,
  RELAY_AGENT_INFO: 82,
  CLIENT_ARCH: 93,
  CLIENT_NDI: 94,
  CLIENT_UUID: 97,
  END: 255
} as const

export const MessageType = {
  DISCOVER: 1, OFFER: 2, REQUEST: 3, DECLINE: 4, ACK: 5, NAK: 6, RELEASE: 7, INFORM: 8
} as const
export type MessageTypeName = keyof typeof MessageType

/** Client system architecture (option 93, RFC 4578 / IANA registry). */
export const ClientArch = {
  BIOS: 0,
  EFI_IA32: 6,
  EFI_X64: 7,
  EFI_BC: 9,
  EFI_ARM64: 11,
  EFI_X64_HTTP: 16,
  EFI_ARM64_HTTP: 19
} as const

export interface ClientNdi { type: number, major: number, minor: number }
export interface RelayAgentInfo { circuitId?: Uint8Array, remoteId?: Uint8Array, raw: Uint8Array }

/** Typed view of the options this server reads or writes. */
export interface DhcpOptions {
  subnetMask?: string
  routers?: string[]
  dnsServers?: string[]
  hostname?: string
  domainName?: string
  broadcastAddress?: string
  /** option 43, raw; see `decodePxeVendorOptions` */
  vendorSpecific?: Uint8Array
  requestedIp?: string
  leaseTime?: number
  overload?: number
  messageType?: number
  serverId?: string
  paramRequestList?: number[]
  message?: string
  maxMessageSize?: number
  renewalTime?: number
  rebindingTime?: number
  vendorClassId?: string
  clientId?: Uint8Array
  tftpServerName?: string
  bootfileName?: string
  /** option 77: RFC 3004 instances, or the one raw string iPXE sends */
  userClass?: string[]
  relayAgentInfo?: RelayAgentInfo
  clientArch?: number[]
  clientNdi?: ClientNdi
  /** option 97 with type 0: the 16-byte machine UUID as canonical text */
  clientUuid?: string
}

interface Codec<T> {
  key: keyof DhcpOptions
  decode: (b: Uint8Array, code: number) => T
  encode: (v: T, code: number) => Uint8Array
}

function need (ok: boolean, code: number, what: string): void {
  if (!ok) throw new InvalidOptionError(code, what)
}

const text = (b: Uint8Array): string => Buffer.from(b).toString('utf8').replace(/\0+$/, '')
const encText = (s: string): Uint8Array => Buffer.from(s, 'utf8')

const ip: Omit<Codec<string>, 'key'> = {
  decode: (b, c) => { need(b.length === 4, c, 'address needs 4 bytes'); return bytesToIp(b, 0) },
  encode: (v) => ipToBytes(v)
}
const ips: Omit<Codec<string[]>, 'key'> = {
  decode: (b, c) => {
    need(b.length > 0 && b.length % 4 === 0, c, 'address list needs a multiple of 4 bytes')
    const out: string[] = []
    for (let i = 0; i < b.length; i += 4) out.push(bytesToIp(b, i))
    return out
  },
  encode: (v) => Buffer.concat(v.map(ipToBytes))
}
const u8: Omit<Codec<number>, 'key'> = {
  decode: (b, c) => { need(b.length === 1, c, 'needs 1 byte'); return b[0] as number },
  encode: (v) => Uint8Array.of(v & 0xff)
}
const u16: Omit<Codec<number>, 'key'> = {
  decode: (b, c) => { need(b.length === 2, c, 'needs 2 bytes'); return Buffer.from(b).readUInt16BE(0) },
  encode: (v) => { const o = Buffer.alloc(2); o.writeUInt16BE(v); return o }
}
const u32: Omit<Codec<number>, 'key'> = {
  decode: (b, c) => { need(b.length === 4, c, 'needs 4 bytes'); return Buffer.from(b).readUInt32BE(0) },
  encode: (v) => { const o = Buffer.alloc(4); o.writeUInt32BE(v >>> 0); return o }
}
const str: Omit<Codec<string>, 'key'> = { decode: text, encode: encText }
const bytes: Omit<Codec<Uint8Array>, 'key'> = { decode: (b) => Uint8Array.from(b), encode: (v) => v }

const userClass: Omit<Codec<string[]>, 'key'> = {
  decode: (b) => {
    // RFC 3004: a list of length-prefixed instances. iPXE sends one bare string instead.
    const out: string[] = []
    let i = 0
    while (i < b.length) {
      const len = b[i] as number
      if (len === 0 || i + 1 + len > b.length) return [text(b)]
      out.push(text(b.subarray(i + 1, i + 1 + len)))
      i += 1 + len
    }
    return out.length > 0 ? out : [text(b)]
  },
  encode: (v) => Buffer.concat(v.map(s => { const t = encText(s); return Buffer.concat([Uint8Array.of(t.length), t]) }))
}

const arch: Omit<Codec<number[]>, 'key'> = {
  decode: (b, c) => {
    need(b.length >= 2 && b.length % 2 === 0, c, 'architecture list needs a multiple of 2 bytes')
    const out: number[] = []
    for (let i = 0; i < b.length; i += 2) out.push(((b[i] as number) << 8) | (b[i + 1] as number))
    return out
  },
  encode: (v) => Buffer.concat(v.map(n => u16.encode(n, 0)))
}

const ndi: Omit<Codec<ClientNdi>, 'key'> = {
  decode: (b, c) => { need(b.length === 3, c, 'needs 3 bytes'); return { type: b[0] as number, major: b[1] as number, minor: b[2] as number } },
  encode: (v) => Uint8Array.of(v.type, v.major, v.minor)
}

const uuid: Omit<Codec<string>, 'key'> = {
  decode: (b, c) => {
    need(b.length === 17 && b[0] === 0, c, 'needs type 0 and a 16-byte UUID')
    const h = Buffer.from(b.subarray(1)).toString('hex')
    return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`
  },
  encode: (v, c) => {
    const h = v.replace(/-/g, '')
    need(/^[0-9a-fA-F]{32}$/.test(h), c, 'UUID must be 32 hex digits')
    return Buffer.concat([Uint8Array.of(0), Buffer.from(h, 'hex')])
  }
}

/** Splits a TLV sub-option area; throws when a length runs past the end. */
export function parseSubOptions (b: Uint8Array, code: number): Map<number, Uint8Array> {
  const out = new Map<number, Uint8Array>()
  let i = 0
  while (i < b.length) {
    const sub = b[i] as number
    if (sub === 0) { i++; continue }
    if (sub === 255) break
    need(i + 1 < b.length, code, `sub-option ${sub} has no length`)
    const len = b[i + 1] as number
    need(i + 2 + len <= b.length, code, `sub-option ${sub} runs past the end`)
    out.set(sub, b.subarray(i + 2, i + 2 + len))
    i += 2 + len
  }
  return out
}

const relay: Omit<Codec<RelayAgentInfo>, 'key'> = {
  decode: (b, c) => {
    const subs = parseSubOptions(b, c)
    const info: RelayAgentInfo = { raw: Uint8Array.from(b) }
    const circuit = subs.get(1)
    const remote = subs.get(2)
    if (circuit !== undefined) info.circuitId = Uint8Array.from(circuit)
    if (remote !== undefined) info.remoteId = Uint8Array.from(remote)
    return info
  },
  encode: (v) => v.raw
}

const paramList: Omit<Codec<number[]>, 'key'> = { decode: (b) => [...b], encode: (v) => Uint8Array.from(v) }

/** Option number → codec. Anything absent here is kept raw and ignored. */
export const OPTION_CODECS: ReadonlyMap<number, Codec<any>> = new Map<number, Codec<any>>([
  [Opt.SUBNET_MASK, { key: 'subnetMask', ...ip }],
  [Opt.ROUTER, { key: 'routers', ...ips }],
  [Opt.DNS_SERVERS, { key: 'dnsServers', ...ips }],
  [Opt.HOSTNAME, { key: 'hostname', ...str }],
  [Opt.DOMAIN_NAME, { key: 'domainName', ...str }],
  [Opt.BROADCAST_ADDRESS, { key: 'broadcastAddress', ...ip }],
  [Opt.VENDOR_SPECIFIC, { key: 'vendorSpecific', ...bytes }],
  [Opt.REQUESTED_IP, { key: 'requestedIp', ...ip }],
  [Opt.LEASE_TIME, { key: 'leaseTime', ...u32 }],
  [Opt.OVERLOAD, { key: 'overload', ...u8 }],
  [Opt.MESSAGE_TYPE, { key: 'messageType', ...u8 }],
  [Opt.SERVER_ID, { key: 'serverId', ...ip }],
  [Opt.PARAM_REQUEST_LIST, { key: 'paramRequestList', ...paramList }],
  [Opt.MESSAGE, { key: 'message', ...str }],
  [Opt.MAX_MESSAGE_SIZE, { key: 'maxMessageSize', ...u16 }],
  [Opt.RENEWAL_TIME, { key: 'renewalTime', ...u32 }],
  [Opt.REBINDING_TIME, { key: 'rebindingTime', ...u32 }],
  [Opt.VENDOR_CLASS_ID, { key: 'vendorClassId', ...str }],
  [Opt.CLIENT_ID, { key: 'clientId', ...bytes }],
  [Opt.TFTP_SERVER_NAME, { key: 'tftpServerName', ...str }],
  [Opt.BOOTFILE_NAME, { key: 'bootfileName', ...str }],
  [Opt.USER_CLASS, { key: 'userClass', ...userClass }],
  [Opt.RELAY_AGENT_INFO, { key: 'relayAgentInfo', ...relay }],
  [Opt.CLIENT_ARCH, { key: 'clientArch', ...arch }],
  [Opt.CLIENT_NDI, { key: 'clientNdi', ...ndi }],
  [Opt.CLIENT_UUID, { key: 'clientUuid', ...uuid }]
])

/** Encoding order: 53 and 54 first (some ROMs expect it), then ascending numbers. */
export const ENCODE_ORDER: readonly number[] = [
  Opt.MESSAGE_TYPE, Opt.SERVER_ID,
  ...[...OPTION_CODECS.keys()].filter(c => c !== Opt.MESSAGE_TYPE && c !== Opt.SERVER_ID).sort((a, b) => a - b)
]

/** PXE vendor options carried inside option 43 when option 60 starts with `PXEClient`. */
export interface PxeVendorOptions {
  /** sub-option 6; 8 = "boot the file in this offer, skip boot-server discovery" */
  discoveryControl?: number
  /** sub-option 9 */
  bootMenu?: Array<{ type: number, description: string }>
  /** sub-option 10 */
  menuPrompt?: { timeout: number, prompt: string }
  /** sub-option 71 */
  bootItem?: { type: number, layer: number }
}

export function encodePxeVendorOptions (o: PxeVendorOptions): Uint8Array {
  const parts: Uint8Array[] = []
  const sub = (code: number, v: Uint8Array): void => {
    if (v.length > 255) throw new InvalidOptionError(43, `sub-option ${code} longer than 255 bytes`)
    parts.push(Uint8Array.of(code, v.length), v)
  }
  if (o.discoveryControl !== undefined) sub(6, Uint8Array.of(o.discoveryControl))
  if (o.bootMenu !== undefined) {
    sub(9, Buffer.concat(o.bootMenu.map(item => {
      const d = encText(item.description).subarray(0, 250)
      return Buffer.concat([u16.encode(item.type, 9), Uint8Array.of(d.length), d])
    })))
  }
  if (o.menuPrompt !== undefined) sub(10, Buffer.concat([Uint8Array.of(o.menuPrompt.timeout), encText(o.menuPrompt.prompt)]))
  if (o.bootItem !== undefined) sub(71, Buffer.concat([u16.encode(o.bootItem.type, 71), u16.encode(o.bootItem.layer, 71)]))
  parts.push(Uint8Array.of(255))
  return Buffer.concat(parts)
}

export function decodePxeVendorOptions (b: Uint8Array): PxeVendorOptions {
  const subs = parseSubOptions(b, 43)
  const out: PxeVendorOptions = {}
  const dc = subs.get(6)
  if (dc !== undefined) { need(dc.length === 1, 43, 'sub-option 6 needs 1 byte'); out.discoveryControl = dc[0] as number }
  const menu = subs.get(9)
  if (menu !== undefined) {
    out.bootMenu = []
    for (let i = 0; i < menu.length;) {
      need(i + 3 <= menu.length, 43, 'boot menu item truncated')
      const len = menu[i + 2] as number
      need(i + 3 + len <= menu.length, 43, 'boot menu description truncated')
      out.bootMenu.push({ type: ((menu[i] as number) << 8) | (menu[i + 1] as number), description: text(menu.subarray(i + 3, i + 3 + len)) })
      i += 3 + len
    }
  }
  const prompt = subs.get(10)
  if (prompt !== undefined) {
    need(prompt.length >= 1, 43, 'menu prompt needs a timeout byte')
    out.menuPrompt = { timeout: prompt[0] as number, prompt: text(prompt.subarray(1)) }
  }
  const item = subs.get(71)
  if (item !== undefined) {
    need(item.length === 4, 43, 'boot item needs 4 bytes')
    out.bootItem = { type: ((item[0] as number) << 8) | (item[1] as number), layer: ((item[2] as number) << 8) | (item[3] as number) }
  }
  return out
}
