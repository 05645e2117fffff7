/**
 * Two network namespaces, each with a TUN opened by its own forwarder process (as two agents
 * would), the forwarders joined by a unix socket. Real ping and iperf3 cross the pair —
 * plain, with IFF_VNET_HDR on both ends (TCP super-packets cross whole), and vnet → plain
 * (the sender cuts super-packets with toPlainPackets).
 */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { DEFAULT_ADDON_PATH, isKernelNoise } from '../../../../protocols/overlay/tun/index.js'
import { ip, NsProcess, sh, uniqueTag } from '../../../helpers/netns.js'
import { describePrivileged } from '../../../helpers/privileged.js'
import { ensureAddonBuilt } from './addon-build.js'
import { bundleScript } from './bundle.js'

const here = new URL('.', import.meta.url).pathname
let dir = ''
let forwarder = ''
let probe = ''
const tag = uniqueTag()
const nsA = `ctpftun-${tag}-a`
const nsB = `ctpftun-${tag}-b`
const net = `10.${200 + Math.floor(Math.random() * 40)}.${Math.floor(Math.random() * 250) + 1}`
const addrA = `${net}.1`
const addrB = `${net}.2`
const net6 = `fd63:7470:${Math.floor(Math.random() * 0xffff).toString(16)}:`
const addr6A = `${net6}:1`
const addr6B = `${net6}:2`

interface Pair { a: NsProcess, b: NsProcess, stop: () => Promise<{ a: Record<string, number>, b: Record<string, number> }> }

async function startPair (vnetA: boolean, vnetB: boolean, mtu = 1400): Promise<Pair> {
  const path = join(dir, `fwd-${Math.random().toString(36).slice(2)}.sock`)
  const common = { addonPath: DEFAULT_ADDON_PATH }
  const a = NsProcess.spawn(['ip', 'netns', 'exec', nsA, process.execPath, forwarder,
    JSON.stringify({ ...common, listen: path, peerVnet: vnetB, tun: { name: 'ctpftun0', vnetHdr: vnetA, mtu, addresses: [`${addrA}/24`, `${addr6A}/64`] } })])
  await a.waitForOutput(/listening/)
  const b = NsProcess.spawn(['ip', 'netns', 'exec', nsB, process.execPath, forwarder,
    JSON.stringify({ ...common, connect: path, peerVnet: vnetA, tun: { name: 'ctpftun0', vnetHdr: vnetB, mtu, addresses: [`${addrB}/24`, `${addr6B}/64`] } })])
  await a.waitForOutput(/ready ctpftun0/)
  await b.waitForOutput(/ready ctpftun0/)
  const stop = async (): Promise<{ a: Record<string, number>, b: Record<string, number> }> => {
    await Promise.all([a.stop(), b.stop()])
    const stats = (p: NsProcess): Record<string, number> => JSON.parse(/stats (\{.*\})/.exec(p.text)?.[1] ?? '{}')
    return { a: stats(a), b: stats(b) }
  }
  return { a, b, stop }
}

type Stats = Record<string, number>

/** Runs `fn` with a forwarder pair up; stops it whatever happens and returns both ends' stats. */
async function withPair (vnetA: boolean, vnetB: boolean, fn: () => Promise<void>): Promise<{ a: Stats, b: Stats }> {
  const pair = await startPair(vnetA, vnetB)
  let stats: { a: Stats, b: Stats } | undefined
  try {
    await fn()
  } finally {
    stats = await pair.stop()
  }
  return stats
}

async function ping (to = addrB): Promise<string> {
  const out = await sh('ip', ['netns', 'exec', nsA, 'busybox', 'ping', '-c', '3', '-i', '0.2', '-W', '2', to], 20_000)
  console.log(`ping ${to} over TUN pair: ${/round-trip (.*)/.exec(out)?.[1] ?? 'no replies'}`)
  return out
}

