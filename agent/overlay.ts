/**
 * The encrypted layer-3 overlay on an agent: a TUN device, an address claimed in state, packets
 * to other members over libp2p, subnet routes and a firewall by tags. Without CAP_NET_ADMIN the
 * agent runs and says that the overlay is off and why.
 *
 * The kernel side, done here with `ip` (argument arrays): the TUN gets the agent's v6 address
 * (/48: the whole mesh ULA goes into the device) and its claimed v4 address with the mesh
 * range's prefix (the connected route sends the range into the device); subnets other members
 * advertise get `ip route replace <prefix> dev <tun>`. For the subnets this agent advertises
 * (`overlay.routes`, v4 or v6), it turns on forwarding for that family and adds, tagged with an
 * iptables/ip6tables comment and removed at stop, FORWARD accepts between the TUN and those
 * subnets and a MASQUERADE of mesh sources (the v4 range, the v6 ULA /48) towards them — so
 * hosts on that LAN need no route back to the overlay.
 *
 * Overlay names (`<name>.<dc>.<overlay.domain>`, default `ctpf.internal`; agent/overlay-dns.ts)
 * are served on the agent's overlay addresses, port 53, and `metrics()` gives the overlay's
 * counters for GET /metrics (the agent prefixes them with `overlay`).
 */
import { execFile } from 'node:child_process'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { ADDRESSES_PREFIX, FIREWALL_PREFIX, Firewall, OverlayConfigError, OverlayService, compileRule, ipv6OfPeer, parseIpPrefix, parseV4Prefix } from '../protocols/overlay/index.js'
import { DEFAULT_ADDON_PATH, openTun } from '../protocols/overlay/tun/index.js'
import type { FirewallRule, FirewallRuleInput, OverlayCounters, PeerStats, RouteEntry, SubnetRoute } from '../protocols/overlay/index.js'
import type { NativeTunDevice } from '../protocols/overlay/tun/index.js'
import type { JobRunner } from '../protocols/jobs/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { AgentNode } from './node.js'
import { DEFAULT_OVERLAY_DOMAIN, OverlayDns, OverlayNames } from './overlay-dns.js'
import type { OverlayDnsStatus } from './overlay-dns.js'
import type { Logger } from 'pino'

const run = promisify(execFile)

export interface OverlayInit {
  self: string
  meshId: string
  tags: Record<string, string>
  config: {
    enabled: boolean
    range?: string
    routes?: string[]
    tunName?: string
    /** The mesh domain of overlay names (default `ctpf.internal`); the same on every agent. */
    domain?: string
    /** Serve overlay names on the overlay addresses (default true). */
    dns?: boolean
  }
  node: AgentNode
  state: StateService
  registry: MemberRegistry
  jobs: JobRunner
  /** Signs with the agent's key (the overlay's end-to-end handshakes through member relays). */
  sign: (data: Uint8Array) => Promise<Uint8Array>
  log: Logger
}

/** What the control API shows of the overlay (GET /v1/net/status). */
export interface OverlayStatus {
  enabled: boolean
  reason?: string
  tun?: string
  mtu?: number
  address?: string
  address6?: string
  range?: string
  range6?: string
  advertised?: string[]
  /** This agent's overlay name (`<name>.<dc>.<domain>`), when it is tagged `name=`. */
  name?: string
  /** Where overlay names are served. */
  dns?: OverlayDnsStatus
  peers?: Array<PeerStats & { name?: string }>
  counters?: OverlayCounters
  firewall?: { rules: number, errors: Array<{ name: string, error: string }>, allowed: number, denied: number, replies: number }
}

export interface OverlayRoutes {
  /** Where each destination goes (agents' addresses and advertised subnets). */
  routes: RouteEntry[]
  /** What this agent routes for hosts behind it. */
  advertised: string[]
}

export interface OverlayPing { address: string, peer: string, rttMs: number, path?: string }

export interface FirewallView {
  rules: FirewallRule[]
  /** Rules in state that do not parse (skipped by every agent). */
  invalid: Array<{ name: string, error: string }>
}

