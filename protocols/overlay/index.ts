/**
 * The encrypted layer-3 overlay between the members of a mesh: every agent has a TUN device,
 * an IPv4 address from the mesh range claimed in replicated state (`addresses/<ip>/<peer>`,
 * the earliest claim wins), an IPv6 address derived from its peer id (the mesh's ULA /48 +
 * a 64-bit interface id), and sends packets in batches over one libp2p stream per peer
 * (`/ctpf/overlay/1.1.0`, members only): on a direct connection (encrypted by its Noise
 * session), or forwarded by a member relay (tag relay=true) between two plain streams, sealed
 * end to end by a key exchange of the two agents' own (e2e.ts), or — with relays that speak only
 * 1.0.0 — on a circuit-relay connection. Members advertise LAN subnets in `routes/<peer>`; a
 * firewall by tags (`firewall/<name>`) with connection tracking guards what enters an agent.
 *
 * @example
 * ```ts
 * import { OverlayService } from './protocols/overlay/index.js'
 * import { openTun } from './protocols/overlay/tun/index.js'
 *
 * const tun = await openTun({ name: 'ctpf0', vnetHdr: true })
 * const overlay = new OverlayService({ self, meshId, range: '100.96.0.0/16', advertise: ['192.168.10.0/24'] },
 *   { libp2p, state, members, tun, sign: data => privateKey.sign(data), logger })
 * overlay.on('address:changed', ({ address, prefix }) => addAddress(tun.name, `${address}/${prefix}`))
 * await overlay.start()
 * console.info(overlay.status().peers, await overlay.ping('100.96.12.7'))
 * await overlay.stop()
 * ```
 */
export { OverlayService } from './service.js'
export type { OverlayServiceInit, OverlayServiceComponents, OverlayServiceEvents, OverlayServiceStatus, OverlayCounters } from './service.js'
export { AddressBook, candidate, claimKey, owners, readClaims, usableCount } from './addresses.js'
export { Firewall, compileRule, firewallRuleSchema } from './firewall.js'
export type { FirewallRule, FirewallRuleInput } from './firewall.js'
export { RouteTable, isV6Prefix, readSubnetRoutes, subnetPrefix } from './routes.js'
export type { RouteEntry, SubnetRoute } from './routes.js'
export { PeerSession } from './session.js'
export type { OverlayLibp2p } from './session.js'
export { FrameDecoder, encodePackets, encodePacketFrames, encodeControl, encodeRelayed, FRAME_PACKETS, FRAME_PING, FRAME_PONG, FRAME_FORWARD, FRAME_DELIVERED } from './wire.js'
export { parsePacket, protoName } from './packet.js'
export type { PacketInfo } from './packet.js'
export * from './ip.js'
export * from './constants.js'
export * from './errors.js'
export type { OverlayMembers, OverlayState, PathKind, PeerStats } from './types.js'
export { E2E_INIT, E2E_RESP, E2E_DATA, E2eEndpoint, e2eMessageType } from './e2e.js'
export type { E2eInit } from './e2e.js'
