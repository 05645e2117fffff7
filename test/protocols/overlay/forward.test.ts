import { noise } from '@chainsafe/libp2p-noise'
import { identify } from '@libp2p/identify'
import { tcp as tcpTransport } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { FRAME_DELIVERED, FRAME_FORWARD, OVERLAY_PROTOCOL, OverlayService, encodeRelayed } from '../../../protocols/overlay/index.js'
import { createFakeTunPair } from '../../../protocols/overlay/tun/index.js'
import type { FakeTunDevice } from '../../../protocols/overlay/tun/index.js'
import type { Libp2p, PeerId } from '@libp2p/interface'
import { FakeMembers, SharedState, newKey, signer, udp } from '../../helpers/overlay-fakes.js'
import { waitFor } from '../../helpers/agents.js'

const silent = pino({ level: 'silent' })

/** Pairs of peers that may not connect directly (both directions), as two sites behind NATs. */
const apart = new Set<string>()
const pair = (x: string, y: string): string => x < y ? `${x}|${y}` : `${y}|${x}`

async function node (): Promise<Libp2p> {
  const me = { id: '' }
  const denied = (other: PeerId): boolean => apart.has(pair(me.id, other.toString()))
  const n = await createLibp2p({
    privateKey: await newKey(),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcpTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialPeer: denied, denyInboundEncryptedConnection: denied },
    services: { identify: identify() }
  }) as unknown as Libp2p
  me.id = n.peerId.toString()
  return n
}

interface Site { node: Libp2p, peer: string, service: OverlayService, tun: FakeTunDevice, received: Buffer[] }