export interface Overlay {
  status: () => OverlayStatus
  routes: () => OverlayRoutes
  ping: (address: string, timeoutMs?: number) => Promise<OverlayPing>
  /** The firewall rules in state (`firewall/<name>`); writing them needs the admin capability. */
  firewall: {
    list: () => FirewallView
    put: (name: string, rule: FirewallRuleInput) => Promise<FirewallRule>
    remove: (name: string) => Promise<void>
  }
  /**
   * Counters and gauges for GET /metrics, keys without prefix (the agent adds `overlay`):
   * `up`; `peers`, `peersDirect`, `peersRelayed`; `bytesIn`, `bytesOut`, `packetsIn`,
   * `packetsOut` (IP packets through the overlay, all peers); `dropped<Reason>` (see
   * {@link overlayMetricKeys}); `dnsQueries`, `dnsAnswers`, `dnsNxdomain`, `dnsRefused`.
   */
  metrics: () => Record<string, number>
  stop: () => Promise<void>
}

/** Every key `metrics()` of a running overlay returns (an overlay that is off returns `up` only). */
export const overlayMetricKeys = [
  'up', 'peers', 'peersDirect', 'peersRelayed', 'bytesIn', 'bytesOut', 'packetsIn', 'packetsOut',
  'droppedNoRoute', 'droppedNotMember', 'droppedSpoofed', 'droppedNotForUs', 'droppedFirewall', 'droppedMalformed', 'droppedUnsent',
  'relayedFrames', 'relayRefused', 'dnsQueries', 'dnsAnswers', 'dnsNxdomain', 'dnsRefused'
] as const

const RULE_NAME = /^[a-z0-9][a-z0-9._-]{0,62}$/

/** Firewall rules are state: managed the same whether or not this agent's overlay runs. */
function firewallOf (state: StateService): Overlay['firewall'] {
  return {
    list: () => {
      const fw = new Firewall()
      fw.setRules(state.store.list(FIREWALL_PREFIX).map(e => ({ name: e.key.slice(FIREWALL_PREFIX.length), value: e.value })))
      return { rules: fw.rules(), invalid: fw.errors() }
    },
    put: async (name, rule) => {
      if (!RULE_NAME.test(name)) throw new OverlayConfigError(`invalid rule name ${JSON.stringify(name)} (lowercase letters, digits, . _ -)`)
      let compiled: FirewallRule
      try { compiled = compileRule(name, rule).rule } catch (err) { throw new OverlayConfigError(`firewall rule ${name}: ${(err as Error).message}`) }
      const { name: _n, ...value } = compiled
      await state.write(`${FIREWALL_PREFIX}${name}`, value)
      return compiled
    },
    remove: async name => {
      if (state.store.get(`${FIREWALL_PREFIX}${name}`) === undefined) throw Object.assign(new Error(`no firewall rule ${name}`), { code: 'NOT_FOUND' })
      await state.delete(`${FIREWALL_PREFIX}${name}`)
    }
  }
}

/** Raised by `ping`/`routes` when the overlay is off; the control API answers 409. */
export class OverlayOffError extends Error {
  readonly code = 'OVERLAY_OFF'
  constructor (reason: string) {
    super(`the overlay is off: ${reason}`)
    this.name = 'OverlayOffError'
  }
}

const BUILT = 'protocols/overlay/tun/native/build/Release/ctpf_tun.node'

/**
 * The TUN addon: next to the module (source tree, dist/, dist/ctpf.mjs) or, for a bundle run
 * from elsewhere, in the tree its node_modules belong to.
 */
function addonPath (): string {
  if (existsSync(DEFAULT_ADDON_PATH)) return DEFAULT_ADDON_PATH
  try {
    const dep = createRequire(import.meta.url).resolve('libp2p')
    const i = dep.lastIndexOf(`${join('/', 'node_modules')}/`)
    if (i > 0) {
      const candidate = join(dep.slice(0, i), BUILT)
      if (existsSync(candidate)) return candidate
    }
  } catch {}
  return DEFAULT_ADDON_PATH
}

function off (reason: string, log: Logger, state: StateService, level: 'info' | 'warn' = 'warn'): Overlay {
  log[level]({ reason }, 'the overlay is off')
  return {
    firewall: firewallOf(state),
    status: () => ({ enabled: false, reason }),
    routes: () => { throw new OverlayOffError(reason) },
    ping: async () => { throw new OverlayOffError(reason) },
    metrics: () => ({ up: 0 }),
    stop: async () => {}
  }
}

