/**
 * Builds the agent's libp2p node: tcp + noise + yamux, identify, ping, a private kad-dht,
 * gossipsub, circuit relay (client everywhere, server on `relay=true` agents without the
 * default 128 KiB / 2 min limits but for members only), DCUtR and AutoNAT. The membership
 * gate is the first service, so every protocol handler registered after it is gated.
 */
import { createHash } from 'node:crypto'
import { noise } from '@chainsafe/libp2p-noise'
import { autoNAT } from '@libp2p/autonat'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { dcutr } from '@libp2p/dcutr'
import { gossipsub } from '@libp2p/gossipsub'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { multiaddr } from '@multiformats/multiaddr'
import type { Multiaddr } from '@multiformats/multiaddr'
import { JOIN_PROTOCOL, KAD_PROTOCOL, meshConnectionGater, membershipGate } from '../protocols/membership/index.js'
import type { Admission } from '../protocols/membership/index.js'
import type { GossipSub } from '@libp2p/gossipsub'
import type { KadDHT } from '@libp2p/kad-dht'
import type { Libp2p, PrivateKey } from '@libp2p/interface'

export interface NodeInit {
  privateKey: PrivateKey
  listen: string[]
  announce: string[]
  relayServer: boolean
  admission: Admission
}

export interface NodeServices extends Record<string, unknown> {
  gate: object
  identify: unknown
  ping: unknown
  dht: KadDHT
  pubsub: GossipSub
  dcutr: unknown
  autonat: unknown
  relay?: unknown
}

export type AgentNode = Libp2p<NodeServices>

const isRelaySearch = (addr: string): boolean => addr === '/p2p-circuit'

/**
 * Starts listening for relayed connections (`/p2p-circuit` among the listen addresses) once
 * the node runs. Given to libp2p at start, the relay search holds start() until a relay is
 * found — which, before an agent has joined its mesh, is never.
 */
export function listenThroughRelays (node: AgentNode, listen: readonly string[]): void {
  if (!listen.some(isRelaySearch)) return
  const tm = (node as unknown as { components: { transportManager: { listen: (addrs: Multiaddr[]) => Promise<void> } } }).components.transportManager
  void tm.listen([multiaddr('/p2p-circuit')]).catch(() => {})
}

export async function createNode (init: NodeInit): Promise<AgentNode> {
  const services: Record<string, (components: any) => unknown> = {
    gate: membershipGate({ admission: init.admission, open: [JOIN_PROTOCOL] }),
    identify: identify(),
    ping: ping(),
    dht: kadDHT({ protocol: KAD_PROTOCOL, peerInfoMapper: passthroughMapper, clientMode: false }),
    // duplicates are dropped on this id before their signature is checked (measured: ~16% of
    // an agent's busy CPU went to verifying copies); hashing the data keeps a forged copy with
    // a known (from, seqno) from shadowing the real message
    pubsub: gossipsub({ allowPublishToZeroTopicPeers: true, emitSelf: false, fastMsgIdFn: msg => createHash('sha1').update(msg.from ?? new Uint8Array()).update(msg.seqno ?? new Uint8Array()).update(msg.data ?? new Uint8Array()).digest('base64') }),
    dcutr: dcutr(),
    autonat: autoNAT()
  }
  if (init.relayServer) {
    // reservations are gated to members by the connection gater, so members get no limits
    services.relay = circuitRelayServer({ reservations: { applyDefaultLimit: false, maxReservations: 1024 } })
  }
  return await createLibp2p({
    privateKey: init.privateKey,
    start: false,
    addresses: { listen: init.listen.filter(a => !isRelaySearch(a)), announce: init.announce },
    transports: [tcp(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: meshConnectionGater(init.admission),
    services
  }) as unknown as AgentNode
}
