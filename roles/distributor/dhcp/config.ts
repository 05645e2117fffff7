/**
 * DHCP server configuration: the zod schema operators write against, and the frozen,
 * pre-computed form the server runs on.
 */
import { z } from 'zod'
import { intToIp, ipToInt, isIpv4 } from '../../../protocols/dhcp/index.js'
import { InvalidConfigError } from './errors.js'

const ipv4 = z.string().refine(isIpv4, 'expected a dotted-quad IPv4 address')
const port = z.number().int().min(1).max(65535)
const mac = z.string()
  .regex(/^([0-9a-fA-F]{2}[:-]){5}[0-9a-fA-F]{2}$/, 'expected a MAC address like 52:54:00:12:34:56')
  .transform(s => s.toLowerCase().replace(/-/g, ':'))

const reservation = z.object({
  mac,
  ip: ipv4,
  hostname: z.string().min(1).max(63).optional()
})

const subnet = z.object({
  /** network address, e.g. `10.0.0.0` */
  network: ipv4,
  netmask: ipv4,
  /** addresses handed out dynamically; required in `full` mode */
  range: z.object({ start: ipv4, end: ipv4 }).optional(),
  router: ipv4.optional(),
  dnsServers: z.array(ipv4).default([]),
  domain: z.string().min(1).max(253).optional(),
  /** seconds */
  leaseTime: z.number().int().min(10).max(2 ** 31).default(3600),
  reservations: z.array(reservation).default([])
})

/** Boot file per client architecture: TFTP paths, or URLs for the UEFI HTTP boot ones. */
// they travel in the 128-byte BOOTP `file` field, NUL-terminated
const bootName = z.string().min(1).max(127)
const bootUrl = z.url().max(127)
const bootFiles = z.object({
  bios: bootName.optional(),
  efiIa32: bootName.optional(),
  efiX64: bootName.optional(),
  efiArm64: bootName.optional(),
  httpX64: bootUrl.optional(),
  httpArm64: bootUrl.optional()
})

export const DhcpConfigSchema = z.object({
  /** `full`: hands out addresses. `proxy`: beside another DHCP server, boot information only */
  mode: z.enum(['full', 'proxy']).default('full'),
  /** our address on the served segment: server identifier, default TFTP server */
  serverAddress: ipv4,
  bindAddress: ipv4.default('0.0.0.0'),
  ports: z.object({
    server: port.default(67),
    client: port.default(68),
    /** PXE boot-server / proxyDHCP requests */
    pxe: port.default(4011)
  }).prefault({}),
  /** NAK requests for addresses that are not ours (only when we own the segment) */
  authoritative: z.boolean().default(false),
  /** the first subnet containing `serverAddress` is the local one; others are reached via relays */
  subnets: z.array(subnet).min(1),
  boot: z.object({
    /** siaddr and option 66; defaults to `serverAddress` */
    tftpServer: ipv4.optional(),
    files: bootFiles.prefault({}),
    /** given instead of a loader to clients whose user-class is `iPXE` (breaks the chainload loop) */
    ipxeScriptUrl: bootUrl.optional()
  }).prefault({}),
  /** datacenter tag reported with every sighted host */
  dc: z.string().min(1).optional(),
  offerTimeoutSeconds: z.number().int().min(1).max(3600).default(60),
  declineHoldSeconds: z.number().int().min(1).max(86400).default(600),
  sweepIntervalSeconds: z.number().int().min(1).max(3600).default(30)
})

export type DhcpConfigInput = z.input<typeof DhcpConfigSchema>
type Parsed = z.output<typeof DhcpConfigSchema>

export interface Subnet {
  network: number
  mask: number
  broadcast: number
  range?: { start: number, end: number }
  router?: string
  dnsServers: string[]
  domain?: string
  leaseTime: number
  /** mac → ip */
  reservationsByMac: Map<string, { ip: number, hostname?: string }>
  /** ip → mac */
  reservationsByIp: Map<number, string>
  /** addresses never handed out: network, broadcast, router, our own */
  excluded: Set<number>
}

