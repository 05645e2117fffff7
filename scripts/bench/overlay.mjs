// Issue 8, measured: iperf3 single-flow throughput and ping latency over ctpf's overlay, against
// Nebula 1.6 (Debian's package) and against the bare underlay, in the same network namespace
// topologies as test/e2e/overlay.test.ts, in one run:
//
//  direct:  a 10.203.0.1 ──veth── b 10.203.0.2
//  relayed: a 192.168.1.2 ── ra (MASQUERADE) ──┐
//                                              inet ── r 198.51.102.2 (relay / lighthouse)
//           b 192.168.2.2 ── rb (MASQUERADE) ──┘
//           inet drops everything between the two routers' WAN addresses, so no overlay can
//           punch a direct path: the relay on r is the only way, for ctpf and nebula alike
//           (checked: the bytes r's link carries during the transfer, ≈ 2× the payload).
//
// Per scenario: underlay (direct: a→b; relayed: iperf3 a→r through the NAT, latency = the two
// legs a→r + b→r, i.e. the underlay round trip of the relayed path), ctpf (agents in a and b;
// relayed: an agent tagged relay=true on r, a and b listening on /p2p-circuit), nebula (a
// lighthouse — on a for direct, on r with am_relay for relayed — and nodes with use_relays and
// relays: [the lighthouse]). Each: ping (20 × 0.2 s, avg/p99) then iperf3 -c, one flow, with
// pings 0.25 s apart during the transfer (latency under load) and the CPU each overlay process
// used. Each system runs alone: ctpf's agents stop before nebula starts. And the floor
// (overlay/floor.mjs): the least a Node process can do to carry packets between two TUNs — our
// TUN addon and a plain TCP connection (and a plain byte-copying relay), no encryption, no
// libp2p — so the table shows what Node itself costs on this machine and what ctpf adds above
// that. About 140 s in all
// with 10 s transfers (watchdog: 150 s + 12 s per transfer second); everything made is removed
// on exit, SIGINT, SIGTERM and crashes.
//
// node scripts/bench/overlay.mjs [--seconds 10] [--pings 20] [--scenarios direct,relayed]
//   [--systems underlay,floor,ctpf,nebula] [--nebula-mtu 1400]          (root; npm run bench -- overlay)
import { cpus, loadavg } from 'node:os'
import { CLI, header } from './lib.mjs'
import { RANGE, invite, peerView, snapshotBundle, startAgent } from './overlay/ctpf.mjs'
import { addNs, destroyAll, destroyScenario, link, mustIn, run, until } from './overlay/lab.mjs'
import { startFloor } from './overlay/floor.mjs'
import { iperf, ping, reachable } from './overlay/measure.mjs'
import { NEBULA_PREFIX, makePki, nebulaVersion, startNebula } from './overlay/nebula.mjs'

const argv = process.argv.slice(2)
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt }
const SECONDS = Number(opt('seconds', '10'))
const PINGS = Number(opt('pings', '20'))
const SCENARIOS = opt('scenarios', 'direct,relayed').split(',')
const SYSTEMS = new Set(opt('systems', 'underlay,floor,ctpf,nebula').split(','))
const NEBULA_MTU = Number(opt('nebula-mtu', '1400'))
const BUDGET_MS = 150_000 + 12_000 * SECONDS

const T0 = performance.now()
const elapsed = () => ((performance.now() - T0) / 1000).toFixed(1)
const note = (...a) => console.log(`  [${elapsed()} s]`, ...a)

// ---- cleanup: every process, namespace and temp dir we made goes, whatever happens ----
let cleaned = false
function cleanup () { if (!cleaned) { cleaned = true; destroyAll() } }
process.on('exit', cleanup)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanup(); process.exit(130) })
process.on('uncaughtException', err => { console.error('bench failed:', err); cleanup(); process.exit(1) })
process.on('unhandledRejection', err => { console.error('bench failed:', err); cleanup(); process.exit(1) })
const watchdog = setTimeout(() => { console.error(`bench over its ${BUDGET_MS / 1000} s budget: stopping`); cleanup(); process.exit(1) }, BUDGET_MS)
watchdog.unref()