describe('overlay frames forwarded by member relays, sealed end to end', () => {
  const members = new FakeMembers()
  const state = new SharedState()
  const sites: Site[] = []
  let a: Site, b: Site, r1: Site, r2: Site

  beforeAll(async () => {
    const nodes = [await node(), await node(), await node(), await node()]
    for (const [i, n] of nodes.entries()) members.add(n.peerId.toString(), i >= 2 ? { relay: 'true' } : {})
    for (const n of nodes) {
      const peer = n.peerId.toString()
      const [tun, kernel] = createFakeTunPair()
      const received: Buffer[] = []
      kernel.on('packets', pkts => { received.push(...pkts) })
      const service = new OverlayService({ self: peer, meshId: 'ctpf-ov-forward', range: '100.96.0.0/16', pingIntervalMs: 60_000 }, { libp2p: n, state: state.view(peer), members, tun, sign: signer(peer), logger: silent })
      await service.start()
      sites.push({ node: n, peer, service, tun, received })
    }
    [a, b, r1, r2] = sites as [Site, Site, Site, Site]
    apart.add(pair(a.peer, b.peer))
    for (const x of [a, b]) for (const r of [r1, r2]) await x.node.dial(r.node.getMultiaddrs()[0]!)
    await waitFor(() => a.service.address != null && b.service.address != null && a.service.peerFor(b.service.address) === b.peer, { what: 'addresses' })
  }, 60_000)

  afterAll(async () => {
    for (const s of sites) { await s.service.stop().catch(() => {}); await s.node.stop().catch(() => {}) }
  })

  const view = (from: Site, to: Site): { path?: string, remoteAddr?: string, dropped: number } | undefined => from.service.status().peers.find(p => p.peer === to.peer)

  it('carries packets both ways through a relay when the two cannot connect, and pings over it', async () => {
    const from = a.service.address as string
    const to = b.service.address as string
    a.tun.inject([udp(from, to, 1, 7, Buffer.from('only-a-and-b-may-read-this'))])
    await waitFor(() => b.received.length === 1, { what: 'the first packet through a relay', timeoutMs: 20_000 })
    expect(b.received[0]!.includes(Buffer.from('only-a-and-b-may-read-this'))).toBe(true)
    b.tun.inject([udp(to, from, 7, 1)])
    await waitFor(() => a.received.length === 1, { what: 'the answer', timeoutMs: 10_000 })
    const v = view(a, b)
    expect(v?.path).toBe('relayed')
    expect(v?.remoteAddr).toMatch(new RegExp(`/p2p/(${r1.peer}|${r2.peer})/ctpf-relay/p2p/${b.peer}$`))
    // no direct connection between them, and none through a circuit either
    expect(a.node.getConnections(b.node.peerId)).toHaveLength(0)
    const relay = v?.remoteAddr?.includes(r1.peer) === true ? r1 : r2
    expect(relay.service.counters.relayed).toBeGreaterThanOrEqual(2)
    expect(relay.received).toHaveLength(0)
    const { rttMs, path } = await a.service.ping(to)
    expect(path).toBe('relayed')
    expect(rttMs).toBeGreaterThan(0)
    expect(view(a, b)?.dropped).toBe(0)
  }, 60_000)

  it('a relay refuses frames for non-members; a member that is not a relay neither forwards nor delivers', async () => {
    // r2 is a relay, but the destination is not a member
    const before = r2.service.counters.relayRefused
    const toR2 = await (await a.node.dial(r2.node.peerId)).newStream(OVERLAY_PROTOCOL)
    toR2.send(encodeRelayed(FRAME_FORWARD, '12D3KooWNotAMemberNotAMemberNotAMemberNotAMember1', Buffer.from([3, 1, 2, 3])))
    await waitFor(() => r2.service.counters.relayRefused === before + 1, { what: 'the refusal at r2' })
    await toR2.close()
    // b is a member but not a relay: asked to forward it refuses, and what it "delivers" goes nowhere
    apart.delete(pair(a.peer, b.peer))
    try {
      const aToB = await (await a.node.dial(b.node.getMultiaddrs()[0]!)).newStream(OVERLAY_PROTOCOL)
      aToB.send(encodeRelayed(FRAME_FORWARD, r1.peer, Buffer.from([3, 1, 2, 3])))
      await waitFor(() => b.service.counters.relayRefused === 1, { what: 'the refusal at b' })
      const notMember = a.service.counters.notMember
      const bToA = await (await b.node.dial(a.node.getMultiaddrs()[0]!)).newStream(OVERLAY_PROTOCOL)
      bToA.send(encodeRelayed(FRAME_DELIVERED, r1.peer, Buffer.from([3, 0, 0])))
      await waitFor(() => a.service.counters.notMember === notMember + 1, { what: 'the refusal at a' })
      await aToB.close()
      await bToA.close()
    } finally {
      apart.add(pair(a.peer, b.peer))
      for (const c of a.node.getConnections(b.node.peerId)) await c.close()
    }
    expect(a.received).toHaveLength(1)
    expect(b.received).toHaveLength(1)
  }, 30_000)

  it('moves to the other relay when the one in use goes away', async () => {
    const from = a.service.address as string
    const to = b.service.address as string
    const inUse = view(a, b)?.remoteAddr?.includes(r1.peer) === true ? r1 : r2
    const other = inUse === r1 ? r2 : r1
    const n0 = b.received.length
    await inUse.service.stop()
    await inUse.node.stop()
    let seq = 0
    const timer = setInterval(() => { a.tun.inject([udp(from, to, 1, 100 + ++seq)]) }, 50)
    try {
      await waitFor(() => b.received.length > n0 + 3, { what: 'packets through the other relay', timeoutMs: 20_000 })
    } finally {
      clearInterval(timer)
    }
    expect(view(a, b)?.remoteAddr).toContain(`/p2p/${other.peer}/ctpf-relay/`)
    expect(other.service.counters.relayed).toBeGreaterThan(0)
  }, 60_000)

  it('agrees on new keys when one side restarted and lost them', async () => {
    const from = a.service.address as string
    const to = b.service.address as string
    await b.service.stop()
    const [tun, kernel] = createFakeTunPair()
    const received: Buffer[] = []
    kernel.on('packets', pkts => { received.push(...pkts) })
    const fresh = new OverlayService({ self: b.peer, meshId: 'ctpf-ov-forward', range: '100.96.0.0/16', pingIntervalMs: 60_000 }, { libp2p: b.node, state: state.view(b.peer), members, tun, sign: signer(b.peer), logger: silent })
    await fresh.start()
    b.service = fresh
    b.tun = tun
    b.received = received
    // a still seals with the old keys: the new b cannot open that, so it starts a handshake
    let seq = 0
    const timer = setInterval(() => { a.tun.inject([udp(from, to, 1, 200 + ++seq)]) }, 50)
    try {
      await waitFor(() => received.length > 2, { what: 'packets after the restart', timeoutMs: 20_000 })
    } finally {
      clearInterval(timer)
    }
    expect(view(b, a)?.path ?? view(a, b)?.path).toBe('relayed')
  }, 60_000)

  it('moves to a direct connection when one appears', async () => {
    const from = a.service.address as string
    const to = b.service.address as string
    apart.delete(pair(a.peer, b.peer))
    await a.node.dial(b.node.getMultiaddrs()[0]!)
    const timer = setInterval(() => { a.tun.inject([udp(from, to, 1, 9)]) }, 50)
    try {
      await waitFor(() => view(a, b)?.path === 'direct', { what: 'the direct path', timeoutMs: 10_000 })
    } finally {
      clearInterval(timer)
    }
    expect(view(a, b)?.remoteAddr).not.toContain('ctpf-relay')
  }, 30_000)
})
