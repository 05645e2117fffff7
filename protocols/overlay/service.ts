/**
 * The overlay service: reads packets from the TUN device, routes each to the member that owns
 * its destination, sends them in batches over that member's stream, and writes what members
 * send into the TUN after checking membership, source address and the firewall. Addresses,
 * subnet routes and firewall rules come from replicated state and apply as they change.
 * Talking to the kernel (addresses on the device, routes) is the caller's: it listens to
 * `address:changed` and `routes:changed`.
 */
import { EventEmitter } from 'node:events'
import { peerIdFromString } from '@libp2p/peer-id'
import { isIPv4, isIPv6 } from 'node:net'
import { addVnetHdr, toPlainPackets, VNET_HDR_LEN } from './tun/index.js'
import { AddressBook } from './addresses.js'
import { FIREWALL_PREFIX, OVERLAY_PROTOCOL, OVERLAY_PROTOCOL_1_0, PATH_CHECK_MS, PING_INTERVAL_MS, RELAY_CHECK_MS, ROUTES_PREFIX, ADDRESSES_PREFIX } from './constants.js'
import { NoRouteError, NotMemberError, OverlayConfigError, SelfAddressError } from './errors.js'
import { Firewall } from './firewall.js'
import { inPrefix, inPrefix6, intToIpv4, ipv4ToInt, ipv6BytesOfPeer, ipv6ToBytes, formatIpv6, meshUla, parseV4Prefix } from './ip.js'
import { parsePacket } from './packet.js'
import { FRAME_DELIVERED, encodeRelayed } from './wire.js'
import { RouteTable, isV6Prefix, readSubnetRoutes, subnetPrefix } from './routes.js'
import { PeerSession, isRelayed } from './session.js'
import type { V4Prefix, V6Prefix } from './ip.js'
import type { RouteEntry, SubnetRoute } from './routes.js'
import type { OverlayLibp2p } from './session.js'
import type { OverlayMembers, OverlayState, PeerStats } from './types.js'
import type { TunDevice } from './tun/index.js'
import type { Connection, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'

export interface OverlayServiceInit {
  self: string
  meshId: string
  /** The mesh's IPv4 range, e.g. `100.96.0.0/16` (the same on every agent). */
  range: string
  /** LAN prefixes, v4 or v6, this agent advertises (hosts behind it are reached through it). */
  advertise?: readonly string[]
  pingIntervalMs?: number
}

export interface OverlayServiceComponents {
  libp2p: OverlayLibp2p
  state: OverlayState
  members: OverlayMembers
  tun: TunDevice
  /** Signs with this agent's libp2p key (end-to-end handshakes through member relays). */
  sign: (data: Uint8Array) => Promise<Uint8Array>
  logger?: Logger
}

export interface OverlayServiceEvents {
  /** This agent's v4 address was claimed or changed (a lost conflict). */
  'address:changed': [{ address: string, prefix: number, previous?: string }]
  /** The subnet routes of other members changed (the kernel needs routes for them). */
  'routes:changed': [SubnetRoute[]]
}

export interface OverlayCounters {
  noRoute: number
  notMember: number
  spoofed: number
  notForUs: number
  firewallDenied: number
  malformed: number
  /** Frames this agent (a member relay) passed on between two members. */
  relayed: number
  /** Frames it refused to pass on: not a relay, not members, or no direct stream to the destination. */
  relayRefused: number
}

export interface OverlayServiceStatus {
  address?: string
  address6: string
  range: string
  range6: string
  advertised: string[]
  peers: PeerStats[]
  counters: OverlayCounters
  firewall: { rules: number, errors: Array<{ name: string, error: string }>, allowed: number, denied: number, replies: number }
}

export class OverlayService extends EventEmitter<OverlayServiceEvents> {
  readonly counters: OverlayCounters = { noRoute: 0, notMember: 0, spoofed: 0, notForUs: 0, firewallDenied: 0, malformed: 0, relayed: 0, relayRefused: 0 }
  readonly firewall = new Firewall()
  readonly range: V4Prefix
  readonly address6: string
  readonly #init: OverlayServiceInit
  readonly #c: OverlayServiceComponents
  readonly #book: AddressBook
  readonly #routes = new RouteTable()
  readonly #sessions = new Map<string, PeerSession>()
  readonly #advertised: Array<V4Prefix | V6Prefix>
  readonly #advertised4: V4Prefix[]
  readonly #advertised6: V6Prefix[]
  readonly #ula: V6Prefix
  readonly #self6Hex: string
  #address: number | undefined
  #congested = new Set<PeerSession>()
  #unwatch: Array<() => void> = []
  #timers: NodeJS.Timeout[] = []
  #started = false
  #rebuildQueued = false
  #lastSubnets = ''
  readonly #onTunPackets = (pkts: Buffer[]): void => { this.#fromTun(pkts) }
  readonly #onConnection = (evt: CustomEvent<Connection>): void => { this.#sessions.get(evt.detail.remotePeer.toString())?.checkPath() }

  constructor (init: OverlayServiceInit, components: OverlayServiceComponents) {
    super()
    this.#init = init
    this.#c = components
    this.range = parseV4Prefix(init.range)
    if (this.range.prefix > 30 || this.range.prefix < 8) throw new OverlayConfigError(`the mesh range ${init.range} must be between /8 and /30`)
    this.#ula = meshUla(init.meshId)
    this.#advertised = (init.advertise ?? []).map(text => {
      const p = subnetPrefix(text, this.range, this.#ula, why => { throw new OverlayConfigError(`advertised route ${text}: ${why}`) })
      if (p === undefined) throw new OverlayConfigError(`advertised route ${text} is not usable`)
      return p
    })
    this.#advertised4 = this.#advertised.filter((p): p is V4Prefix => !isV6Prefix(p))
    this.#advertised6 = this.#advertised.filter(isV6Prefix)
    const own6 = ipv6BytesOfPeer(init.meshId, init.self)
    this.#self6Hex = own6.toString('hex')
    this.address6 = formatIpv6(own6)
    this.#book = new AddressBook({ self: init.self, range: this.range, state: components.state, isMember: p => components.members.isMember(p) })
  }

  /** This agent's v4 address (undefined until claimed). */
  get address (): string | undefined { return this.#address === undefined ? undefined : intToIpv4(this.#address) }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { libp2p, state, members, tun } = this.#c
    await libp2p.handle([OVERLAY_PROTOCOL, OVERLAY_PROTOCOL_1_0], (stream, conn) => { this.#onStream(stream, conn) }, { runOnLimitedConnection: true, maxInboundStreams: 4, maxOutboundStreams: 4 })
    const rebuild = (): void => { this.#queueRebuild() }
    this.#unwatch.push(
      state.store.watch(ADDRESSES_PREFIX, rebuild),
      state.store.watch(ROUTES_PREFIX, rebuild),
      state.store.watch(FIREWALL_PREFIX, () => { this.#loadFirewall() }),
      members.onChange(() => { this.#onMembersChanged() })
    )
    libp2p.addEventListener('connection:open', this.#onConnection)
    this.#loadFirewall()
    await this.#advertise()
    await this.#claim()
    this.#rebuild()
    tun.on('packets', this.#onTunPackets)
    const every = (ms: number, fn: () => void): void => { const t = setInterval(fn, ms); t.unref(); this.#timers.push(t) }
    every(this.#init.pingIntervalMs ?? PING_INTERVAL_MS, () => {
      for (const s of this.#sessions.values()) if (s.path !== undefined) s.ping().catch(() => {})
    })
    every(PATH_CHECK_MS, () => { for (const s of this.#sessions.values()) { s.checkPath(); s.rekey() } })
    every(30_000, () => { this.firewall.sweep(Date.now()) })
    every(RELAY_CHECK_MS, () => { void this.#keepRelays() })
    void this.#keepRelays()
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const t of this.#timers) clearInterval(t)
    this.#timers = []
    for (const u of this.#unwatch) u()
    this.#unwatch = []
    this.#c.tun.off('packets', this.#onTunPackets)
    this.#c.libp2p.removeEventListener('connection:open', this.#onConnection)
    await this.#c.libp2p.unhandle([OVERLAY_PROTOCOL, OVERLAY_PROTOCOL_1_0]).catch(() => {})
    for (const s of this.#sessions.values()) s.close()
    this.#sessions.clear()
    this.#congested.clear()
  }

  async #advertise (): Promise<void> {
    const key = `${ROUTES_PREFIX}${this.#init.self}`
    const want = this.#advertised.map(p => p.text)
    const have = this.#c.state.store.list<{ prefixes?: string[] }>(key).find(e => e.key === key)?.value.prefixes
    if (want.length === 0) {
      if (have != null) await this.#c.state.delete(key)
      return
    }
    if (JSON.stringify(have) !== JSON.stringify(want)) await this.#c.state.write(key, { prefixes: want })
  }

  async #claim (): Promise<void> {
    const ip = await this.#book.ensure()
    if (ip === this.#address) return
    const previous = this.address
    this.#address = ip
    this.#c.logger?.info({ address: intToIpv4(ip), previous }, 'overlay address claimed')
    this.emit('address:changed', { address: intToIpv4(ip), prefix: this.range.prefix, previous })
  }

  #queueRebuild (): void {
    if (this.#rebuildQueued || !this.#started) return
    this.#rebuildQueued = true
    setImmediate(() => {
      this.#rebuildQueued = false
      if (!this.#started) return
      this.#claim().catch(err => { this.#c.logger?.error({ err }, 'overlay address claim failed') }).finally(() => { this.#rebuild() })
    })
  }

  #rebuild (): void {
    const { members, state } = this.#c
    const v6 = new Map<string, { peer: string, text: string }>()
    for (const peer of members.list()) {
      const b = ipv6BytesOfPeer(this.#init.meshId, peer)
      const text = formatIpv6(b)
      v6.set(b.toString('hex'), { peer, text })
    }
    const subnets = readSubnetRoutes(state.store.list<{ prefixes?: unknown }>(ROUTES_PREFIX), p => members.isMember(p), this.range, this.#ula)
    this.#routes.set(this.#book.owners(), v6, subnets)
    const others = subnets.filter(s => s.peer !== this.#init.self)
    const text = JSON.stringify(others.map(s => [s.prefix.text, s.peer]))
    if (text !== this.#lastSubnets) {
      this.#lastSubnets = text
      this.emit('routes:changed', others)
    }
  }

  /**
   * Keeps a connection to every member relay, so a relayed path has somewhere to go when the
   * relay in use dies (libp2p's relay transport reserves a slot on relays it is connected to).
   */
  async #keepRelays (): Promise<void> {
    const { libp2p } = this.#c
    await Promise.all(this.#relays().map(async relay => {
      const pid = peerIdFromString(relay)
      if (libp2p.getConnections(pid).some(c => c.status === 'open' && c.limits == null)) return
      await libp2p.dial(pid, { signal: AbortSignal.timeout(5_000) }).catch(err => {
        this.#c.logger?.debug({ relay, err: (err as Error).message }, 'member relay not reachable')
      })
    }))
  }

  #relays (): string[] {
    return this.#c.members.list().filter(p => p !== this.#init.self && this.#c.members.tagsOf(p).relay === 'true').sort()
  }

  #loadFirewall (): void {
    const records = this.#c.state.store.list(FIREWALL_PREFIX).map(e => ({ name: e.key.slice(FIREWALL_PREFIX.length), value: e.value }))
    records.sort((a, b) => a.name < b.name ? -1 : a.name > b.name ? 1 : 0)
    this.firewall.setRules(records)
    this.#c.logger?.info({ rules: this.firewall.rules().length, errors: this.firewall.errors() }, 'overlay firewall rules loaded')
  }

  #onMembersChanged (): void {
    this.firewall.invalidate()
    for (const [peer, s] of this.#sessions) {
      if (this.#c.members.isMember(peer)) continue
      s.close(new NotMemberError(peer))
      this.#sessions.delete(peer)
      this.#congested.delete(s)
    }
    this.#queueRebuild()
  }

  #session (peer: string): PeerSession {
    let s = this.#sessions.get(peer)
    if (s == null) {
      s = new PeerSession(peer, {
        libp2p: this.#c.libp2p,
        self: this.#init.self,
        sign: this.#c.sign,
        logger: this.#c.logger,
        onPackets: (session, pkts) => { this.#fromPeer(session, pkts) },
        onCongestion: (session, congested) => { this.#onCongestion(session, congested) },
        relays: () => this.#relays(),
        sessionOf: p => this.#session(p),
        onForward: (from, dst, payload) => { this.#forward(from, dst, payload) },
        onDelivered: (relay, src, payload) => { this.#delivered(relay, src, payload) }
      })
      this.#sessions.set(peer, s)
    }
    return s
  }

  #onStream (stream: Stream, conn: Connection): void {
    const peer = conn.remotePeer.toString()
    if (!this.#started || !this.#c.members.isMember(peer)) {
      this.counters.notMember++
      stream.abort(new NotMemberError(peer))
      return
    }
    this.#session(peer).attach(stream, conn)
  }

  /**
   * As a member relay: passes an end-to-end payload from one member to another over this
   * agent's direct stream to the destination (never onward through another relay).
   */
  #forward (from: PeerSession, dst: string, payload: Buffer): void {
    const { members, libp2p } = this.#c
    const ok = this.#started && members.tagsOf(this.#init.self).relay === 'true' && members.isMember(from.peer) &&
      dst !== from.peer && dst !== this.#init.self && members.isMember(dst) &&
      libp2p.getConnections(peerIdFromString(dst)).some(c => c.status === 'open' && !isRelayed(c))
    if (!ok || !this.#session(dst).sendFrame(encodeRelayed(FRAME_DELIVERED, from.peer, payload))) {
      this.counters.relayRefused++
      return
    }
    this.counters.relayed++
  }

  /** A member relay passed on an end-to-end payload from `src`. */
  #delivered (relay: PeerSession, src: string, payload: Buffer): void {
    const { members } = this.#c
    if (!this.#started || src === this.#init.self || !members.isMember(src) || members.tagsOf(relay.peer).relay !== 'true') {
      this.counters.notMember++
      return
    }
    void this.#session(src).onForwarded(relay.peer, payload)
  }

  #onCongestion (session: PeerSession, congested: boolean): void {
    if (congested) this.#congested.add(session)
    else this.#congested.delete(session)
    if (this.#congested.size > 0) this.#c.tun.pause()
    else this.#c.tun.resume()
  }

  /** Packets the kernel routed into the TUN: to their owners, in one batch per peer. */
  #fromTun (pkts: Buffer[]): void {
    const vnet = this.#c.tun.vnetHdr
    const now = Date.now()
    const byPeer = new Map<string, Buffer[]>()
    for (const pkt of pkts) {
      const ip = vnet ? pkt.subarray(VNET_HDR_LEN) : pkt
      const info = parsePacket(ip)
      if (info == null) { this.counters.malformed++; continue }
      const peer = this.#routes.lookup(info.dst)
      if (peer === undefined || peer === this.#init.self) { this.counters.noRoute++; continue }
      if (!this.#c.members.isMember(peer)) { this.counters.notMember++; continue }
      this.firewall.egress(info, now)
      let list = byPeer.get(peer)
      if (list == null) { list = []; byPeer.set(peer, list) }
      list.push(vnet ? pkt : addVnetHdr(ip))
    }
    for (const [peer, list] of byPeer) this.#session(peer).send(list)
  }

  #isForUs (dst: number | string): boolean {
    if (typeof dst === 'string') {
      if (dst === this.#self6Hex) return true
      if (this.#advertised6.length === 0) return false
      const bytes = Buffer.from(dst, 'hex')
      return this.#advertised6.some(p => inPrefix6(bytes, p))
    }
    if (dst === this.#address) return true
    return this.#advertised4.some(p => inPrefix(dst, p))
  }

  /** Packets a member sent: membership, source, destination and firewall checked, then into the TUN. */
  #fromPeer (session: PeerSession, pkts: Buffer[]): void {
    const { members, tun } = this.#c
    const peer = session.peer
    if (!this.#started) return
    if (!members.isMember(peer)) {
      this.counters.notMember += pkts.length
      session.stats.dropped += pkts.length
      this.#onMembersChanged()
      return
    }
    const fromTags = members.tagsOf(peer)
    const toTags = members.tagsOf(this.#init.self)
    const now = Date.now()
    const out: Buffer[] = []
    for (const pkt of pkts) {
      if (pkt.length <= VNET_HDR_LEN) { this.counters.malformed++; continue }
      const info = parsePacket(pkt.subarray(VNET_HDR_LEN))
      if (info == null) { this.counters.malformed++; continue }
      if (!this.#routes.sourceAllowed(peer, info.src)) { this.counters.spoofed++; session.stats.dropped++; continue }
      if (!this.#isForUs(info.dst)) { this.counters.notForUs++; session.stats.dropped++; continue }
      if (!this.firewall.ingress(info, peer, fromTags, toTags, now)) { this.counters.firewallDenied++; session.stats.dropped++; continue }
      if (tun.vnetHdr) out.push(pkt)
      else for (const p of toPlainPackets(pkt)) out.push(p)
    }
    if (out.length > 0 && !tun.closed) tun.write(out)
  }

  /** The member that owns or routes an overlay address (v4 or v6 text). */
  peerFor (address: string): string {
    let peer: string | undefined
    if (isIPv4(address)) peer = this.#routes.lookup(ipv4ToInt(address))
    else if (isIPv6(address)) peer = this.#routes.lookup(ipv6ToBytes(address).toString('hex'))
    else throw new OverlayConfigError(`not an IP address: ${JSON.stringify(address)}`)
    if (peer === this.#init.self) throw new SelfAddressError(address)
    if (peer === undefined) throw new NoRouteError(address)
    return peer
  }

  /** Round-trip time to the member owning `address`, over its overlay stream. */
  async ping (address: string, opts: { timeoutMs?: number } = {}): Promise<{ peer: string, rttMs: number, path?: string }> {
    const peer = this.peerFor(address)
    const s = this.#session(peer)
    const rtt = await s.ping(opts.timeoutMs)
    return { peer, rttMs: Math.round(rtt * 1000) / 1000, path: s.path }
  }

  routes (): RouteEntry[] { return this.#routes.entries() }

  status (): OverlayServiceStatus {
    const peers: PeerStats[] = []
    const owners = this.#book.owners()
    const byPeer = new Map<string, number>()
    for (const [ip, p] of owners) if (!byPeer.has(p)) byPeer.set(p, ip)
    const known = new Set([...this.#c.members.list(), ...this.#sessions.keys()])
    known.delete(this.#init.self)
    for (const peer of [...known].sort()) {
      const s = this.#sessions.get(peer)
      const ip = byPeer.get(peer)
      peers.push({
        peer,
        address: ip === undefined ? undefined : intToIpv4(ip),
        address6: formatIpv6(ipv6BytesOfPeer(this.#init.meshId, peer)),
        path: s?.path,
        remoteAddr: s?.remoteAddr,
        bytesIn: s?.stats.bytesIn ?? 0,
        bytesOut: s?.stats.bytesOut ?? 0,
        packetsIn: s?.stats.packetsIn ?? 0,
        packetsOut: s?.stats.packetsOut ?? 0,
        dropped: s?.stats.dropped ?? 0,
        latencyMs: s?.stats.latencyMs
      })
    }
    const fw = this.firewall
    return {
      address: this.address,
      address6: this.address6,
      range: this.range.text,
      range6: this.#ula.text,
      advertised: this.#advertised.map(p => p.text),
      peers,
      counters: { ...this.counters },
      firewall: { rules: fw.rules().length, errors: fw.errors(), allowed: fw.stats.allowed, denied: fw.stats.denied, replies: fw.stats.replies }
    }
  }
}
