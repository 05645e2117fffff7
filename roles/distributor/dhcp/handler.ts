/**
 * The decision half of the server: one decoded request in, at most one reply out.
 * No sockets here — `server.ts` does the I/O, metrics and logging.
 *
 * Rules (RFC 2131 4.3, PXE 2.1):
 * - REQUEST naming another server (option 54) → forget our offer, stay silent.
 * - INIT-REBOOT / RENEWING / REBINDING for an address that is not ours → NAK only when
 *   authoritative; a client we have no record of is otherwise left alone.
 * - proxy mode answers PXE/HTTP boot clients only and never assigns an address.
 */
import {
  BOOTREPLY, BROADCAST_FLAG, MessageType, ZERO_IP, hardwareAddress,
  type DhcpMessage, type DhcpMessageInit, type DhcpOptions
} from '../../../protocols/dhcp/index.js'
import type { Lease } from '../../../store/leases.js'
import { bootAnswer, bootClient, type BootArch, type BootClient } from './boot.js'
import { broadcastAddress, netmaskOf, selectSubnet, subnetContains, type DhcpConfig, type Subnet } from './config.js'
import type { LeasePool } from './leases.js'

export type Via = 'server' | 'pxe'
export interface Endpoint { address: string, port: number, broadcast?: boolean }
export interface Incoming { msg: DhcpMessage, via: Via, from: Endpoint }

export interface HostSighted {
  mac: string
  arch: BootArch
  ip?: string
  dc?: string
  uuid?: string
  hostname?: string
}

export type OutcomeKind =
  | 'offer' | 'ack' | 'nak' | 'inform' | 'proxy-offer' | 'proxy-ack'
  | 'release' | 'decline' | 'exhausted' | 'ignored'

export interface Outcome {
  kind: OutcomeKind
  /** why a request was ignored or refused, for logs */
  reason?: string
  reply?: { message: DhcpMessageInit, to: Endpoint }
  sighted?: HostSighted
  lease?: Lease
}

const ignored = (reason: string): Outcome => ({ kind: 'ignored', reason })

export class DhcpHandler {
  constructor (private readonly cfg: DhcpConfig, private readonly pool: LeasePool) {}

  async handle ({ msg, via, from }: Incoming): Promise<Outcome> {
    if (msg.op !== 1) return ignored('not a BOOTREQUEST')
    if (msg.hlen === 0) return ignored('no hardware address')
    const type = msg.options.messageType
    if (type === undefined) return ignored('BOOTP (no option 53) is not served')
    if (via === 'pxe') return this.bootServerRequest(msg, from)
    if (this.cfg.mode === 'proxy') return type === MessageType.DISCOVER ? this.proxyOffer(msg) : ignored('proxy mode answers DISCOVER only on the server port')
    const subnet = selectSubnet(this.cfg, msg.giaddr)
    if (subnet === undefined) return ignored(`giaddr ${msg.giaddr} is in no configured subnet`)
    switch (type) {
      case MessageType.DISCOVER: return this.discover(msg, subnet)
      case MessageType.REQUEST: return await this.request(msg, subnet)
      case MessageType.DECLINE: return await this.decline(msg, subnet)
      case MessageType.RELEASE: return await this.release(msg)
      case MessageType.INFORM: return this.inform(msg)
      default: return ignored(`message type ${type} is not a client message`)
    }
  }

  private isOurs (msg: DhcpMessage): boolean | undefined {
    const sid = msg.options.serverId
    return sid === undefined ? undefined : sid === this.cfg.serverAddress
  }

  private sighted (msg: DhcpMessage, boot: BootClient | undefined, extra: { ip?: string, hostname?: string }): HostSighted {
    const h: HostSighted = { mac: hardwareAddress(msg), arch: boot?.arch ?? 'unknown' }
    if (extra.ip !== undefined) h.ip = extra.ip
    if (this.cfg.dc !== undefined) h.dc = this.cfg.dc
    const uuid = boot?.uuid ?? msg.options.clientUuid
    if (uuid !== undefined) h.uuid = uuid
    const hostname = extra.hostname ?? msg.options.hostname
    if (hostname !== undefined && hostname !== '') h.hostname = hostname
    return h
  }

  private reply (msg: DhcpMessage, type: number, options: DhcpOptions = {}): DhcpMessageInit {
    const o: DhcpOptions = { messageType: type, serverId: this.cfg.serverAddress, ...options }
    // RFC 3046: a relay's agent information comes back unchanged
    if (msg.options.relayAgentInfo !== undefined) o.relayAgentInfo = msg.options.relayAgentInfo
    return { op: BOOTREPLY, htype: msg.htype, hlen: msg.hlen, xid: msg.xid, flags: msg.flags, giaddr: msg.giaddr, chaddr: msg.chaddr, options: o }
  }

