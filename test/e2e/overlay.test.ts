/**
 * The overlay end to end: agents from the bundle (CTPF_CLI) as processes in network namespaces,
 * real TUN devices, the kernel's own ping, TCP and iperf3 across the overlay.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describePrivileged } from '../helpers/privileged.js'
import { CLI, waitFor } from '../helpers/agents.js'
import { METRIC_TABLE } from '../../agent/control/metrics.js'
import { OverlayLab, TRANSFER_SCRIPT, execIn } from '../helpers/overlay-netns.js'
import type { LabAgent } from '../helpers/overlay-netns.js'

const RANGE = '100.96.0.0/16'

interface NetStatus { enabled: boolean, reason?: string, tun?: string, address?: string, address6?: string, name?: string, dns?: { domain: string, listening: string[], errors: unknown[] }, peers: Array<{ peer: string, name?: string, address?: string, address6: string, path?: string, remoteAddr?: string, bytesIn: number, bytesOut: number, latencyMs?: number }> }

/** `dig` in a namespace: the answer section's data and the status (NOERROR, NXDOMAIN, …). */
async function dig (ns: string, server: string, name: string, type: 'A' | 'AAAA', tcp = false): Promise<{ status: string, answers: string[], text: string }> {
  const r = await execIn(ns, ['dig', `@${server}`, name, type, '+time=2', '+tries=2', '+noall', '+comments', '+answer', ...(tcp ? ['+tcp'] : [])], 20_000)
  const status = /status: (\w+)/.exec(r.stdout)?.[1] ?? `dig exited ${String(r.code)}`
  const answers = r.stdout.split('\n').filter(l => l !== '' && !l.startsWith(';')).map(l => l.trim().split(/\s+/).at(-1) as string)
  return { status, answers, text: r.stdout + r.stderr }
}

/** GET /metrics of an agent, from inside its namespace (the token is read from its file, not passed as an argument). */
async function scrapeMetrics (a: LabAgent): Promise<Map<string, number>> {
  const script = `const fs = require('node:fs'); const d = process.argv[1];
fetch(fs.readFileSync(d + '/control.url', 'utf8').trim() + '/metrics', { headers: { authorization: 'Bearer ' + fs.readFileSync(d + '/control.token', 'utf8').trim() } })
  .then(r => r.text()).then(t => process.stdout.write(t), e => { console.error(e); process.exit(1) })`
  const r = await execIn(a.ns, [process.execPath, '-e', script, a.dir])
  if (r.code !== 0) throw new Error(`metrics: ${r.stderr}`)
  const out = new Map<string, number>()
  // every overlay key of the agent's metrics has its entry in the mapping table
  const untyped = r.stdout.split('\n').filter(l => /^# TYPE ctpf_overlay\S* untyped/.test(l))
  if (untyped.length > 0) throw new Error(`overlay metrics missing from METRIC_TABLE: ${untyped.join(', ')}`)
  for (const line of r.stdout.split('\n')) {
    const m = /^([a-z_]+)(?:\{[^}]*\})? (\S+)$/.exec(line)
    if (m != null) out.set(m[1] as string, Number(m[2]))
  }
  return out
}

async function overlayStatus (a: LabAgent): Promise<NetStatus> { return await a.cli<NetStatus>(['net', 'status']) }

async function peerAddress (from: LabAgent, to: LabAgent): Promise<string> {
  return await waitFor(async () => (await overlayStatus(from)).peers.find(p => p.peer === to.peerId)?.address, { what: `${from.ns} to learn ${to.ns}'s address`, timeoutMs: 30_000, intervalMs: 500 })
}

async function busyboxPing (ns: string, address: string, count = 3): Promise<{ ok: boolean, avgMs?: number, text: string }> {
  const r = await execIn(ns, ['busybox', 'ping', '-c', String(count), '-W', '2', address], 20_000)
  const m = /min\/avg\/max = [\d.]+\/([\d.]+)\//.exec(r.stdout)
  return { ok: r.code === 0, avgMs: m != null ? Number(m[1]) : undefined, text: r.stdout + r.stderr }
}

