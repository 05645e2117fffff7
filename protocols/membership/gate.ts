/**
 * Mesh admission at the libp2p layer. `membershipGate()` is a libp2p service that wraps the
 * registrar, so that every protocol handler — ours and libp2p's own (identify, ping, kad-dht,
 * gossipsub, circuit relay) — first checks that the remote peer is a member. Only the
 * protocols listed in `open` (the join protocol) are reachable by non-members.
 * `meshConnectionGater()` keeps revoked peers out and gates relay reservations to members.
 */
import type { ConnectionGater, PeerId, StreamHandler, StreamHandlerOptions, AbortOptions } from '@libp2p/interface'

export interface Admission {
  isMember: (peerId: string) => boolean
  isRevoked: (peerId: string) => boolean
  /** Peers cut off at the connection layer for now (a test partition); revoked ones need not be listed. */
  isBlocked?: (peerId: string) => boolean
  /** Called for every refused stream, for metrics and rate-limited logs. */
  onRefused?: (peerId: string, protocol: string) => void
}

export interface MembershipGateInit {
  admission: Admission
  open: string[]
}

interface GateComponents {
  registrar: {
    handle: (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions) => Promise<void>
  }
}

export class NotAMemberError extends Error {
  readonly code = 'NOT_A_MEMBER'
  constructor (protocol: string) {
    super(`protocol ${protocol} is for mesh members only`)
    this.name = 'NotAMemberError'
  }
}

export function membershipGate (init: MembershipGateInit): (components: GateComponents) => object {
  return (components) => {
    const registrar = components.registrar
    const original = registrar.handle.bind(registrar)
    const open = new Set(init.open)
    registrar.handle = async (protocol: string, handler: StreamHandler, options?: StreamHandlerOptions & AbortOptions) => {
      if (open.has(protocol)) return await original(protocol, handler, options)
      const gated: StreamHandler = async (stream, connection) => {
        const peer = connection.remotePeer.toString()
        if (!init.admission.isMember(peer)) {
          init.admission.onRefused?.(peer, protocol)
          stream.abort(new NotAMemberError(protocol))
          return
        }
        await handler(stream, connection)
      }
      return await original(protocol, gated, options)
    }
    return { [Symbol.toStringTag]: '@ctpf/membership-gate' }
  }
}

/** A revoked peer gets one handshake per this period, to be told why on the join protocol. */
export const REVOKED_RETELL_MS = 60_000

export function meshConnectionGater (admission: Admission): ConnectionGater {
  const revoked = (peer: PeerId): boolean => admission.isRevoked(peer.toString()) || admission.isBlocked?.(peer.toString()) === true
  const told = new Map<string, number>()
  const refuseInbound = (peer: PeerId): boolean => {
    const id = peer.toString()
    if (admission.isBlocked?.(id) === true) return true
    if (!admission.isRevoked(id)) return false
    const now = Date.now()
    if (now - (told.get(id) ?? 0) < REVOKED_RETELL_MS) return true
    if (told.size > 10_000) told.clear()
    told.set(id, now)
    return false
  }
  return {
    // a revoked peer's inbound connection is let through the handshake once a minute, so
    // that the join protocol can tell it why it is refused; the membership service closes it
    denyDialPeer: revoked,
    denyInboundEncryptedConnection: refuseInbound,
    denyOutboundEncryptedConnection: revoked,
    denyInboundRelayReservation: (peer) => !admission.isMember(peer.toString()),
    denyOutboundRelayedConnection: (src, dst) => !(admission.isMember(src.toString()) && admission.isMember(dst.toString())),
    // inside a private mesh, loopback and private addresses are the normal case
    denyDialMultiaddr: () => false
  }
}
