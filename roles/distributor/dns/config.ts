/**
 * DNS server configuration: one zod schema at the boundary, parsed once and frozen.
 */
import { isIP } from 'node:net'
import { z } from 'zod'
import { DnsConfigError } from './errors.js'
import { normalizeZoneName } from './names.js'

export interface Upstream {
  /** IP literal (IPv6 without brackets). Names are not accepted: resolving them would need DNS. */
  readonly host: string
  readonly port: number
  /** `host:port` as written in logs (`[v6]:port`). */
  readonly label: string
}

/** `192.0.2.1`, `192.0.2.1:5353`, `[2001:db8::1]:53`, `2001:db8::1` (port 53). */
export function parseUpstream (text: string): Upstream | undefined {
  const bracketed = /^\[([^\]]+)\](?::(\d{1,5}))?$/.exec(text)
  let host: string
  let portText: string | undefined
  if (bracketed !== null) {
    host = bracketed[1] as string
    portText = bracketed[2]
  } else if (isIP(text) === 6) {
    host = text
  } else {
    const m = /^([^:]+)(?::(\d{1,5}))?$/.exec(text)
    if (m === null) return undefined
    host = m[1] as string
    portText = m[2]
  }
  const port = portText === undefined ? 53 : Number(portText)
  if (isIP(host) === 0 || host.includes('%') || port < 1 || port > 65535) return undefined
  return { host, port, label: isIP(host) === 6 ? `[${host}]:${port}` : `${host}:${port}` }
}

const zoneName = z.string().transform((value, ctx) => {
  try {
    return normalizeZoneName(value)
  } catch (err) {
    ctx.addIssue({ code: 'custom', message: (err as Error).message })
    return z.NEVER
  }
})

const upstream = z.string().transform((value, ctx) => {
  const parsed = parseUpstream(value)
  if (parsed === undefined) {
    ctx.addIssue({ code: 'custom', message: `upstream must be ip[:port] or [ipv6]:port, got ${JSON.stringify(value)}` })
    return z.NEVER
  }
  return parsed
})

const seconds = z.number().int().min(0).max(2_147_483_647)

export const DnsConfigSchema = z.object({
  /** Address to bind UDP and TCP on. */
  address: z.union([z.ipv4(), z.ipv6()]).default('127.0.0.1'),
  /** Port for both UDP and TCP; 0 picks a free port shared by both. */
  port: z.number().int().min(0).max(65535).default(53),
  /** The mesh zone we are authoritative for, e.g. `mesh.internal`. */
  domain: zoneName,
  /** Name-server labels inside the zone, published as NS records (`ns` → `ns.<domain>`). */
  nameservers: z.array(z.string().regex(/^[a-zA-Z0-9-]{1,63}(\.[a-zA-Z0-9-]{1,63})*$/)).min(1).default(['ns'])
    .transform(list => list.map(n => n.toLowerCase())),
  /** Mailbox label of the SOA RNAME (`hostmaster` → `hostmaster.<domain>`). */
  hostmaster: z.string().regex(/^[a-zA-Z0-9-]{1,63}$/).default('hostmaster'),
  /** Forwarders for everything outside the zone. Empty: such queries are REFUSED. */
  upstreams: z.array(upstream).max(8).default([]),
  ttl: z.object({
    /** A, AAAA, PTR records of the zone. */
    records: seconds.default(60),
    /** SOA and NS records. */
    apex: seconds.default(3600),
    /** SOA MINIMUM: how long resolvers cache our NXDOMAIN/NODATA. */
    negative: seconds.default(30),
    refresh: seconds.default(3600),
    retry: seconds.default(600),
    expire: seconds.default(86400)
  }).prefault({}),
  forward: z.object({
    /** Per-upstream attempt; the next upstream is tried after it. */
    timeoutMs: z.number().int().min(10).max(30_000).default(2000),
    /** Forwarded answers kept (0 disables the cache). */
    cacheEntries: z.number().int().min(0).max(1_000_000).default(10_000),
    /** Upper bound for cached TTLs. */
    maxTtl: seconds.default(3600),
    /** Upper bound for cached NXDOMAIN/NODATA. */
    maxNegativeTtl: seconds.default(300),
    /** Concurrent upstream queries (beyond it: SERVFAIL). */
    maxInflight: z.number().int().min(1).max(100_000).default(1024)
  }).prefault({}),
  limits: z.object({
    /** EDNS payload size we advertise and honour for UDP answers. */
    udpPayloadBytes: z.number().int().min(512).max(4096).default(1232),
    /** Largest query accepted (UDP datagram or TCP frame). */
    maxMessageBytes: z.number().int().min(512).max(65535).default(4096),
    tcpMaxConnections: z.number().int().min(1).max(65535).default(128),
    tcpIdleTimeoutMs: z.number().int().min(100).max(600_000).default(10_000),
    /** Queries one TCP connection may have in flight before we stop reading it. */
    tcpMaxPipelined: z.number().int().min(1).max(1024).default(32),
    /** Log lines about malformed input per minute; the rest are counted. */
    malformedLogsPerMinute: z.number().int().min(0).max(10_000).default(10),
    /** Zone answers kept pre-encoded (keyed by query bytes); 0 disables. */
    answerCacheEntries: z.number().int().min(0).max(1_000_000).default(10_000)
  }).prefault({})
}).superRefine((cfg, ctx) => {
  for (const u of cfg.upstreams) {
    if (u.port === cfg.port && (u.host === cfg.address || isLoopbackSelf(u.host, cfg.address))) {
      ctx.addIssue({ code: 'custom', path: ['upstreams'], message: `upstream ${u.label} is this server: it would forward to itself` })
    }
  }
})

function isLoopbackSelf (host: string, bound: string): boolean {
  const wildcard = bound === '0.0.0.0' || bound === '::'
  return wildcard && (host.startsWith('127.') || host === '::1')
}

export type DnsConfigInput = z.input<typeof DnsConfigSchema>
export type DnsConfig = Readonly<z.output<typeof DnsConfigSchema>>

/** Validates and freezes; throws {@link DnsConfigError} listing every problem. */
export function parseDnsConfig (input: unknown): DnsConfig {
  const result = DnsConfigSchema.safeParse(input)
  if (!result.success) {
    const issues = result.error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`)
    throw new DnsConfigError(`invalid DNS config: ${issues.join('; ')}`, issues)
  }
  return deepFreeze(result.data)
}

function deepFreeze<T> (value: T): T {
  if (value !== null && typeof value === 'object') {
    for (const v of Object.values(value)) deepFreeze(v)
    Object.freeze(value)
  }
  return value
}