header('overlay: iperf3 one flow and ping — ctpf vs Nebula vs the underlay')
if (process.getuid?.() !== 0) { console.error('overlay bench: needs root (network namespaces, TUN devices)'); process.exit(1) }
for (const tool of ['ip', 'iperf3', 'busybox', 'iptables']) {
  const r = await run(tool, tool === 'busybox' || tool === 'ip' ? ['--help'] : ['--version'], 10_000)
  if (r.code === null || /ENOENT/.test(r.stderr)) { console.error(`overlay bench: ${tool} is missing (scripts/install-test-deps.sh)`); process.exit(1) }
}
let nebula = null
let nebulaWhyNot = SYSTEMS.has('nebula') ? null : 'not asked for (--systems)'
if (SYSTEMS.has('nebula')) {
  try { nebula = await nebulaVersion() } catch (err) { nebulaWhyNot = err.message }
}
const bundle = SYSTEMS.has('ctpf') ? await snapshotBundle(CLI) : null
console.log(`# ctpf: ${bundle ? `dist/ctpf.mjs built ${bundle.built} UTC (private copy), overlay range ${RANGE}, TUN MTU 1400 with TSO` : 'not measured'}`)
console.log(`# nebula: ${nebula ? `${nebula} (Debian package), TUN MTU ${NEBULA_MTU}, default cipher and routines` : `not measured: ${nebulaWhyNot}`}`)
console.log(`# iperf3 -c, one flow, ${SECONDS} s; busybox ping ${PINGS} × 0.2 s; load average at start ${loadavg().map(x => x.toFixed(2)).join(' ')} on ${cpus().length} cores (a shared machine: other jobs run beside this one)`)

// ---- topologies ----
async function directTopology () {
  const a = await addNs('a')
  const b = await addNs('b')
  await link(a, '10.203.0.1', b, '10.203.0.2')
  return { a, b, underlay: { server: b, address: '10.203.0.2', legs: [[a, '10.203.0.2']] } }
}