async function ip (args: string[]): Promise<void> {
  await run('ip', args, { timeout: 10_000 })
}

export async function startOverlay (init: OverlayInit): Promise<Overlay> {
  const { config, log } = init
  // not configured is the normal state of an agent that does not take part: no warning
  if (!config.enabled) return off('disabled in the configuration (overlay.enabled is false)', log, init.state, 'info')
  if (config.range == null) return off('no mesh range configured (set overlay.range in config.json, e.g. "100.96.0.0/16", the same on every agent)', log, init.state, 'info')

  let tun: NativeTunDevice
  let service: OverlayService
  try {
    parseV4Prefix(config.range)
    for (const r of config.routes ?? []) parseIpPrefix(r)
  } catch (err) {
    return off((err as Error).message, log, init.state)
  }
  try {
    // the v6 address is derived, so it goes on at once; the v4 one follows the claim
    tun = await openTun({ name: config.tunName ?? 'ctpf%d', vnetHdr: true, mtu: 1400, addresses: [`${ipv6OfPeer(init.meshId, init.self)}/48`] }, { logger: log, addonPath: addonPath() })
  } catch (err) {
    return off((err as Error).message, log, init.state)
  }
  try {
    service = new OverlayService({ self: init.self, meshId: init.meshId, range: config.range, advertise: config.routes }, {
      libp2p: init.node, state: init.state, members: membersOf(init.registry), tun, sign: init.sign, logger: log
    })
  } catch (err) {
    await tun.close()
    return off((err as Error).message, log, init.state)
  }

  const kernel = new KernelSide(tun.name, { v4: service.range.text, v6: service.status().range6 }, config.routes ?? [], log)
  service.on('address:changed', e => { kernel.setAddress(`${e.address}/${e.prefix}`, e.previous != null ? `${e.previous}/${e.prefix}` : undefined) })
  service.on('routes:changed', r => { kernel.setRoutes(r) })
  try {
    await kernel.enableForwarding()
    await service.start()
    await kernel.settled()
  } catch (err) {
    await service.stop().catch(() => {})
    await kernel.cleanUp()
    await tun.close()
    return off(`the overlay could not start: ${(err as Error).message}`, log, init.state)
  }
  let stopped = false
  const tagsOf = (peer: string): Record<string, string> => init.registry.member(peer)?.tags ?? (peer === init.self ? init.tags : {})
  const names = new OverlayNames({ domain: config.domain ?? DEFAULT_OVERLAY_DOMAIN, logger: log })
  const refreshNames = (): void => {
    const s = service.status()
    names.update([
      { peer: init.self, tags: tagsOf(init.self), address: s.address, address6: s.address6 },
      ...s.peers.map(p => ({ peer: p.peer, tags: tagsOf(p.peer), address: p.address, address6: p.address6 }))
    ])
  }
  let namesQueued = false
  const queueNames = (): void => {
    if (namesQueued) return
    namesQueued = true
    setImmediate(() => { namesQueued = false; if (!stopped) refreshNames() })
  }
  refreshNames()
  const unwatch = [
    init.state.store.watch(ADDRESSES_PREFIX, queueNames),
    init.registry.on('member:joined', queueNames),
    init.registry.on('member:updated', queueNames),
    init.registry.on('member:revoked', queueNames)
  ]
  const dns = config.dns === false ? undefined : new OverlayDns({ domain: names.domain, zone: names.zone, logger: log })
  const dnsAddresses = (): string[] => [service.address, service.address6].filter((a): a is string => a != null)
  await dns?.listen(dnsAddresses())
  service.on('address:changed', () => {
    queueNames()
    if (dns != null) void kernel.settled().then(async () => { if (!stopped) await dns.listen(dnsAddresses()) })
  })
  const meter = new Meter()
  log.info({ tun: tun.name, address: service.address, address6: service.address6, range: service.range.text, advertised: config.routes ?? [], name: names.nameOf(init.self) }, 'overlay up')

  return {
    status: () => {
      if (stopped) return { enabled: false, reason: 'the agent is stopping' }
      const s = service.status()
      return {
        enabled: true,
        tun: tun.name,
        mtu: tun.mtu,
        ...s,
        name: names.nameOf(init.self),
        dns: dns?.status(),
        peers: s.peers.map(p => { const name = names.nameOf(p.peer); return name != null ? { ...p, name } : p })
      }
    },
    metrics: (): Record<string, number> => {
      if (stopped) return { up: 0 }
      const s = service.status()
      const d = dns?.metrics() ?? { queries: 0, answers: 0, nxdomain: 0, refused: 0 }
      return { ...meter.sample(s), dnsQueries: d.queries, dnsAnswers: d.answers, dnsNxdomain: d.nxdomain, dnsRefused: d.refused }
    },
    routes: () => ({ routes: service.routes(), advertised: config.routes ?? [] }),
    firewall: firewallOf(init.state),
    ping: async (address, timeoutMs) => ({ address, ...(await service.ping(address, { timeoutMs })) }),
    stop: async () => {
      if (stopped) return
      stopped = true
      for (const u of unwatch) u()
      await dns?.stop()
      await service.stop()
      await kernel.cleanUp()
      // the kernel deletes the device's addresses and routes with it
      await tun.close()
    }
  }
}

