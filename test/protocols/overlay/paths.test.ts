import { noise } from '@chainsafe/libp2p-noise'
import { circuitRelayServer, circuitRelayTransport } from '@libp2p/circuit-relay-v2'
import { identify } from '@libp2p/identify'
import { tcp as tcpTransport } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { multiaddr } from '@multiformats/multiaddr'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { afterAll, describe, expect, it } from 'vitest'
import { OverlayService } from '../../../protocols/overlay/index.js'
import { createFakeTunPair } from '../../../protocols/overlay/tun/index.js'
import type { FakeTunDevice } from '../../../protocols/overlay/tun/index.js'
import type { Libp2p } from '@libp2p/interface'
import type { Multiaddr } from '@multiformats/multiaddr'
import { FakeMembers, SharedState, newKey, signer, udp } from '../../helpers/overlay-fakes.js'
import { waitFor } from '../../helpers/agents.js'

const silent = pino({ level: 'silent' })

async function node (relay: boolean): Promise<Libp2p> {
  return await createLibp2p({
    privateKey: await newKey(),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcpTransport(), circuitRelayTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify(), ...(relay ? { relay: circuitRelayServer({ reservations: { applyDefaultLimit: false } }) } : {}) }
  }) as unknown as Libp2p
}

const listenRelayed = async (n: Libp2p): Promise<void> => {
  const tm = (n as unknown as { components: { transportManager: { listen: (a: Multiaddr[]) => Promise<void> } } }).components.transportManager
  await tm.listen([multiaddr('/p2p-circuit')])
}

describe('overlay paths (real libp2p with a circuit relay)', () => {
  // the relay here runs no overlay (an agent that speaks only /ctpf/overlay/1.0.0 would be the
  // same): a stream on a circuit-relay connection is the way
  const stops: Array<() => Promise<unknown>> = []
  afterAll(async () => { for (const s of stops.reverse()) await s().catch(() => {}) })

  it('starts relayed when the relay is the only way, and moves to a direct connection when one appears, without losing packets', async () => {
    const [r, a, b] = [await node(true), await node(false), await node(false)]
    for (const n of [r, a, b]) stops.push(async () => { await n.stop() })
    const state = new SharedState()
    const members = new FakeMembers()
    members.add(r.peerId.toString(), { relay: 'true' })
    members.add(a.peerId.toString())
    members.add(b.peerId.toString())
    // b is reachable only through r: it holds a reservation there
    await b.dial(r.getMultiaddrs()[0]!)
    await listenRelayed(b)
    await a.dial(r.getMultiaddrs()[0]!)
    const services: OverlayService[] = []
    const got: Buffer[] = []
    const tuns: FakeTunDevice[] = []
    for (const n of [a, b]) {
      const peer = n.peerId.toString()
      const [tun, kernel] = createFakeTunPair()
      tuns.push(tun)
      if (n === b) kernel.on('packets', pkts => { got.push(...pkts) })
      const s = new OverlayService({ self: peer, meshId: 'ctpf-ov-paths', range: '100.96.0.0/16' }, { libp2p: n, state: state.view(peer), members, tun, sign: signer(peer), logger: silent })
      await s.start()
      stops.push(async () => { await s.stop() })
      services.push(s)
    }
    const [sa, sb] = services as [OverlayService, OverlayService]
    const to = sb.address as string
    const from = sa.address as string
    // a has no address of b's but the relay: the session dials through the member relay
    tuns[0]!.inject([udp(from, to, 1, 1)])
    await waitFor(() => got.length === 1, { what: 'the first packet through the relay', timeoutMs: 20_000 })
    const pb = (): { path?: string, remoteAddr?: string } | undefined => sa.status().peers.find(p => p.peer === b.peerId.toString())
    expect(pb()?.path).toBe('relayed')
    expect(pb()?.remoteAddr).toContain('/p2p-circuit')

    let seq = 1
    const timer = setInterval(() => { tuns[0]!.inject([udp(from, to, 1, ++seq)]) }, 20)
    await a.dial(b.getMultiaddrs().find(m => !m.toString().includes('p2p-circuit'))!)
    await waitFor(() => pb()?.path === 'direct', { what: 'the switch to the direct connection', timeoutMs: 10_000 })
    await new Promise(resolve => setTimeout(resolve, 200))
    clearInterval(timer)
    await waitFor(() => got.length === seq, { what: `all ${seq} packets (got ${got.length})`, timeoutMs: 5000 })
    expect(pb()?.remoteAddr).not.toContain('/p2p-circuit')
    expect(sa.status().peers.find(p => p.peer === b.peerId.toString())?.dropped).toBe(0)
  }, 60_000)
})
