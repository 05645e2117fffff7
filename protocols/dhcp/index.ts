/**
 * DHCP wire codec: BOOTP header, typed options, PXE vendor sub-options.
 *
 * @example
 * ```ts
 * import { decode, encode, hardwareAddress, MessageType, BOOTREPLY } from '../../protocols/dhcp/index.js'
 *
 * const req = decode(datagram)                     // throws a DhcpCodecError on malformed input
 * if (req.options.messageType === MessageType.DISCOVER) {
 *   const reply = encode({
 *     op: BOOTREPLY, xid: req.xid, chaddr: req.chaddr, yiaddr: '10.0.0.50',
 *     options: { messageType: MessageType.OFFER, serverId: '10.0.0.1', leaseTime: 3600 }
 *   })
 *   console.log(hardwareAddress(req), reply.length)
 * }
 * ```
 */
export { decode, encode, hardwareAddress, BOOTREQUEST, BOOTREPLY, BROADCAST_FLAG, MAX_MESSAGE_BYTES } from './codec.js'
export type { DhcpMessage, DhcpMessageInit } from './codec.js'
export { Opt, MessageType, ClientArch, OPTION_CODECS, encodePxeVendorOptions, decodePxeVendorOptions, parseSubOptions } from './options.js'
export type { DhcpOptions, MessageTypeName, ClientNdi, RelayAgentInfo, PxeVendorOptions } from './options.js'
export { isIpv4, ipToInt, intToIp, ipToBytes, bytesToIp, ZERO_IP } from './ip.js'
export * from './errors.js'