type PeerCounts = Pick<PeerStats, 'bytesIn' | 'bytesOut' | 'packetsIn' | 'packetsOut' | 'dropped'>
const COUNTS = ['bytesIn', 'bytesOut', 'packetsIn', 'packetsOut', 'dropped'] as const

/**
 * The overlay's metrics from its status: per-peer counters summed, and kept when a peer's
 * session goes away (a revoked member) so the totals only grow.
 */
class Meter {
  readonly #retired: PeerCounts = { bytesIn: 0, bytesOut: 0, packetsIn: 0, packetsOut: 0, dropped: 0 }
  #last = new Map<string, PeerCounts>()

  sample (s: ReturnType<OverlayService['status']>): Record<string, number> {
    const now = new Map<string, PeerCounts>()
    for (const p of s.peers) now.set(p.peer, { bytesIn: p.bytesIn, bytesOut: p.bytesOut, packetsIn: p.packetsIn, packetsOut: p.packetsOut, dropped: p.dropped })
    for (const [peer, was] of this.#last) {
      const is = now.get(peer)
      // gone, or a new session that started counting again
      if (is == null || COUNTS.some(k => is[k] < was[k])) for (const k of COUNTS) this.#retired[k] += was[k]
    }
    this.#last = now
    const sum: PeerCounts = { ...this.#retired }
    for (const c of now.values()) for (const k of COUNTS) sum[k] += c[k]
    const c = s.counters
    return {
      up: 1,
      peers: s.peers.length,
      peersDirect: s.peers.filter(p => p.path === 'direct').length,
      peersRelayed: s.peers.filter(p => p.path === 'relayed').length,
      bytesIn: sum.bytesIn,
      bytesOut: sum.bytesOut,
      packetsIn: sum.packetsIn,
      packetsOut: sum.packetsOut,
      droppedNoRoute: c.noRoute,
      droppedNotMember: c.notMember,
      droppedSpoofed: c.spoofed,
      droppedNotForUs: c.notForUs,
      droppedFirewall: c.firewallDenied,
      droppedMalformed: c.malformed,
      // the per-peer drops not counted under a reason above: send queue full, no stream to the peer
      droppedUnsent: Math.max(0, sum.dropped - c.spoofed - c.notForUs - c.firewallDenied),
      relayedFrames: c.relayed,
      relayRefused: c.relayRefused
    }
  }
}

function membersOf (registry: MemberRegistry): ConstructorParameters<typeof OverlayService>[1]['members'] {
  return {
    isMember: p => registry.isMember(p),
    tagsOf: p => registry.member(p)?.tags ?? {},
    list: () => registry.members().map(m => m.peerId),
    onChange: fn => {
      const offs = [registry.on('member:joined', fn), registry.on('member:updated', fn), registry.on('member:revoked', fn)]
      return () => { for (const o of offs) o() }
    }
  }
}

/** Addresses, routes, forwarding and NAT on the kernel's side; every change queued in order. */
class KernelSide {
  #chain: Promise<void> = Promise.resolve()
  #routes = new Set<string>()
  #rules: Array<{ cmd: 'iptables' | 'ip6tables', rule: string[] }> = []
  #forwardingWas = new Map<string, string>()