async function relayedTopology () {
  const ns = {}
  for (const n of ['inet', 'ra', 'rb', 'r', 'a', 'b']) ns[n] = await addNs(n)
  await link(ns.inet, '198.51.100.1', ns.ra, '198.51.100.2', 30)
  await link(ns.inet, '198.51.101.1', ns.rb, '198.51.101.2', 30)
  const [, relayDev] = await link(ns.inet, '198.51.102.1', ns.r, '198.51.102.2', 30)
  await link(ns.a, '192.168.1.2', ns.ra, '192.168.1.1')
  await link(ns.b, '192.168.2.2', ns.rb, '192.168.2.1')
  await mustIn(ns.inet, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
  // no direct path between the two NATed sites: only through r
  await mustIn(ns.inet, ['iptables', '-A', 'FORWARD', '-s', '198.51.100.2', '-d', '198.51.101.2', '-j', 'DROP'])
  await mustIn(ns.inet, ['iptables', '-A', 'FORWARD', '-s', '198.51.101.2', '-d', '198.51.100.2', '-j', 'DROP'])
  for (const [router, wan] of [[ns.ra, '198.51.100.1'], [ns.rb, '198.51.101.1']]) {
    await mustIn(router, ['sysctl', '-qw', 'net.ipv4.ip_forward=1'])
    await mustIn(router, ['ip', 'route', 'add', 'default', 'via', wan])
    const dev = /dev (\S+)/.exec(await mustIn(router, ['ip', '-o', 'route', 'get', wan]))[1]
    await mustIn(router, ['iptables', '-t', 'nat', '-A', 'POSTROUTING', '-o', dev, '-j', 'MASQUERADE'])
  }
  await mustIn(ns.r, ['ip', 'route', 'add', 'default', 'via', '198.51.102.1'])
  await mustIn(ns.a, ['ip', 'route', 'add', 'default', 'via', '192.168.1.1'])
  await mustIn(ns.b, ['ip', 'route', 'add', 'default', 'via', '192.168.2.1'])
  return { ...ns, relay: [ns.r, relayDev], underlay: { server: ns.r, address: '198.51.102.2', legs: [[ns.a, '198.51.102.2'], [ns.b, '198.51.102.2']] } }
}

// ---- measurements ----
/** Latency of one or more legs (their sum: the round trip of the path they make up). */
async function pathPing (legs) {
  const rs = []
  for (const [ns, addr] of legs) rs.push(await ping(ns, addr, PINGS))
  return { avg: rs.reduce((x, r) => x + r.avg, 0), p99: rs.reduce((x, r) => x + r.p99, 0), loss: rs.reduce((x, r) => x + r.loss, 0) }
}

async function measureUnderlay (t) {
  const lat = await pathPing(t.underlay.legs)
  const tp = await iperf(t.underlay.server, t.a, t.underlay.address, SECONDS, { loadedPing: t.underlay.legs[0] })
  return { ...tp, lat, path: t.relay ? 'a→r (one leg of the relayed path); latency a→r + b→r' : 'a→b' }
}

async function measureOverlay (t, addrB, watch) {
  if (!await reachable(t.a, addrB, 45_000)) throw new Error(`${addrB} not reachable over the overlay from a within 45 s`)
  // a few more to settle paths (nebula's relay setup, ctpf's stream) before measuring
  await ping(t.a, addrB, 3)
  const lat = await ping(t.a, addrB, PINGS)
  const tp = await iperf(t.b, t.a, addrB, SECONDS, { watch, relay: t.relay, loadedPing: [t.a, addrB] })
  return { ...tp, lat }
}

async function measureCtpf (t, relayed) {
  const agents = []
  try {
    let first, a, b
    if (!relayed) {
      first = a = await startAgent(t.a, { listen: '10.203.0.1', tags: ['dc=a'] })
      agents.push(a)
      b = await startAgent(t.b, { listen: '10.203.0.2', joinToken: await invite(a, ['dc=b']) })
      agents.push(b)
    } else {
      first = await startAgent(t.r, { listen: '198.51.102.2', announce: true, tags: ['dc=r', 'relay=true'] })
      agents.push(first)
      a = await startAgent(t.a, { listen: '192.168.1.2', circuit: true, joinToken: await invite(first, ['dc=a']) })
      agents.push(a)
      b = await startAgent(t.b, { listen: '192.168.2.2', circuit: true, joinToken: await invite(first, ['dc=b']) })
      agents.push(b)
    }
    note(`ctpf: ${agents.length} agents up`)
    const addrB = (await until('a to learn b\'s overlay address', async () => (await peerView(a, b)).address, 60_000, 500))
    await until('b to learn a\'s overlay address', async () => (await peerView(b, a)).address, 60_000, 500)
    if (!await reachable(t.a, addrB, 45_000)) throw new Error(`${addrB} not reachable over ctpf's overlay`)
    const view = await until('a path to b at a', async () => { const v = await peerView(a, b); return v.path ? v : undefined }, 20_000, 500)
    note(`ctpf: b is ${addrB}, path ${view.path} (${view.remoteAddr})`)
    const watch = { sender: a.proc.pid, receiver: b.proc.pid, ...(relayed ? { relay: first.proc.pid } : {}) }
    const res = await measureOverlay(t, addrB, watch)
    const after = await peerView(a, b)
    return { ...res, path: after.path === view.path ? after.path : `${view.path} → ${after.path}` }
  } finally {
    for (const ag of agents.reverse()) await ag.stop().catch(() => {})
  }
}

async function measureFloor (t, relayed) {
  const f = await startFloor(t, relayed)
  try {
    note(`floor: ${f.relay ? 3 : 2} processes up`)
    const watch = { sender: f.a.pid, receiver: f.b.pid, ...(f.relay ? { relay: f.relay.pid } : {}) }
    return { ...await measureOverlay(t, f.address, watch), path: relayed ? 'relayed (a plain TCP relay on r)' : 'direct' }
  } finally {
    await f.stop()
  }
}

async function measureNebula (t, relayed) {
  const pki = await makePki()
  const nodes = []
  try {
    const lhIp = `${NEBULA_PREFIX}.1`
    let a, b
    if (!relayed) {
      a = await startNebula(pki, t.a, 'a', lhIp, { mtu: NEBULA_MTU })
      nodes.push(a)
      b = await startNebula(pki, t.b, 'b', `${NEBULA_PREFIX}.2`, { lighthouse: [lhIp, '10.203.0.1'], mtu: NEBULA_MTU })
      nodes.push(b)
    } else {
      nodes.push(await startNebula(pki, t.r, 'lighthouse', lhIp, { amRelay: true, mtu: NEBULA_MTU }))
      const common = { lighthouse: [lhIp, '198.51.102.2'], relays: [lhIp], mtu: NEBULA_MTU }
      a = await startNebula(pki, t.a, 'a', `${NEBULA_PREFIX}.2`, common)
      nodes.push(a)
      b = await startNebula(pki, t.b, 'b', `${NEBULA_PREFIX}.3`, common)
      nodes.push(b)
    }
    note(`nebula: ${nodes.length} nodes up`)
    const watch = { sender: a.proc.pid, receiver: b.proc.pid, ...(relayed ? { relay: nodes[0].proc.pid } : {}) }
    const res = await measureOverlay(t, b.ip, watch)
    // nebula logs the handshake it sends through a relay ("Send handshake via relay") at info
    const viaRelay = a.proc.text.split('\n').filter(l => /via relay/i.test(l))
    return { ...res, path: viaRelay.length > 0 ? 'relayed (a\'s log: "Send handshake via relay")' : 'direct (no handshake via relay in a\'s log)', relayLog: viaRelay.slice(0, 1) }
  } finally {
    for (const n of nodes.reverse()) await n.stop().catch(() => {})
  }
}

async function attempt (what, fn) {
  try {
    const r = await fn()
    note(`${what}: ${r.mbps.toFixed(0)} Mbit/s, ping avg ${r.lat.avg.toFixed(3)} ms p99 ${r.lat.p99.toFixed(3)} ms${r.lat.loss ? `, ${r.lat.loss} lost` : ''}` +
      `${r.retrans != null ? `, ${r.retrans} retransmits` : ''}${r.path ? `, path ${r.path}` : ''}`)
    if (r.loadedLat) note(`${what}: ping during the transfer avg ${r.loadedLat.avg.toFixed(3)} ms p99 ${r.loadedLat.p99.toFixed(3)} ms (throughput × that RTT = ${(r.mbps * 1e6 / 8 * r.loadedLat.avg / 1000 / 1024).toFixed(0)} KiB in flight)`)
    if (r.cpu && Object.keys(r.cpu).length > 0) note(`${what}: CPU during the transfer: ${Object.entries(r.cpu).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ')} cores; machine busy in the second before: ${r.others.toFixed(2)} cores`)
    if (r.relayLog?.length) note(`${what}: a's log: ${r.relayLog[0].slice(0, 220)}`)
    if (r.relayBytes != null) note(`${what}: r's link carried ${(r.relayBytes / 2 ** 20).toFixed(0)} MiB for ${(r.bytes / 2 ** 20).toFixed(0)} MiB of payload (${(r.relayBytes / r.bytes).toFixed(2)}×; ≥ 2× = all of it went through r)`)
    return r
  } catch (err) {
    note(`${what}: FAILED: ${err.message.split('\n').slice(0, 6).join(' | ')}`)
    return { error: err.message.split('\n')[0] }
  }
}

// ---- the run ----
const rows = []
for (const scenario of SCENARIOS) {
  const relayed = scenario === 'relayed'
  if (!['direct', 'relayed'].includes(scenario)) throw new Error(`unknown scenario ${scenario}`)
  note(`${scenario}: building the topology`)
  const t = relayed ? await relayedTopology() : await directTopology()
  const row = { scenario }
  if (SYSTEMS.has('underlay')) row.underlay = await attempt(`${scenario} underlay`, () => measureUnderlay(t))
  if (SYSTEMS.has('floor')) row.floor = await attempt(`${scenario} floor`, () => measureFloor(t, relayed))
  if (SYSTEMS.has('ctpf')) row.ctpf = await attempt(`${scenario} ctpf`, () => measureCtpf(t, relayed))
  if (nebula) row.nebula = await attempt(`${scenario} nebula`, () => measureNebula(t, relayed))
  rows.push(row)
  destroyScenario()
}

// ---- the tables ----
const ok = r => r != null && r.error == null
const mbps = r => r == null ? 'n/a' : ok(r) ? r.mbps.toFixed(0) : 'failed'
const lat = r => r == null ? 'n/a' : ok(r) ? `${r.lat.avg.toFixed(3)} / ${r.lat.p99.toFixed(3)}` : 'failed'
const loadedLat = r => ok(r) && r.loadedLat ? `${r.loadedLat.avg.toFixed(2)} / ${r.loadedLat.p99.toFixed(2)}` : 'n/a'
const added = (r, u) => ok(r) && ok(u) ? `${(r.lat.avg - u.lat.avg >= 0 ? '+' : '')}${(r.lat.avg - u.lat.avg).toFixed(3)}` : 'n/a'
const ratio = (x, y) => ok(x) && ok(y) ? (x.mbps / y.mbps).toFixed(2) : 'n/a'
const pct = (x, u) => ok(x) && ok(u) ? `${(100 * x.mbps / u.mbps).toFixed(1)}%` : 'n/a'
function table (head, body) {
  const w = head.map((h, i) => Math.max(h.length, ...body.map(r => String(r[i]).length)))
  const line = r => '| ' + r.map((c, i) => String(c).padEnd(w[i])).join(' | ') + ' |'
  console.log([line(head), '|' + w.map(n => '-'.repeat(n + 2)).join('|') + '|', ...body.map(line)].join('\n'))
}
console.log(`\nThroughput, iperf3 one flow ${SECONDS} s (Mbit/s); relayed underlay = a→r through the NAT (one leg)`)
table(['scenario', 'underlay', 'node floor', 'ctpf', 'nebula', 'ctpf/nebula', 'ctpf/floor', 'ctpf/underlay', 'nebula/underlay'],
  rows.map(r => [r.scenario, mbps(r.underlay), mbps(r.floor), mbps(r.ctpf), mbps(r.nebula), ratio(r.ctpf, r.nebula), ratio(r.ctpf, r.floor), pct(r.ctpf, r.underlay), pct(r.nebula, r.underlay)]))
console.log(`\nLatency, ping ${PINGS} × 0.2 s, avg / p99 (ms); relayed underlay = a→r + b→r; added = overlay avg − underlay avg;\nunder load = ping a→b over the overlay during its iperf3 transfer (0.25 s apart)`)
table(['scenario', 'underlay', 'node floor', 'ctpf', 'nebula', 'added by the floor', 'added by ctpf', 'added by nebula', 'floor under load', 'ctpf under load', 'nebula under load'],
  rows.map(r => [r.scenario, lat(r.underlay), lat(r.floor), lat(r.ctpf), lat(r.nebula), added(r.floor, r.underlay), added(r.ctpf, r.underlay), added(r.nebula, r.underlay), loadedLat(r.floor), loadedLat(r.ctpf), loadedLat(r.nebula)]))
const goals = rows.filter(r => ok(r.ctpf) && ok(r.nebula)).map(r => {
  const tp = r.ctpf.mbps >= r.nebula.mbps
  const la = ok(r.underlay) ? r.ctpf.lat.avg - r.underlay.lat.avg <= r.nebula.lat.avg - r.underlay.lat.avg : r.ctpf.lat.avg <= r.nebula.lat.avg
  return `${r.scenario}: throughput ≥ nebula ${tp ? 'yes' : 'NO'}, latency added ≤ nebula's ${la ? 'yes' : 'NO'}`
})
console.log(`\ngoal (issue 8: at least Nebula's throughput, no more latency than Nebula adds): ${goals.length ? goals.join('; ') : 'not comparable in this run'}`)
console.log(`bench took ${elapsed()} s`)