async function iperf (label: string, to = addrB): Promise<number> {
  const server = NsProcess.spawn(['ip', 'netns', 'exec', nsB, 'iperf3', '-s', '-1', '--forceflush', '-B', to])
  try {
    await server.waitForOutput(/Server listening/)
    const out = await sh('ip', ['netns', 'exec', nsA, 'iperf3', '-c', to, '-t', '3', '-J'], 40_000)
    const bps = (JSON.parse(out) as { end: { sum_received: { bits_per_second: number } } }).end.sum_received.bits_per_second
    console.log(`iperf3 over TUN pair (${label}): ${(bps / 1e6).toFixed(0)} Mbit/s`)
    return bps / 1e6
  } finally {
    await server.stop()
  }
}

describePrivileged('TUN devices in two namespaces', ['ip', 'iperf3', 'busybox'], () => {
  beforeAll(async () => {
    await ensureAddonBuilt()
    dir = await mkdtemp(join(tmpdir(), 'ctpf-tun-'))
    forwarder = await bundleScript(join(here, 'forwarder.ts'), dir)
    probe = await bundleScript(join(here, 'probe.ts'), dir)
    for (const ns of [nsA, nsB]) {
      await ip('netns', 'add', ns)
      await ip('-n', ns, 'link', 'set', 'lo', 'up')
    }
  }, 120_000)

  afterAll(async () => {
    for (const ns of [nsA, nsB]) await ip('netns', 'del', ns).catch(() => {})
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('ping and a TCP flow cross a plain TUN pair', async () => {
    const { a, b } = await withPair(false, false, async () => {
      expect(await ping()).toMatch(/3 packets received/)
      expect(await iperf('plain')).toBeGreaterThan(20)
    })
    expect(a.rxPackets).toBeGreaterThan(1000)
    expect(a.rxBytes / a.rxPackets).toBeLessThanOrEqual(1400)
    expect(b.txDropped).toBe(0)
  })

  it('with IFF_VNET_HDR on both ends, TCP super-packets cross whole', async () => {
    const { a, b } = await withPair(true, true, async () => {
      expect(await ping()).toMatch(/3 packets received/)
      expect(await ping(addr6B)).toMatch(/3 packets received/)
      expect(await iperf('vnet → vnet')).toBeGreaterThan(20)
    })
    // the iperf3 sender in A hands its TUN segments far larger than the 1400-byte MTU
    expect(a.rxBytes / a.rxPackets).toBeGreaterThan(4000)
    expect(b.txDropped).toBe(0)
  })

  it('a vnet sender cuts IPv4 and IPv6 super-packets for a plain receiver (toPlainPackets)', async () => {
    const { a, b } = await withPair(true, false, async () => {
      expect(await ping()).toMatch(/3 packets received/)
      expect(await iperf('vnet → plain, segmented in JS')).toBeGreaterThan(20)
      expect(await iperf('vnet → plain, segmented in JS, IPv6', addr6B)).toBeGreaterThan(20)
    })
    expect(a.rxBytes / a.rxPackets).toBeGreaterThan(4000)
    expect(b.txDropped).toBe(0)
  })

  it('a fresh TUN reads only the kernel\'s own IPv6 chatter, all of it recognised as noise', async () => {
    const out = await sh('ip', ['netns', 'exec', nsA, process.execPath, probe,
      JSON.stringify({ addonPath: DEFAULT_ADDON_PATH, collectMs: 2500, tun: { name: 'ctpftunn', filterKernelNoise: false, addresses: ['fd63:7470:1::1/64'] } })], 20_000)
    const res = JSON.parse(out) as { ok: boolean, packets: string[] }
    expect(res.ok).toBe(true)
    expect(res.packets.length).toBeGreaterThan(0)
    for (const hex of res.packets) expect(isKernelNoise(Buffer.from(hex, 'hex')), hex).toBe(true)
    const filtered = JSON.parse(await sh('ip', ['netns', 'exec', nsA, process.execPath, probe,
      JSON.stringify({ addonPath: DEFAULT_ADDON_PATH, collectMs: 2500, tun: { name: 'ctpftunn', addresses: ['fd63:7470:1::1/64'] } })], 20_000)) as { packets: string[], stats: { rxNoise: number } }
    expect(filtered.packets).toEqual([])
    expect(filtered.stats.rxNoise).toBeGreaterThan(0)
  })
})