  constructor (readonly tun: string, readonly range: { v4: string, v6: string }, readonly advertised: readonly string[], readonly log: Logger) {}

  #queue (what: string, fn: () => Promise<void>): void {
    this.#chain = this.#chain.then(fn).catch(err => { this.log.error({ err, tun: this.tun }, `overlay: ${what} failed`) })
  }

  async settled (): Promise<void> { await this.#chain }

  setAddress (cidr: string, previous?: string): void {
    this.#queue(`setting address ${cidr}`, async () => {
      if (previous != null) await ip(['addr', 'del', previous, 'dev', this.tun]).catch(() => {})
      await ip(['addr', 'replace', cidr, 'dev', this.tun])
    })
  }

  setRoutes (routes: SubnetRoute[]): void {
    this.#queue('updating subnet routes', async () => {
      const want = new Set(routes.map(r => r.prefix.text).filter(p => !this.advertised.includes(p)))
      for (const p of this.#routes) {
        if (want.has(p)) continue
        await ip(['route', 'del', p, 'dev', this.tun]).catch(() => {})
        this.#routes.delete(p)
      }
      for (const p of want) {
        if (this.#routes.has(p)) continue
        await ip(['route', 'replace', p, 'dev', this.tun])
        this.#routes.add(p)
      }
      this.log.info({ routes: [...this.#routes] }, 'overlay subnet routes')
    })
  }

  /**
   * Forwarding (per family in use) plus FORWARD accepts and a MASQUERADE for each subnet this
   * agent advertises. Turning on IPv6 forwarding makes the kernel ignore router advertisements
   * on interfaces with accept_ra=1: a LAN interface configured by SLAAC needs accept_ra=2.
   */
  async enableForwarding (): Promise<void> {
    if (this.advertised.length === 0) return
    const comment = ['-m', 'comment', '--comment', `ctpf-overlay ${this.tun}`]
    for (const prefix of this.advertised) {
      const v6 = prefix.includes(':')
      const sysctl = v6 ? '/proc/sys/net/ipv6/conf/all/forwarding' : '/proc/sys/net/ipv4/ip_forward'
      if (!this.#forwardingWas.has(sysctl)) {
        const was = readFileSync(sysctl, 'utf8').trim()
        this.#forwardingWas.set(sysctl, was)
        if (was !== '1') writeFileSync(sysctl, '1\n')
      }
      const cmd = v6 ? 'ip6tables' : 'iptables'
      const rules = [
        ['-t', 'filter', 'FORWARD', '-i', this.tun, '-d', prefix, ...comment, '-j', 'ACCEPT'],
        ['-t', 'filter', 'FORWARD', '-o', this.tun, '-s', prefix, ...comment, '-j', 'ACCEPT'],
        ['-t', 'nat', 'POSTROUTING', '-s', v6 ? this.range.v6 : this.range.v4, '-d', prefix, ...comment, '-j', 'MASQUERADE']
      ]
      for (const rule of rules) {
        const [t, table, chain, ...rest] = rule as [string, string, string, ...string[]]
        try {
          await run(cmd, [t, table, chain === 'FORWARD' ? '-I' : '-A', chain, ...rest], { timeout: 10_000 })
          this.#rules.push({ cmd, rule })
        } catch (err) {
          this.log.warn({ err: (err as Error).message, prefix }, `overlay: ${cmd} rule not added; hosts behind this agent need a route back to the mesh through it`)
        }
      }
    }
    this.log.info({ subnets: this.advertised }, 'overlay: forwarding to advertised subnets on')
  }

  async cleanUp (): Promise<void> {
    await this.#chain.catch(() => {})
    for (const { cmd, rule } of this.#rules.splice(0)) {
      const [t, table, chain, ...rest] = rule as [string, string, string, ...string[]]
      await run(cmd, [t, table, '-D', chain, ...rest], { timeout: 10_000 }).catch(() => {})
    }
    for (const [sysctl, was] of this.#forwardingWas) {
      if (was !== '1') { try { writeFileSync(sysctl, `${was}\n`) } catch {} }
    }
    this.#forwardingWas.clear()
  }
}