export interface DhcpConfig extends Omit<Parsed, 'subnets'> {
  subnets: Subnet[]
  local: Subnet
  tftpServer: string
}

const contains = (s: Subnet, ip: number): boolean => ((ip & s.mask) >>> 0) === s.network

export function subnetContains (s: Subnet, ip: string): boolean { return contains(s, ipToInt(ip)) }

function compileSubnet (raw: Parsed['subnets'][number], cfg: Parsed, i: number): Subnet {
  const where = `subnets[${i}]`
  const mask = ipToInt(raw.netmask)
  if (((~mask >>> 0) & ((~mask >>> 0) + 1)) !== 0) throw new InvalidConfigError(`${where}.netmask ${raw.netmask} is not contiguous`)
  const network = ipToInt(raw.network)
  if (((network & mask) >>> 0) !== network) throw new InvalidConfigError(`${where}.network ${raw.network} has host bits set for ${raw.netmask}`)
  const s: Subnet = {
    network,
    mask,
    broadcast: (network | (~mask >>> 0)) >>> 0,
    dnsServers: raw.dnsServers,
    leaseTime: raw.leaseTime,
    reservationsByMac: new Map(),
    reservationsByIp: new Map(),
    excluded: new Set()
  }
  if (raw.router !== undefined) s.router = raw.router
  if (raw.domain !== undefined) s.domain = raw.domain
  s.excluded.add(network).add(s.broadcast).add(ipToInt(cfg.serverAddress))
  if (raw.router !== undefined) s.excluded.add(ipToInt(raw.router))
  if (raw.range !== undefined) {
    const start = ipToInt(raw.range.start)
    const end = ipToInt(raw.range.end)
    if (!contains(s, start) || !contains(s, end) || start > end) {
      throw new InvalidConfigError(`${where}.range ${raw.range.start}-${raw.range.end} is not an ordered range inside ${raw.network}/${raw.netmask}`)
    }
    s.range = { start, end }
  } else if (cfg.mode === 'full') {
    throw new InvalidConfigError(`${where}.range is required in full mode`)
  }
  for (const r of raw.reservations) {
    const ip = ipToInt(r.ip)
    if (!contains(s, ip) || s.excluded.has(ip)) throw new InvalidConfigError(`${where} reservation ${r.mac} → ${r.ip} is outside the subnet or on a reserved address`)
    if (s.reservationsByMac.has(r.mac) || s.reservationsByIp.has(ip)) throw new InvalidConfigError(`${where} reservation ${r.mac} → ${r.ip} is a duplicate`)
    s.reservationsByMac.set(r.mac, r.hostname === undefined ? { ip } : { ip, hostname: r.hostname })
    s.reservationsByIp.set(ip, r.mac)
  }
  return s
}

/** Validates, compiles and freezes a config. Throws `InvalidConfigError` listing every problem. */
export function parseDhcpConfig (input: unknown): Readonly<DhcpConfig> {
  const res = DhcpConfigSchema.safeParse(input)
  if (!res.success) {
    throw new InvalidConfigError(res.error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; '))
  }
  const cfg = res.data
  const subnets = cfg.subnets.map((s, i) => compileSubnet(s, cfg, i))
  const server = ipToInt(cfg.serverAddress)
  const local = subnets.find(s => contains(s, server))
  if (local === undefined) throw new InvalidConfigError(`serverAddress ${cfg.serverAddress} is inside no configured subnet`)
  return Object.freeze({ ...cfg, subnets, local, tftpServer: cfg.boot.tftpServer ?? cfg.serverAddress })
}

/** The subnet a request belongs to: by relay address when relayed, else the local one. */
export function selectSubnet (cfg: DhcpConfig, giaddr: string): Subnet | undefined {
  if (giaddr === '0.0.0.0') return cfg.local
  const g = ipToInt(giaddr)
  return cfg.subnets.find(s => contains(s, g))
}

export function broadcastAddress (s: Subnet): string { return intToIp(s.broadcast) }
export function netmaskOf (s: Subnet): string { return intToIp(s.mask) }
