// Issue 4: artifact transfer between agents in separate processes, loopback.
//  1. 256 MiB one agent → one agent, against a plain TCP copy of the same bytes (goal ≥ 0.5×)
//  2. one agent → 8 agents at once, against one transfer (goal: all done in ≤ 1.5× one transfer)
// Sizes: CTPF_BENCH_ARTIFACT_MIB (default 256), CTPF_BENCH_FANOUT (default 8). Diagnostics:
// CTPF_BENCH_CPUPROF=DIR (V8 profiles of every peer), CTPF_BENCH_VERBOSE=1 (progress events),
// CTPF_BENCH_NO_ANNOUNCE=1 (no DHT announce during fetches). Needs `npx tsc -p tsconfig.json`.
import { spawn } from 'node:child_process'
import { createServer } from 'node:net'
import { createInterface } from 'node:readline'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { cpus, loadavg } from 'node:os'
import { header } from './lib.mjs'

const MiB = 1024 * 1024
const size = Number(process.env.CTPF_BENCH_ARTIFACT_MIB ?? 256) * MiB
const fanout = Number(process.env.CTPF_BENCH_FANOUT ?? 8)

/** CPU seconds (user + system) a process has used so far. */
function cpuSeconds (pid) {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
  return (Number(fields[11]) + Number(fields[12])) / 100
}

function peer () {
  const flags = process.env.CTPF_BENCH_CPUPROF != null ? ['--cpu-prof', '--cpu-prof-dir', process.env.CTPF_BENCH_CPUPROF] : []
  const proc = spawn(process.execPath, [...flags, fileURLToPath(new URL('fixtures/artifacts-peer.mjs', import.meta.url))], { stdio: ['pipe', 'pipe', 'inherit'] })
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]()
  const next = async () => { const { value } = await lines.next(); const v = JSON.parse(value); if (v.error) throw new Error(v.error); return v }
  const ask = async cmd => { proc.stdin.write(JSON.stringify(cmd) + '\n'); return await next() }
  return { proc, next, ask, stop: () => proc.kill('SIGKILL') }
}

async function plainTcp (bytes) {
  // a plain TCP copy between two processes: a child sends, we receive and count
  const server = createServer()
  await new Promise(r => server.listen(0, '127.0.0.1', r))
  const { port } = server.address()
  const child = spawn(process.execPath, ['-e', `
    const s = require('net').connect(${port}, '127.0.0.1', () => {
      const buf = Buffer.alloc(${MiB}, 7); let left = ${bytes}
      const go = () => { while (left > 0) { left -= ${MiB}; if (!s.write(buf)) return s.once('drain', go) } s.end() }
      go()
    })`])
  let t0 = 0
  await new Promise(resolve => server.once('connection', sock => { t0 = performance.now(); let n = 0; sock.on('data', d => { n += d.length }); sock.on('end', () => resolve(n)) }))
  const ms = performance.now() - t0
  child.kill(); server.close()
  return ms
}

header(`artifacts: ${size / MiB} MiB`)
console.log(`load average before: ${loadavg().map(l => l.toFixed(1)).join(' ')}`)
const tcpMs = await plainTcp(size)
console.log(`plain TCP copy: ${tcpMs.toFixed(0)} ms (${(size / MiB / (tcpMs / 1000)).toFixed(0)} MiB/s)`)

const seed = peer()
const seedInfo = await seed.next()
const { cid } = await seed.ask({ op: 'add', size })
const one = peer()
await one.next()
await one.ask({ op: 'dial', dial: [seedInfo.addr] })
const raw = await one.ask({ op: 'raw', peer: seedInfo.id, size })
console.log(`bare libp2p stream (tcp+noise+yamux), same bytes: ${raw.ms.toFixed(0)} ms (${(size / MiB / (raw.ms / 1000)).toFixed(0)} MiB/s), ratio to TCP ${(tcpMs / raw.ms).toFixed(2)}`)
const single = await one.ask({ op: 'fetch', cid, providers: [seedInfo.id] })
console.log(`1 → 1: ${single.ms.toFixed(0)} ms (${(size / MiB / (single.ms / 1000)).toFixed(0)} MiB/s), ratio to TCP ${(tcpMs / single.ms).toFixed(2)} (goal ≥ 0.5), to bare libp2p ${(raw.ms / single.ms).toFixed(2)}, fetcher rss ${(single.rss / MiB).toFixed(0)} MiB`)
one.proc.stdin.end()

const many = Array.from({ length: fanout }, () => peer())
const infos = await Promise.all(many.map(p => p.next()))
for (const p of many) await p.ask({ op: 'dial', dial: [seedInfo.addr, ...infos.map(i => i.addr).filter(a => a !== infos[many.indexOf(p)].addr)] }).catch(() => {})
const providers = [seedInfo.id, ...infos.map(i => i.id)]
const cpu0 = [seed, ...many].reduce((n, p) => n + cpuSeconds(p.proc.pid), 0)
const t0 = performance.now()
const results = await Promise.all(many.map(async p => await p.ask({ op: 'fetch', cid, providers })))
const allMs = performance.now() - t0
const cpuUsed = [seed, ...many].reduce((n, p) => n + cpuSeconds(p.proc.pid), 0) - cpu0
const fromPeers = results.reduce((n, r) => n + Object.entries(r.byProvider).filter(([k]) => k !== seedInfo.id).reduce((a, [, v]) => a + v, 0), 0)
const total = results.reduce((n, r) => n + r.blocks, 0)
console.log(`1 → ${fanout}: all done in ${allMs.toFixed(0)} ms, ${(allMs / single.ms).toFixed(2)}× one transfer (goal ≤ 1.5), ${fromPeers} of ${total} blocks from other downloaders; the ${fanout + 1} processes used ${cpuUsed.toFixed(1)} CPU-s in ${(allMs / 1000).toFixed(1)} s (${(cpuUsed / (allMs / 1000)).toFixed(2)} cores of ${cpus().length})`)
for (const p of [seed, ...many]) p.proc.stdin.end()
await new Promise(r => setTimeout(r, 1500))
for (const p of [seed, ...many]) p.stop()
process.exit(0)