  /** RFC 2131 4.1: relay first, then ciaddr, else broadcast on the client's subnet. */
  private destination (msg: DhcpMessage, subnet: Subnet, nak = false): Endpoint {
    if (msg.giaddr !== ZERO_IP) return { address: msg.giaddr, port: this.cfg.ports.server }
    // only unicast to a ciaddr on the client's own subnet: a forged ciaddr must not aim our replies elsewhere
    if (!nak && msg.ciaddr !== ZERO_IP && subnetContains(subnet, msg.ciaddr)) return { address: msg.ciaddr, port: this.cfg.ports.client }
    // no ARP entry can be made from userland for yiaddr: broadcast (allowed by RFC 2131);
    // the server sends it to 255.255.255.255 where a route allows, else to this subnet's broadcast
    return { address: broadcastAddress(subnet), port: this.cfg.ports.client, broadcast: true }
  }

  private networkOptions (s: Subnet, hostname?: string): DhcpOptions {
    const o: DhcpOptions = { subnetMask: netmaskOf(s), broadcastAddress: broadcastAddress(s) }
    if (s.router !== undefined) o.routers = [s.router]
    if (s.dnsServers.length > 0) o.dnsServers = s.dnsServers
    if (s.domain !== undefined) o.domainName = s.domain
    if (hostname !== undefined) o.hostname = hostname
    return o
  }

  private leaseOptions (s: Subnet): DhcpOptions {
    return { leaseTime: s.leaseTime, renewalTime: Math.floor(s.leaseTime / 2), rebindingTime: Math.floor(s.leaseTime * 7 / 8) }
  }

  /** Adds boot information for a network-booting client, if any is configured for it. */
  private withBoot (m: DhcpMessageInit, msg: DhcpMessage, boot: BootClient | undefined): boolean {
    if (boot === undefined) return false
    const answer = bootAnswer(boot, this.cfg, msg)
    if (answer === undefined) return false
    m.siaddr = answer.siaddr
    m.file = answer.file
    m.options = { ...m.options, ...answer.options }
    return true
  }

  private discover (msg: DhcpMessage, subnet: Subnet): Outcome {
    const mac = hardwareAddress(msg)
    const ip = this.pool.offer(subnet, mac, msg.options.requestedIp)
    if (ip === undefined) return { kind: 'exhausted', reason: 'no free address in the pool' }
    const hostname = subnet.reservationsByMac.get(mac)?.hostname
    const m = this.reply(msg, MessageType.OFFER, { ...this.networkOptions(subnet, hostname), ...this.leaseOptions(subnet) })
    m.yiaddr = ip
    const boot = bootClient(msg)
    const booting = this.withBoot(m, msg, boot)
    const out: Outcome = { kind: 'offer', reply: { message: m, to: this.destination(msg, subnet) } }
    if (booting) out.sighted = this.sighted(msg, boot, {})
    return out
  }

  private nak (msg: DhcpMessage, subnet: Subnet, reason: string): Outcome {
    const m = this.reply(msg, MessageType.NAK, { message: reason })
    if (msg.giaddr !== ZERO_IP) m.flags = (msg.flags | BROADCAST_FLAG) & 0xffff
    return { kind: 'nak', reason, reply: { message: m, to: this.destination(msg, subnet, true) } }
  }

  private async ack (msg: DhcpMessage, subnet: Subnet, ip: string): Promise<Outcome> {
    const mac = hardwareAddress(msg)
    const reservedName = subnet.reservationsByMac.get(mac)?.hostname
    const extra: { clientId?: string, hostname?: string } = {}
    if (msg.options.clientId !== undefined) extra.clientId = Buffer.from(msg.options.clientId).toString('hex')
    const hostname = reservedName ?? msg.options.hostname
    if (hostname !== undefined && hostname !== '') extra.hostname = hostname
    const lease = await this.pool.commit(subnet, mac, ip, extra)
    const m = this.reply(msg, MessageType.ACK, { ...this.networkOptions(subnet, reservedName), ...this.leaseOptions(subnet) })
    m.yiaddr = ip
    m.ciaddr = msg.ciaddr
    const boot = bootClient(msg)
    this.withBoot(m, msg, boot)
    return { kind: 'ack', lease, reply: { message: m, to: this.destination(msg, subnet) }, sighted: this.sighted(msg, boot, { ip, ...extra }) }
  }