async function iperf (lab: OverlayLab, server: string, client: string, address: string, seconds = 4): Promise<number> {
  const srv = lab.spawn(server, ['iperf3', '-s', '-1', '--forceflush', '-B', address, '-p', '5201'])
  await srv.waitForOutput(/Server listening/, 10_000)
  const r = await execIn(client, ['iperf3', '-c', address, '-p', '5201', '-t', String(seconds), '-J'], (seconds + 20) * 1000)
  await srv.stop()
  if (r.code !== 0) throw new Error(`iperf3 failed: ${r.stdout.slice(-2000)} ${r.stderr}`)
  return (JSON.parse(r.stdout).end.sum_received.bits_per_second as number) / 1e6
}

describePrivileged('overlay between agents in network namespaces', ['ip', 'busybox', 'iperf3', 'iptables'], () => {
  let lab: OverlayLab
  let a: LabAgent
  let b: LabAgent
  let addrA: string
  let addrB: string
  let script: string

  beforeAll(async () => {
    lab = await OverlayLab.create()
    const nsA = await lab.addNs('a')
    const nsB = await lab.addNs('b')
    await lab.link(nsA, '10.201.0.1', nsB, '10.201.0.2')
    a = await lab.startAgent(nsA, { listen: '10.201.0.1', tags: ['dc=a', 'name=a'], overlay: { range: RANGE, tunName: 'ctpfov0' } })
    const { token } = await a.cli<{ token: string }>(['invite', 'create', '--tag', 'dc=b', '--tag', 'name=web-1'])
    b = await lab.startAgent(nsB, { listen: '10.201.0.2', joinToken: token, overlay: { range: RANGE, tunName: 'ctpfov0' } })
    addrB = await peerAddress(a, b)
    addrA = await peerAddress(b, a)
    const dir = lab.tempDir()
    script = join(dir, 'transfer.mjs')
    writeFileSync(script, TRANSFER_SCRIPT)
  }, 180_000)

  afterAll(async () => { await lab?.destroy() }, 60_000)

  it('each agent has a TUN with its claimed v4 address and derived v6 address', async () => {
    const sa = await overlayStatus(a)
    expect(sa).toMatchObject({ enabled: true, tun: 'ctpfov0', address: addrA })
    expect(addrA).not.toBe(addrB)
    const link = await execIn(a.ns, ['ip', '-o', 'addr', 'show', 'dev', 'ctpfov0'])
    expect(link.stdout).toContain(`${addrA}/16`)
    expect(link.stdout).toContain(`${sa.address6 as string}/48`)
  })

  it('the kernel\'s ping crosses the overlay in both directions, v4 and v6', async () => {
    expect((await busyboxPing(a.ns, addrB)).ok).toBe(true)
    expect((await busyboxPing(b.ns, addrA)).ok).toBe(true)
    const v6 = (await overlayStatus(b)).address6 as string
    const r = await execIn(a.ns, ['busybox', 'ping', '-6', '-c', '2', '-W', '2', v6], 20_000)
    expect(r.code, r.stdout + r.stderr).toBe(0)
  })

  it('a TCP transfer over the overlay arrives whole (sha256)', async () => {
    const srv = lab.spawn(b.ns, [process.execPath, script, 'serve', addrB, '5001'])
    await srv.waitForOutput(/listening/)
    const r = await execIn(a.ns, [process.execPath, script, 'send', addrB, '5001', '64', '7'], 120_000)
    expect(r.code, r.stderr).toBe(0)
    const sent = JSON.parse(r.stdout)
    expect(sent.bytes).toBe(64 << 20)
    expect(sent.reply).toEqual({ bytes: sent.bytes, sha256: sent.sha256 })
    console.info(`overlay TCP transfer: 64 MiB in ${sent.ms} ms (${((64 * 8 * 1.048576) / (sent.ms / 1000)).toFixed(0)} Mbit/s)`)
  })

  it('net status shows the peer with its path, bytes and latency; net routes and net ping answer', async () => {
    expect((await busyboxPing(a.ns, addrB, 1)).ok).toBe(true)
    const st = await waitFor(async () => {
      const s = await overlayStatus(a)
      const p = s.peers.find(x => x.peer === b.peerId)
      return p?.latencyMs !== undefined ? p : undefined
    }, { what: 'latency of b at a', timeoutMs: 20_000, intervalMs: 500 })
    expect(st).toMatchObject({ address: addrB, path: 'direct' })
    expect(st.bytesOut).toBeGreaterThan(0)
    const routes = await a.cli<{ routes: Array<{ destination: string, peer: string, kind: string }> }>(['net', 'routes'])
    expect(routes.routes).toContainEqual({ destination: `${addrB}/32`, peer: b.peerId, kind: 'address' })
    const ping = await a.cli<{ rttMs: number, peer: string, path: string }>(['net', 'ping', addrB])
    console.info(`overlay-level ping (libp2p stream, no TUN): ${ping.rttMs} ms`)
    expect(ping).toMatchObject({ peer: b.peerId, path: 'direct' })
    expect(ping.rttMs).toBeGreaterThan(0)
    const human = await execIn(a.ns, [process.execPath, CLI, 'net', 'status', '--data-dir', a.dir])
    expect(human.stdout).toMatch(new RegExp(`^address\\s+${addrA.replace(/\./g, '\\.')}`, 'm'))
    expect(human.stdout).toMatch(new RegExp(`${addrB.replace(/\./g, '\\.')}\\s+direct\\s`))
    const self = await a.cliRaw(['net', 'ping', addrA])
    expect(self.code).toBe(1)
    expect(self.stderr).toContain('ERR_OVERLAY_SELF')
  })

  it('overlay names: <name>.<dc>.ctpf.internal resolve (A and AAAA, UDP and TCP) at every agent\'s overlay addresses; unknown names are NXDOMAIN', async () => {
    const sa = await overlayStatus(a)
    const sb = await overlayStatus(b)
    expect(sa.name).toBe('a.a.ctpf.internal')
    expect(sb.name).toBe('web-1.b.ctpf.internal')
    expect(sa.dns?.listening).toEqual([`${addrA}:53`, `[${sa.address6 as string}]:53`])
    await waitFor(async () => (await overlayStatus(a)).peers.find(p => p.peer === b.peerId)?.name === 'web-1.b.ctpf.internal', { what: 'b\'s name at a', timeoutMs: 10_000, intervalMs: 200 })
    // from B's namespace, over the overlay, to A's name server
    expect(await dig(b.ns, addrA, 'web-1.b.ctpf.internal', 'A')).toMatchObject({ status: 'NOERROR', answers: [addrB] })
    expect(await dig(b.ns, addrA, 'a.a.ctpf.internal', 'A')).toMatchObject({ status: 'NOERROR', answers: [addrA] })
    expect(await dig(b.ns, addrA, 'A.A.CTPF.INTERNAL', 'AAAA')).toMatchObject({ status: 'NOERROR', answers: [sa.address6] })
    expect(await dig(b.ns, addrA, 'web-1.b.ctpf.internal', 'AAAA', true)).toMatchObject({ status: 'NOERROR', answers: [sb.address6] })
    expect(await dig(b.ns, sa.address6 as string, 'web-1.b.ctpf.internal', 'A')).toMatchObject({ status: 'NOERROR', answers: [addrB] })
    // and A asks B
    expect(await dig(a.ns, addrB, 'a.a.ctpf.internal', 'A')).toMatchObject({ status: 'NOERROR', answers: [addrA] })
    const unknown = await dig(b.ns, addrA, 'nobody.b.ctpf.internal', 'A')
    expect(unknown.status, unknown.text).toBe('NXDOMAIN')
    expect((await dig(b.ns, addrA, 'web-1.a.ctpf.internal', 'A')).status).toBe('NXDOMAIN')
    // only the mesh domain is answered: no forwarding through an agent
    expect((await dig(b.ns, addrA, 'example.com', 'A')).status).toBe('REFUSED')
    const human = await execIn(a.ns, [process.execPath, CLI, 'net', 'status', '--data-dir', a.dir])
    expect(human.stdout).toMatch(/^name\s+a\.a\.ctpf\.internal$/m)
    expect(human.stdout).toMatch(new RegExp(`web-1\\.b\\.ctpf\\.internal\\s+${addrB.replace(/\./g, '\\.')}\\s+direct`))
  }, 60_000)

  it('iperf3 over the overlay, against the underlay in the same run', async () => {
    const under = await iperf(lab, b.ns, a.ns, '10.201.0.2')
    const over = await iperf(lab, b.ns, a.ns, addrB)
    const pa = await busyboxPing(a.ns, '10.201.0.2', 10)
    const po = await busyboxPing(a.ns, addrB, 10)
    console.info(`iperf3 one flow: underlay ${under.toFixed(0)} Mbit/s, overlay ${over.toFixed(0)} Mbit/s (${(100 * over / under).toFixed(1)}%); ping avg underlay ${String(pa.avgMs)} ms, overlay ${String(po.avgMs)} ms`)
    expect(over).toBeGreaterThan(50)
  }, 120_000)

  it('a firewall rule blocks a port within 5 s and removing it opens it again', async () => {
    const transfer = async (port: number): Promise<number | null> => {
      const srv = lab.spawn(b.ns, [process.execPath, script, 'serve', addrB, String(port)])
      await srv.waitForOutput(/listening/)
      const r = await execIn(a.ns, [process.execPath, script, 'send', addrB, String(port), '1', '3'], 30_000)
      await srv.stop()
      return r.code
    }
    expect(await transfer(5002)).toBe(0)
    await a.cli(['net', 'firewall', 'set', 'no-5002', '--from', 'dc=a', '--to', 'dc=b', '--proto', 'tcp', '--ports', '5002', '--action', 'deny'])
    const t0 = Date.now()
    await waitFor(async () => (await b.cli<{ rules: unknown[] }>(['net', 'firewall', 'ls'])).rules.length === 1, { what: 'the rule at b', timeoutMs: 5000, intervalMs: 200 })
    console.info(`firewall rule reached b in ${Date.now() - t0} ms`)
    expect(await transfer(5002)).toBe(3)
    // other ports and the other direction are untouched
    expect(await transfer(5003)).toBe(0)
    expect((await busyboxPing(a.ns, addrB, 1)).ok).toBe(true)
    await a.cli(['net', 'firewall', 'rm', 'no-5002'])
    await waitFor(async () => (await b.cli<{ rules: unknown[] }>(['net', 'firewall', 'ls'])).rules.length === 0, { what: 'the rule gone at b', timeoutMs: 5000, intervalMs: 200 })
    expect(await transfer(5002)).toBe(0)
    const denied = await b.cli<{ firewall: { denied: number } }>(['net', 'status'])
    expect(denied.firewall.denied).toBeGreaterThan(0)
  }, 120_000)

  it('GET /metrics has the overlay\'s counters: bytes and packets, peers by path, drops by reason, name queries', async () => {
    const ma = await scrapeMetrics(a)
    const mb = await scrapeMetrics(b)
    for (const [name] of Object.values(METRIC_TABLE).filter(([n]) => n.startsWith('ctpf_overlay_'))) expect(ma.get(name), name).toBeTypeOf('number')
    expect(ma.get('ctpf_overlay_up')).toBe(1)
    expect(ma.get('ctpf_overlay_peers')).toBe(1)
    expect(ma.get('ctpf_overlay_peers_direct')).toBe(1)
    expect(ma.get('ctpf_overlay_peers_relayed')).toBe(0)
    // 64 MiB and two iperf3 runs went from A to B
    expect(ma.get('ctpf_overlay_sent_bytes_total')).toBeGreaterThan(64 << 20)
    expect(mb.get('ctpf_overlay_received_bytes_total')).toBeGreaterThan(64 << 20)
    expect(ma.get('ctpf_overlay_sent_packets_total')).toBeGreaterThan(1000)
    expect(mb.get('ctpf_overlay_received_packets_total')).toBeGreaterThan(1000)
    // the firewall rule of the test before dropped packets at B, the receiving side
    expect(mb.get('ctpf_overlay_dropped_firewall_total')).toBeGreaterThan(0)
    for (const reason of ['no_route', 'not_member', 'spoofed', 'not_for_us', 'malformed', 'unsent']) expect(ma.get(`ctpf_overlay_dropped_${reason}_total`)).toBeTypeOf('number')
    // the name queries of the names test: at A, answers, an NXDOMAIN and a REFUSED
    expect(ma.get('ctpf_overlay_dns_queries_total')).toBeGreaterThanOrEqual(8)
    expect(ma.get('ctpf_overlay_dns_answers_total')).toBeGreaterThanOrEqual(6)
    expect(ma.get('ctpf_overlay_dns_responses_nxdomain_total')).toBeGreaterThanOrEqual(2)
    expect(ma.get('ctpf_overlay_dns_responses_refused_total')).toBeGreaterThanOrEqual(1)
    // a packet to an address nobody owns is counted as dropped for want of a route
    const before = ma.get('ctpf_overlay_dropped_no_route_total') as number
    await busyboxPing(a.ns, '100.96.255.254', 1)
    expect((await scrapeMetrics(a)).get('ctpf_overlay_dropped_no_route_total')).toBeGreaterThan(before)
  }, 60_000)

  it('without CAP_NET_ADMIN an agent runs and says the overlay is off and why', async () => {
    const nsC = await lab.addNs('c')
    const c = await lab.startAgent(nsC, { listen: '127.0.0.1', wrap: ['setpriv', '--bounding-set', '-net_admin'], overlay: { range: RANGE, tunName: 'ctpfov0' } })
    const st = await overlayStatus(c)
    expect(st.enabled).toBe(false)
    expect(st.reason).toMatch(/CAP_NET_ADMIN/)
    expect((await c.cli<{ peerId: string }>(['status'])).peerId).toBe(c.peerId)
    const ping = await c.cliRaw(['net', 'ping', addrB])
    expect(ping.stderr).toContain('OVERLAY_OFF')
    const human = await execIn(nsC, [process.execPath, CLI, 'net', 'status', '--data-dir', c.dir])
    expect(human.stdout).toMatch(/^overlay\s+off \(/)
    await c.stop()
  }, 60_000)

  it('a revoked member loses overlay access within 5 s', async () => {
    expect((await busyboxPing(b.ns, addrA, 1)).ok).toBe(true)
    await a.cli(['member', 'revoke', b.peerId])
    const t0 = Date.now()
    await waitFor(async () => !(await busyboxPing(b.ns, addrA, 1)).ok, { what: 'b cut off', timeoutMs: 5000, intervalMs: 100 })
    console.info(`revoked member cut off after ${Date.now() - t0} ms`)
    expect((await busyboxPing(a.ns, addrB, 2)).ok).toBe(false)
  }, 60_000)
})

/**
 * Three datacenters: `r` on the public side with a relay agent (relay=true), `a` and `b` each
 * behind its own MASQUERADE router; a host `h` with no agent on a dual-stack LAN behind agent A
 * (fd00:77::2 beside 10.77.0.2; A advertises both prefixes).
 *
 *   h 10.77.0.2 ── a 10.77.0.1 / 192.168.1.2 ── ra (NAT) ──┐
 *                                                         inet ── r 198.51.102.2 (relay agent)
 *                     b 192.168.2.2 ── rb (NAT) ──────────┘
 */
describePrivileged('overlay across two MASQUERADE NATs through a member relay', ['ip', 'busybox', 'iptables'], () => {
  let lab: OverlayLab
  let r: LabAgent
  let r2: LabAgent
  let a: LabAgent
  let b: LabAgent
  let addrA: string
  let addrB: string
  let script: string
  const ns: Record<string, string> = {}

  const sysctl = async (n: string, kv: string): Promise<void> => { await execIn(n, ['sysctl', '-qw', kv]) }
  const route = async (n: string, ...args: string[]): Promise<void> => {
    const res = await execIn(n, ['ip', 'route', 'add', ...args])
    if (res.code !== 0) throw new Error(`ip route add ${args.join(' ')} in ${n}: ${res.stderr}`)
  }

  beforeAll(async () => {
    lab = await OverlayLab.create()
    for (const n of ['inet', 'ra', 'rb', 'r', 'r2', 'a', 'b', 'h']) ns[n] = await lab.addNs(n)
    await lab.link(ns.inet!, '198.51.100.1', ns.ra!, '198.51.100.2', 30)
    await lab.link(ns.inet!, '198.51.101.1', ns.rb!, '198.51.101.2', 30)
    await lab.link(ns.inet!, '198.51.102.1', ns.r!, '198.51.102.2', 30)
    await lab.link(ns.inet!, '198.51.103.1', ns.r2!, '198.51.103.2', 30)
    const [, raLan] = await lab.link(ns.a!, '192.168.1.2', ns.ra!, '192.168.1.1')
    await lab.link(ns.b!, '192.168.2.2', ns.rb!, '192.168.2.1')
    const [aLan, hLan] = await lab.link(ns.a!, '10.77.0.1', ns.h!, '10.77.0.2')
    for (const [n, dev, cidr] of [[ns.a!, aLan, 'fd00:77::1/64'], [ns.h!, hLan, 'fd00:77::2/64']] as const) {
      const res = await execIn(n, ['ip', 'addr', 'add', cidr, 'dev', dev, 'nodad'])
      if (res.code !== 0) throw new Error(`ip addr add ${cidr} in ${n}: ${res.stderr}`)
    }
    void raLan
    await sysctl(ns.inet!, 'net.ipv4.ip_forward=1')
    for (const [router, wan] of [[ns.ra!, '198.51.100.1'], [ns.rb!, '198.51.101.1']] as const) {
      await sysctl(router, 'net.ipv4.ip_forward=1')
      await route(router, 'default', 'via', wan)
      const out = await execIn(router, ['ip', '-o', 'route', 'get', wan])
      const dev = /dev (\S+)/.exec(out.stdout)?.[1] as string
      const nat = await execIn(router, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', dev, '-j', 'MASQUERADE'])
      if (nat.code !== 0) throw new Error(`MASQUERADE: ${nat.stderr}`)
    }
    await route(ns.r!, 'default', 'via', '198.51.102.1')
    await route(ns.r2!, 'default', 'via', '198.51.103.1')
    await route(ns.a!, 'default', 'via', '192.168.1.1')
    await route(ns.b!, 'default', 'via', '192.168.2.1')
    // the host behind A knows nothing of the overlay: only its own LAN
    const overlay = { range: RANGE, tunName: 'ctpfov0' }
    r = await lab.startAgent(ns.r!, { listen: '198.51.102.2', announce: true, tags: ['dc=r', 'relay=true'], overlay })
    const invite = async (tags: string[]): Promise<string> => (await r.cli<{ token: string }>(['invite', 'create', ...tags.flatMap(t => ['--tag', t])])).token
    r2 = await lab.startAgent(ns.r2!, { listen: '198.51.103.2', announce: true, tags: ['relay=true'], joinToken: await invite(['dc=r2', 'relay=true']), overlay })
    a = await lab.startAgent(ns.a!, { listen: '192.168.1.2', extraListen: ['/p2p-circuit'], joinToken: await invite(['dc=a']), overlay: { ...overlay, routes: ['10.77.0.0/24', 'fd00:77::/64'] } })
    b = await lab.startAgent(ns.b!, { listen: '192.168.2.2', extraListen: ['/p2p-circuit'], joinToken: await invite(['dc=b']), overlay })
    addrB = await peerAddress(a, b)
    addrA = await peerAddress(b, a)
    script = join(lab.tempDir(), 'transfer.mjs')
    writeFileSync(script, TRANSFER_SCRIPT)
  }, 240_000)

  afterAll(async () => { await lab?.destroy() }, 60_000)

  it('the NATs are real: A cannot reach B\'s underlay address', async () => {
    expect((await busyboxPing(ns.a!, '192.168.2.2', 1)).ok).toBe(false)
    expect((await busyboxPing(ns.a!, '198.51.102.2', 1)).ok).toBe(true)
  })

  it('agents behind the two NATs reach each other over the overlay through the relay (ping, TCP with a checksum)', async () => {
    await waitFor(async () => (await busyboxPing(ns.a!, addrB, 1)).ok, { what: 'a to ping b over the overlay', timeoutMs: 30_000, intervalMs: 500 }).catch(async err => {
      console.error(JSON.stringify(await overlayStatus(a), null, 1), JSON.stringify(await a.cli(['peers']), null, 1), JSON.stringify(await b.cli(['peers']), null, 1))
      console.error(a.proc.text.split('\n').filter(l => /overlay|warn|error|"level":[45]/.test(l)).slice(-30).join('\n'))
      throw err
    })
    expect((await busyboxPing(ns.b!, addrA, 3)).ok).toBe(true)
    const srv = lab.spawn(ns.b!, [process.execPath, script, 'serve', addrB, '5001'])
    await srv.waitForOutput(/listening/)
    const t = await execIn(ns.a!, [process.execPath, script, 'send', addrB, '5001', '32', '11'], 120_000)
    expect(t.code, t.stderr).toBe(0)
    const sent = JSON.parse(t.stdout)
    expect(sent.reply).toEqual({ bytes: 32 << 20, sha256: sent.sha256 })
    const st = (await overlayStatus(a)).peers.find(p => p.peer === b.peerId)
    console.info(`relayed TCP transfer: 32 MiB in ${sent.ms} ms (${((32 * 8 * 1.048576) / (sent.ms / 1000)).toFixed(0)} Mbit/s), path ${String(st?.path)}, ping ${String((await busyboxPing(ns.a!, addrB, 5)).avgMs)} ms`)
    expect(st?.path).toBe('relayed')
    // forwarded by the relay agent, sealed end to end by a and b (not a circuit connection)
    expect(st?.remoteAddr).toMatch(new RegExp(`/p2p/(${r.peerId}|${r2.peerId})/ctpf-relay/p2p/${b.peerId}$`))
  }, 180_000)

  /** From B to host h through A's advertised `prefix`: the route at B, a ping, 4 MiB of TCP with a checksum. */
  const reachHostThroughA = async (prefix: string, host: string, port: number): Promise<void> => {
    await waitFor(async () => (await b.cli<{ routes: Array<{ destination: string, peer: string }> }>(['net', 'routes'])).routes.some(x => x.destination === prefix && x.peer === a.peerId), { what: `the subnet route ${prefix} at b`, timeoutMs: 15_000, intervalMs: 500 })
    const p = await busyboxPing(ns.b!, host, 3)
    expect(p.ok, p.text).toBe(true)
    const srv = lab.spawn(ns.h!, [process.execPath, script, 'serve', host, String(port)])
    await srv.waitForOutput(/listening/)
    const t = await execIn(ns.b!, [process.execPath, script, 'send', host, String(port), '4', String(port)], 60_000)
    expect(t.code, t.stderr).toBe(0)
    const sent = JSON.parse(t.stdout)
    expect(sent.reply).toEqual({ bytes: 4 << 20, sha256: sent.sha256 })
  }

  it('a host with no agent behind A is reached from B through A\'s advertised route', async () => {
    await reachHostThroughA('10.77.0.0/24', '10.77.0.2', 5005)
  }, 120_000)

  it('the same host is reached over IPv6 through A\'s advertised v6 prefix (ping, TCP with a checksum)', async () => {
    await reachHostThroughA('fd00:77::/64', 'fd00:77::2', 5006)
    // B's kernel sends the prefix into its TUN; A forwards it onto the LAN and masquerades it
    expect((await execIn(ns.b!, ['ip', '-6', 'route', 'show', 'fd00:77::/64'])).stdout).toContain('ctpfov0')
    // a v6 prefix nobody advertises goes nowhere
    expect((await busyboxPing(ns.b!, 'fd00:78::2', 1)).ok).toBe(false)
  }, 120_000)

  it('killing the relay in use leaves the overlay working through another member relay', async () => {
    const peersOf = async (x: LabAgent): Promise<string[]> => (await x.cli<Array<{ peerId: string }>>(['peers'])).map(p => p.peerId)
    await waitFor(async () => (await peersOf(a)).includes(r2.peerId) && (await peersOf(b)).includes(r2.peerId), { what: 'a and b connected to the second relay', timeoutMs: 30_000, intervalMs: 500 })
    expect((await busyboxPing(ns.a!, addrB, 1)).ok).toBe(true)
    const before = (await overlayStatus(a)).peers.find(p => p.peer === b.peerId)?.remoteAddr
    const [inUse, other] = before?.includes(`/p2p/${r2.peerId}/`) === true ? [r2, r] : [r, r2]
    await inUse.stop()
    const t0 = Date.now()
    await waitFor(async () => (await busyboxPing(ns.a!, addrB, 1)).ok, { what: 'the overlay back through the second relay', timeoutMs: 60_000, intervalMs: 200 })
    const after = (await overlayStatus(a)).peers.find(p => p.peer === b.peerId)
    console.info(`relay failover: overlay back after ${Date.now() - t0} ms; path ${String(before)} -> ${String(after?.remoteAddr)}`)
    expect(after?.path).toBe('relayed')
    expect(after?.remoteAddr).toContain(`/p2p/${other.peerId}/`)
    expect((await busyboxPing(ns.b!, addrA, 2)).ok).toBe(true)
  }, 120_000)
})
