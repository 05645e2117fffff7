import { noise } from '@chainsafe/libp2p-noise'
import { identify } from '@libp2p/identify'
import { tcp as tcpTransport } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { OVERLAY_PROTOCOL, OverlayService, ipv6OfPeer, parsePacket } from '../../../protocols/overlay/index.js'
import { createFakeTunPair } from '../../../protocols/overlay/tun/index.js'
import type { FakeTunDevice } from '../../../protocols/overlay/tun/index.js'
import type { Libp2p } from '@libp2p/interface'
import { FakeMembers, SharedState, icmpEcho, newKey, signer, tcp, udp, udp6 } from '../../helpers/overlay-fakes.js'
import { waitFor } from '../../helpers/agents.js'

const silent = pino({ level: 'silent' })
const RANGE = '100.96.0.0/16'

interface TestAgent { node: Libp2p, peer: string, service: OverlayService, tun: FakeTunDevice, kernel: FakeTunDevice, received: Buffer[] }

async function node (): Promise<Libp2p> {
  return await createLibp2p({
    privateKey: await newKey(),
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcpTransport()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: { identify: identify() }
  })
}

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}) })

async function mesh (n: number, opts: { tags?: Array<Record<string, string>>, advertise?: Array<string[] | undefined> } = {}): Promise<{ agents: TestAgent[], state: SharedState, members: FakeMembers }> {
  const state = new SharedState()
  const members = new FakeMembers()
  const nodes = await Promise.all(Array.from({ length: n }, async () => await node()))
  for (const [i, nd] of nodes.entries()) { members.add(nd.peerId.toString(), opts.tags?.[i] ?? {}); cleanups.push(async () => { await nd.stop() }) }
  const agents: TestAgent[] = []
  for (const [i, nd] of nodes.entries()) {
    const peer = nd.peerId.toString()
    const [tun, kernel] = createFakeTunPair({ names: [`ov${i}`, `k${i}`] })
    const received: Buffer[] = []
    kernel.on('packets', pkts => { received.push(...pkts) })
    const service = new OverlayService({ self: peer, meshId: 'ctpf-ov-mesh', range: RANGE, advertise: opts.advertise?.[i], pingIntervalMs: 200 }, { libp2p: nd, state: state.view(peer), members, tun, sign: signer(peer), logger: silent })
    await service.start()
    cleanups.push(async () => { await service.stop() })
    agents.push({ node: nd, peer, service, tun, kernel, received })
  }
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) await nodes[i]!.dial(nodes[j]!.getMultiaddrs()[0]!)
  return { agents, state, members }
}

/** A packet "the kernel routed into" agent a's TUN. */
const send = (a: TestAgent, pkts: Buffer[]): void => { a.tun.inject(pkts) }
const addr = (a: TestAgent): string => a.service.address as string