  private async request (msg: DhcpMessage, subnet: Subnet): Promise<Outcome> {
    const mac = hardwareAddress(msg)
    const ours = this.isOurs(msg)
    if (ours === false) {
      this.pool.dropOffer(mac)
      return ignored(`REQUEST names server ${msg.options.serverId ?? ''}`)
    }
    if (ours === true) {
      // SELECTING: the client picked our offer
      const ip = msg.options.requestedIp ?? (msg.ciaddr !== ZERO_IP ? msg.ciaddr : undefined)
      if (ip === undefined) return ignored('SELECTING REQUEST without a requested address')
      if (!subnetContains(subnet, ip)) return this.nak(msg, subnet, 'address not on this network')
      return this.pool.acceptsSelection(subnet, mac, ip) ? await this.ack(msg, subnet, ip) : this.nak(msg, subnet, 'address not available')
    }
    // INIT-REBOOT (option 50, no ciaddr) or RENEWING/REBINDING (ciaddr)
    const ip = msg.ciaddr !== ZERO_IP ? msg.ciaddr : msg.options.requestedIp
    if (ip === undefined) return ignored('REQUEST without server id, ciaddr or requested address')
    const authoritative = this.cfg.authoritative
    if (!subnetContains(subnet, ip)) {
      return authoritative ? this.nak(msg, subnet, 'wrong network') : ignored(`${ip} is not on our network and we are not authoritative`)
    }
    const claim = this.pool.claim(subnet, mac, ip)
    if (claim === 'ours') return await this.ack(msg, subnet, ip)
    if (authoritative) return this.nak(msg, subnet, claim === 'conflict' ? 'address belongs to another client' : 'no record of this lease')
    return ignored(`${claim} claim on ${ip} and we are not authoritative`)
  }

  private async decline (msg: DhcpMessage, subnet: Subnet): Promise<Outcome> {
    if (this.isOurs(msg) !== true) return ignored('DECLINE for another server')
    const ip = msg.options.requestedIp
    if (ip === undefined || !subnetContains(subnet, ip)) return ignored('DECLINE without an address of ours')
    const done = await this.pool.decline(hardwareAddress(msg), ip)
    return done ? { kind: 'decline', reason: `${ip} is in use by someone else` } : ignored(`DECLINE for ${ip} we did not give`)
  }

  private async release (msg: DhcpMessage): Promise<Outcome> {
    if (this.isOurs(msg) === false) return ignored('RELEASE for another server')
    const lease = await this.pool.release(hardwareAddress(msg), msg.ciaddr)
    return lease === undefined ? ignored(`RELEASE of ${msg.ciaddr} we did not lease`) : { kind: 'release', lease }
  }

  private inform (msg: DhcpMessage): Outcome {
    if (msg.ciaddr === ZERO_IP) return ignored('INFORM without ciaddr')
    const subnet = msg.giaddr !== ZERO_IP ? selectSubnet(this.cfg, msg.giaddr) : this.cfg.subnets.find(s => subnetContains(s, msg.ciaddr))
    if (subnet === undefined) return ignored(`INFORM from ${msg.ciaddr} outside our subnets`)
    const m = this.reply(msg, MessageType.ACK, this.networkOptions(subnet))
    m.ciaddr = msg.ciaddr
    const boot = bootClient(msg)
    const booting = this.withBoot(m, msg, boot)
    const out: Outcome = { kind: 'inform', reply: { message: m, to: this.destination(msg, subnet) } }
    if (booting) out.sighted = this.sighted(msg, boot, { ip: msg.ciaddr })
    return out
  }

  /** proxyDHCP on the server port: boot information in an OFFER, no address. */
  private proxyOffer (msg: DhcpMessage): Outcome {
    const boot = bootClient(msg)
    if (boot === undefined || (!boot.pxe && !boot.http)) return ignored('not a PXE or HTTP boot client')
    const subnet = selectSubnet(this.cfg, msg.giaddr)
    if (subnet === undefined) return ignored(`giaddr ${msg.giaddr} is in no configured subnet`)
    const m = this.reply(msg, MessageType.OFFER)
    if (!this.withBoot(m, msg, boot)) return ignored(`no boot file for ${boot.arch}`)
    return { kind: 'proxy-offer', reply: { message: m, to: this.destination(msg, subnet) }, sighted: this.sighted(msg, boot, {}) }
  }

  /** PXE boot-server request on port 4011: answered straight back to the sender. */
  private bootServerRequest (msg: DhcpMessage, from: Endpoint): Outcome {
    const type = msg.options.messageType
    if (type !== MessageType.REQUEST && type !== MessageType.INFORM) return ignored('only REQUEST or INFORM on the PXE port')
    const boot = bootClient(msg)
    if (boot === undefined) return ignored('not a boot client')
    const m = this.reply(msg, MessageType.ACK)
    m.ciaddr = msg.ciaddr
    if (!this.withBoot(m, msg, boot)) return ignored(`no boot file for ${boot.arch}`)
    const ip = msg.ciaddr !== ZERO_IP ? msg.ciaddr : undefined
    return { kind: 'proxy-ack', reply: { message: m, to: from }, sighted: this.sighted(msg, boot, ip === undefined ? {} : { ip }) }
  }
}