describe('overlay service (two in-process libp2p nodes, fake TUNs)', () => {
  it('delivers packets between members by their claimed addresses, counts them and measures latency', async () => {
    const { agents: [a, b] } = await mesh(2)
    expect(addr(a)).toMatch(/^100\.96\./)
    expect(addr(a)).not.toBe(addr(b))
    send(a, [icmpEcho(addr(a), addr(b), 1, 1), icmpEcho(addr(a), addr(b), 1, 2)])
    await waitFor(() => b.received.length === 2, { what: 'two echo requests at b' })
    expect(parsePacket(b.received[0]!)).toMatchObject({ icmpType: 8, dport: 1 })
    send(b, [icmpEcho(addr(b), addr(a), 1, 1, 0)])
    await waitFor(() => a.received.length === 1, { what: 'the echo reply at a' })
    const st = a.service.status()
    const pb = st.peers.find(p => p.peer === b.peer)
    expect(pb).toMatchObject({ address: addr(b), path: 'direct', packetsOut: 2, packetsIn: 1, address6: ipv6OfPeer('ctpf-ov-mesh', b.peer) })
    expect(pb!.bytesOut).toBe(2 * 35)
    const { rttMs, path } = await a.service.ping(addr(b))
    expect(rttMs).toBeGreaterThan(0)
    expect(path).toBe('direct')
    await waitFor(() => a.service.status().peers[0]!.latencyMs !== undefined, { what: 'periodic ping' })
    await expect(a.service.ping(addr(a))).rejects.toMatchObject({ code: 'ERR_OVERLAY_SELF' })
    await expect(a.service.ping('100.96.255.254')).rejects.toMatchObject({ code: 'ERR_OVERLAY_NO_ROUTE' })
  })

  it('routes by the derived IPv6 addresses too', async () => {
    const { agents: [a, b] } = await mesh(2)
    expect((await a.service.ping(b.service.address6)).peer).toBe(b.peer)
    const v6 = Buffer.alloc(48)
    v6[0] = 0x60; v6.writeUInt16BE(8, 4); v6[6] = 17; v6[7] = 64
    const toBytes = (s: string): Buffer => Buffer.from(new URL(`http://[${s}]/`).hostname.slice(1, -1).split(':').length === 8 ? s.split(':').map(g => g.padStart(4, '0')).join('') : expand(s), 'hex')
    toBytes(a.service.address6).copy(v6, 8)
    toBytes(b.service.address6).copy(v6, 24)
    send(a, [v6])
    await waitFor(() => b.received.length === 1, { what: 'an IPv6 packet at b' })
  })

  it('drops packets with a source the sending member does not own', async () => {
    const { agents: [a, b] } = await mesh(2)
    send(a, [udp('100.96.77.77', addr(b), 1, 2), udp(addr(a), addr(b), 1, 2)])
    await waitFor(() => b.received.length === 1, { what: 'the genuine packet' })
    await waitFor(() => b.service.counters.spoofed === 1, { what: 'the spoofed one counted' })
  })

  it('applies firewall rules from state at once and lets replies through', async () => {
    const { agents: [a, b], state } = await mesh(2, { tags: [{ dc: 'a' }, { dc: 'b' }] })
    send(a, [tcp(addr(a), addr(b), 40000, 22)])
    await waitFor(() => b.received.length === 1, { what: 'ssh syn before the rule' })
    state.put(a.peer, 'firewall/no-ssh', { from: 'dc=a', to: 'dc=b', proto: 'tcp', ports: [22, 22], action: 'deny' })
    send(a, [tcp(addr(a), addr(b), 40001, 22), tcp(addr(a), addr(b), 40001, 80)])
    await waitFor(() => b.received.length === 2, { what: 'port 80 still open' })
    expect(parsePacket(b.received[1]!)?.dport).toBe(80)
    await waitFor(() => b.service.counters.firewallDenied === 1, { what: 'port 22 denied' })
    // b connects out to a:22 — a has no rule; the replies pass b's rule as a tracked flow
    send(b, [tcp(addr(b), addr(a), 50000, 22)])
    await waitFor(() => a.received.length === 1, { what: 'b to a' })
    send(a, [tcp(addr(a), addr(b), 22, 50000, 0x12)])
    await waitFor(() => b.received.length === 3, { what: 'the reply through the tracked flow' })
    state.put(a.peer, 'firewall/no-ssh', null)
    send(a, [tcp(addr(a), addr(b), 40002, 22)])
    await waitFor(() => b.received.length === 4, { what: 'ssh open again' })
  })

  it('a revoked member is cut off at once in both directions', async () => {
    const { agents: [a, b], members } = await mesh(2)
    send(a, [udp(addr(a), addr(b), 1, 2)])
    await waitFor(() => b.received.length === 1, { what: 'first packet' })
    const aAddr = addr(a)
    members.revoke(a.peer)
    send(a, [udp(aAddr, addr(b), 1, 2)])
    send(b, [udp(addr(b), aAddr, 1, 2)])
    await new Promise(resolve => setTimeout(resolve, 300))
    expect(b.received).toHaveLength(1)
    expect(a.received).toHaveLength(0)
    expect(b.service.status().peers.find(p => p.peer === a.peer)).toBeUndefined()
  })

  it('refuses overlay streams from peers that are not members', async () => {
    const { agents: [a], members } = await mesh(1)
    const stranger = await node()
    cleanups.push(async () => { await stranger.stop() })
    const conn = await stranger.dial(a.node.getMultiaddrs()[0]!)
    const s = await conn.newStream(OVERLAY_PROTOCOL)
    const ended = (async () => { for await (const _ of s) { /* nothing */ } })()
    await ended.catch(() => {})
    expect(s.status).not.toBe('open')
    expect(a.service.counters.notMember).toBe(1)
    expect(members.isMember(stranger.peerId.toString())).toBe(false)
  })

  it('routes an advertised subnet to the member that advertises it', async () => {
    const { agents: [a, b] } = await mesh(2, { advertise: [undefined, ['192.168.50.0/24']] })
    const changes: string[][] = []
    a.service.on('routes:changed', r => changes.push(r.map(x => x.prefix.text)))
    await waitFor(() => a.service.routes().some(r => r.kind === 'subnet' && r.peer === b.peer), { what: 'the subnet route at a' })
    send(a, [udp(addr(a), '192.168.50.9', 1, 53)])
    await waitFor(() => b.received.length === 1, { what: 'the packet for the LAN host at b' })
    // the LAN host's answer comes back with its own source address
    send(b, [udp('192.168.50.9', addr(a), 53, 1)])
    await waitFor(() => a.received.length === 1, { what: 'the answer at a' })
    // a packet for a LAN that nobody advertises goes nowhere
    send(a, [udp(addr(a), '192.168.51.9', 1, 53)])
    await waitFor(() => a.service.counters.noRoute === 1, { what: 'no route counted' })
  })

  it('routes an advertised IPv6 subnet, and refuses v6 sources outside what the sender owns or routes', async () => {
    const { agents: [a, b] } = await mesh(2, { advertise: [undefined, ['192.168.50.0/24', 'fd00:50::/64']] })
    await waitFor(() => a.service.routes().some(r => r.kind === 'subnet' && r.destination === 'fd00:50::/64' && r.peer === b.peer), { what: 'the v6 subnet route at a' })
    expect(b.service.status().advertised).toEqual(['192.168.50.0/24', 'fd00:50::/64'])
    expect(a.service.peerFor('fd00:50::9')).toBe(b.peer)
    const a6 = a.service.address6
    send(a, [udp6(a6, 'fd00:50::9', 1, 53)])
    await waitFor(() => b.received.length === 1, { what: 'the v6 packet for the LAN host at b' })
    expect(parsePacket(b.received[0]!)).toMatchObject({ version: 6, dport: 53 })
    // the LAN host's answer comes back with its own source address
    send(b, [udp6('fd00:50::9', a6, 53, 1)])
    await waitFor(() => a.received.length === 1, { what: 'the v6 answer at a' })
    // b may not speak for a v6 LAN it does not advertise
    send(b, [udp6('fd00:51::9', a6, 53, 1)])
    await waitFor(() => a.service.counters.spoofed === 1, { what: 'the spoofed v6 source counted' })
    // nor send into a v6 LAN that a does not route
    send(b, [udp6(b.service.address6, 'fd00:52::1', 1, 53)])
    await waitFor(() => b.service.counters.noRoute === 1, { what: 'no v6 route counted' })
    expect(a.received).toHaveLength(1)
  })

  it('refuses to advertise prefixes that are too wide or overlap the mesh', () => {
    const fake = { libp2p: {} as never, state: new SharedState().view('p'), members: new FakeMembers(), tun: createFakeTunPair()[0], sign: async () => new Uint8Array() }
    expect(() => new OverlayService({ self: 'p', meshId: 'm', range: RANGE, advertise: ['fd00::/8'] }, fake)).toThrow(/wider than a \/16/)
    expect(() => new OverlayService({ self: 'p', meshId: 'm', range: RANGE, advertise: ['100.96.1.0/24'] }, fake)).toThrow(/overlaps the mesh range/)
    expect(() => new OverlayService({ self: 'p', meshId: 'm', range: RANGE, advertise: ['fd00:1::1/64'] }, fake)).toThrow(/host bits/)
  })

  it('moves to another address when an earlier claim for its address shows up', async () => {
    const { agents: [a, b], state } = await mesh(2)
    const changes: string[] = []
    b.service.on('address:changed', e => changes.push(e.address))
    const taken = addr(b)
    state.put(a.peer, `addresses/${taken}/${a.peer}`, { peer: a.peer }, 1)
    await waitFor(() => changes.length === 1, { what: 'b to move' })
    expect(addr(b)).not.toBe(taken)
    send(a, [udp(addr(a), addr(b), 1, 2)])
    await waitFor(() => b.received.length === 1, { what: 'a packet at the new address' })
  })
})

function expand (s: string): string {
  const [head = '', tail = ''] = s.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  return [...h, ...Array(8 - h.length - t.length).fill('0'), ...t].map(g => g.padStart(4, '0')).join('')
}
