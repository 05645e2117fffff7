// Issue 7: the builder's mesh-wide cache and the packager, two agents as processes on loopback.
//  1. cold vs warm build: a generated C project of 40 source files built with make on agent A
//     (cache cold), then the same build asked of agent B (warm: a cache lookup, no make), then
//     the output fetched to B through the mesh (GET /v1/artifacts/<cid> on B, what
//     `ctpf artifact get` does). Several rounds, each with its own ROUND variable (a new cache
//     key and a different binary, so B never holds the output already). The first round is
//     also shown on its own: it may carry first-build costs (the builder's toolchain
//     fingerprint and bubblewrap probe, cold file caches).
//  2. packaging: each medium (iso, img, pxe) packaged 5 times on A; submit→succeeded of the
//     `package` job next to the packager's own durationMs (the difference is the job and
//     artifact overhead: claim, fetching the inputs from the store, storing the medium).
// Times are the bench's: from just before POST /v1/jobs to the first GET /v1/jobs/<id> (polled
// every 10 ms) that shows the job ended; the job record's createdAt→updatedAt (the agents'
// clocks) is printed beside. Bounded: < 3 min.
// node scripts/bench/media.mjs [--rounds 3] [--package-runs 5] [--sources 40]
import { execFile, spawn } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import { promisify } from 'node:util'
import { CLI, header, percentile, sleep, waitFor } from './lib.mjs'

const run = promisify(execFile)
const argv = process.argv.slice(2)
const opt = (name, dflt) => { const i = argv.indexOf(`--${name}`); return i >= 0 ? argv[i + 1] : dflt }
const ROUNDS = Number(opt('rounds', '5'))
const PACKAGE_RUNS = Number(opt('package-runs', '5'))
const SOURCES = Number(opt('sources', '40'))
const BUDGET_MS = 175_000
const T0 = performance.now()

// the agents run a private copy of the bundle: another build may rewrite dist/ while we run;
// classic-level (external to the bundle) resolves through a node_modules link
const SNAP = mkdtempSync(join(tmpdir(), 'ctpf-media-bench-cli-'))
const CLI_COPY = join(SNAP, 'ctpf.mjs')
await waitFor(() => /\/\/# sourceMappingURL=\S+\s*$/.test(readFileSync(CLI, 'utf8').slice(-200)), 120_000, 500)
copyFileSync(CLI, CLI_COPY)
symlinkSync(resolve('node_modules'), join(SNAP, 'node_modules'))
const CLI_MTIME = statSync(CLI).mtime.toISOString().slice(0, 19)
const WORK = mkdtempSync(join(tmpdir(), 'ctpf-media-bench-'))
const agents = []

function cleanUp () {
  for (const a of agents) { try { a.proc.kill('SIGKILL') } catch {} }
  for (const a of agents) { try { rmSync(a.dir, { recursive: true, force: true }) } catch {} }
  try { rmSync(WORK, { recursive: true, force: true }) } catch {}
  try { rmSync(join(SNAP, 'node_modules')); rmSync(SNAP, { recursive: true, force: true }) } catch {}
}
process.on('exit', cleanUp)
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => { cleanUp(); process.exit(130) })
process.on('uncaughtException', err => { console.error('bench failed:', err); cleanUp(); process.exit(1) })
process.on('unhandledRejection', err => { console.error('bench failed:', err); cleanUp(); process.exit(1) })
const watchdog = setTimeout(() => { console.error(`bench over its ${BUDGET_MS / 1000} s budget: stopping`); cleanUp(); process.exit(1) }, BUDGET_MS)
watchdog.unref()

const fmt = ms => ms == null || !Number.isFinite(ms) ? 'n/a' : `${ms.toFixed(ms < 10 ? 1 : 0)} ms`
const p50 = xs => xs.length === 0 ? NaN : percentile(xs, 50)
const note = (...a) => console.log(`  [${((performance.now() - T0) / 1000).toFixed(1)} s]`, ...a)

// ---- agents ----
function spawnAgent (name, args, env = {}) {
  const dir = mkdtempSync(join(tmpdir(), `ctpf-media-bench-${name}-`))
  const proc = spawn(process.execPath, [CLI_COPY, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', ...args], {
    env: { ...process.env, CTPF_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'inherit']
  })
  const a = { name, dir, proc }
  agents.push(a)
  proc.once('exit', (code, signal) => { if (agents.includes(a) && !a.stopping) note(`!! agent ${name} exited: code ${code}, signal ${signal}`) })
  return a
}

async function connect (a) {
  await waitFor(() => existsSync(join(a.dir, 'control.url')), 30_000, 20)
  const url = readFileSync(join(a.dir, 'control.url'), 'utf8').trim()
  const token = readFileSync(join(a.dir, 'control.token'), 'utf8').trim()
  a.url = url
  a.headers = { authorization: `Bearer ${token}` }
  a.call = async (method, path, body) => {
    const res = await fetch(`${url}/v1${path}`, { method, headers: body ? { ...a.headers, 'content-type': 'application/json' } : a.headers, body: body ? JSON.stringify(body) : undefined })
    const json = await res.json()
    if (!res.ok) throw new Error(`${a.name} ${method} ${path}: ${res.status} ${JSON.stringify(json)}`)
    return json
  }
  a.peerId = (await a.call('GET', '/status')).peerId
}

/** `ctpf <args> --data-dir <agent> --json` (the bundle copy); parsed stdout. */
async function ctpf (a, args) {
  const { stdout } = await run(process.execPath, [CLI_COPY, ...args, '--data-dir', a.dir, '--json'], { timeout: 60_000, maxBuffer: 16 * 2 ** 20 })
  return JSON.parse(stdout)
}

/** Submits a job on `a` and polls it until it ends: { job, ms } (bench clock). */
async function runJob (a, body) {
  const t0 = performance.now()
  const { id } = await a.call('POST', '/jobs', body)
  for (;;) {
    const job = await a.call('GET', `/jobs/${id}`)
    if (['succeeded', 'failed', 'cancelled'].includes(job.status)) {
      const ms = performance.now() - t0
      if (job.status !== 'succeeded') throw new Error(`${body.kind} job ${id} ${job.status}: ${JSON.stringify(job.error)}`)
      return { job, ms, recordMs: job.updatedAt - job.createdAt }
    }
    if (performance.now() - t0 > 90_000) throw new Error(`${body.kind} job ${id} still ${job.status} after 90 s`)
    await sleep(10)
  }
}

// ---- the project: SOURCES files, each a little real work for cc -O2 ----
function writeProject (dir) {
  mkdirSync(dir, { recursive: true })
  const objs = []
  for (let i = 0; i < SOURCES; i++) {
    const fns = Array.from({ length: 24 }, (_, k) => `static unsigned f${k} (unsigned x) { for (unsigned j = 0; j < ${k + 3}u; j++) x = x * 2654435761u + ${i * 100 + k}u; return x ^ (x >> 13); }`)
    writeFileSync(join(dir, `part${i}.c`), `${fns.join('\n')}\nunsigned part${i} (unsigned x) { return ${fns.map((_, k) => `f${k}(x)`).join(' ^ ')}; }\n`)
    objs.push(`part${i}.o`)
  }
  writeFileSync(join(dir, 'main.c'), [
    '#include <stdio.h>',
    ...objs.map((_, i) => `unsigned part${i} (unsigned);`),
    'int main (void) {', '  unsigned x = ROUND;', ...objs.map((_, i) => `  x ^= part${i}(x);`), '  printf("%u\\n", x);', '  return 0;', '}', ''
  ].join('\n'))
  writeFileSync(join(dir, 'Makefile'), [
    `OBJS = ${objs.join(' ')} main.o`,
    'ROUND ?= 0',
    'hello: $(OBJS)', '\tcc -o hello $(OBJS)',
    'main.o: main.c', '\tcc -O2 -DROUND=$(ROUND) -c -o $@ $<',
    '%.o: %.c', '\tcc -O2 -c -o $@ $<', ''
  ].join('\n'))
}

// ---- set-up ----
header(`builder cache and packager, 2 agents on loopback, a C project of ${SOURCES} files`)
console.log(`# agent bundle: ${CLI} built ${CLI_MTIME} UTC (run from a private copy)`)
const A = spawnAgent('a', ['--tag', 'role=builder+packager', '--tag', 'name=a'])
await connect(A)
const { token } = await A.call('POST', '/invites', {})
const B = spawnAgent('b', ['--tag', 'role=builder', '--tag', 'name=b'], { CTPF_JOIN_TOKEN: token })
await connect(B)
await waitFor(async () => {
  for (const a of [A, B]) {
    if ((await a.call('GET', '/members')).length !== 2) return false
    if ((await a.call('GET', '/state?prefix=agents/')).length !== 2) return false
  }
  return true
}, 60_000, 50)
note('A and B joined; both see 2 agents/ records')

const src = join(WORK, 'src')
writeProject(src)
const tar = join(WORK, 'source.tar')
// the form `ctpf build --source-dir` packs a directory in (agent/cli-media.ts)
await run('tar', ['-cf', tar, '-C', src, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '.'])
const srcA = await ctpf(A, ['artifact', 'add', tar])
const srcB = await ctpf(B, ['artifact', 'add', tar]) // what the CLI on B does with the same directory
if (srcA.cid !== srcB.cid) throw new Error(`the same source tar has two CIDs: ${srcA.cid} ${srcB.cid}`)
const imported = await ctpf(A, ['ipxe', 'import'])
note(`source ${srcA.size} bytes as ${srcA.cid}; ${imported.length} iPXE binaries imported on A`)

// ---- 1. cold on A, warm on B, fetch to B ----
const rounds = []
for (let r = 1; r <= ROUNDS; r++) {
  if (performance.now() - T0 > BUDGET_MS - 60_000) { note(`stopping the build rounds after ${r - 1}: time budget`); break }
  const spec = { recipe: 'make', source: srcA.cid, vars: { ROUND: String(r) }, targets: ['hello'], outputs: ['src/hello'], params: { jobs: 2 } }
  const cold = await runJob(A, { kind: 'build', selector: 'name=a', spec })
  if (cold.job.result.cached !== false || cold.job.claim.peer !== A.peerId) throw new Error(`round ${r}: the cold build was not a fresh build on A: ${JSON.stringify(cold.job)}`)
  const key = `buildcache/${cold.job.result.cacheKey}`
  const tRep = performance.now()
  await waitFor(async () => (await B.call('GET', '/state?prefix=buildcache/')).some(e => e.key === key), 10_000, 5)
  const replicationMs = performance.now() - tRep
  const warm = await runJob(B, { kind: 'build', selector: 'name=b', spec })
  if (warm.job.result.cached !== true || warm.job.claim.peer !== B.peerId) throw new Error(`round ${r}: the warm build was not a cache hit on B: ${JSON.stringify(warm.job)}`)
  const out = warm.job.result.outputs[0]
  if ((await B.call('GET', '/artifacts')).some(p => p.cid === out.cid)) throw new Error(`round ${r}: B already holds the output`)
  const tFetch = performance.now()
  const res = await fetch(`${B.url}/v1/artifacts/${out.cid}`, { headers: B.headers })
  const bytes = Buffer.from(await res.arrayBuffer())
  const fetchMs = performance.now() - tFetch
  if (!res.ok || bytes.length !== out.size) throw new Error(`round ${r}: fetch to B: HTTP ${res.status}, ${bytes.length} of ${out.size} bytes`)
  rounds.push({ cold, warm, fetchMs, replicationMs, size: out.size })
  note(`round ${r}: cold ${fmt(cold.ms)} (make ${fmt(cold.job.result.durationMs)}), cache entry on B ${fmt(replicationMs)} after, warm ${fmt(warm.ms)} (lookup ${fmt(warm.job.result.durationMs)}), fetch ${out.size} bytes to B ${fmt(fetchMs)}`)
}

// ---- 2. packaging ----
const media = {}
for (const medium of ['iso', 'img', 'pxe']) {
  media[medium] = []
  for (let k = 0; k < PACKAGE_RUNS; k++) {
    if (performance.now() - T0 > BUDGET_MS - 15_000) { note(`stopping ${medium} after ${k} runs: time budget`); break }
    const r = await runJob(A, { kind: 'package', selector: 'name=a', spec: { medium, endpoints: ['http://127.0.0.1:8080/boot.ipxe'], name: `bench/ctpf-${k}.${medium}` } })
    media[medium].push({ ms: r.ms, recordMs: r.recordMs, tool: r.job.result.durationMs, size: r.job.result.size ?? r.job.result.files.reduce((n, f) => n + f.size, 0) })
  }
}

// ---- results ----
const col = (s, w) => String(s).padEnd(w)
const row = cells => console.log(`| ${cells.map(([s, w]) => col(s, w)).join(' | ')} |`)
const W = [36, 22, 20, 18]
console.log('')
console.log(`builds (${rounds.length} rounds, p50; bench clock submit→succeeded, job record createdAt→updatedAt in brackets):`)
row([['step', W[0]], ['submit→succeeded', W[1]], ['builder durationMs', W[2]], ['note', W[3]]])
row(W.map(w => ['-'.repeat(w), w]))
const cold = p50(rounds.map(r => r.cold.ms)); const warm = p50(rounds.map(r => r.warm.ms))
const warmFetch = p50(rounds.map(r => r.warm.ms + r.fetchMs))
const first = rounds[0]
if (first != null) row([['first cold build after agent start', W[0]], [`${fmt(first.cold.ms)} (${fmt(first.cold.recordMs)})`, W[1]], [fmt(first.cold.job.result.durationMs), W[2]], ['round 1 only', W[3]]])
row([['cold build on A (make -j2)', W[0]], [`${fmt(cold)} (${fmt(p50(rounds.map(r => r.cold.recordMs)))})`, W[1]], [fmt(p50(rounds.map(r => r.cold.job.result.durationMs))), W[2]], [`${SOURCES + 1} files`, W[3]]])
row([['warm build on B (cache hit)', W[0]], [`${fmt(warm)} (${fmt(p50(rounds.map(r => r.warm.recordMs)))})`, W[1]], [fmt(p50(rounds.map(r => r.warm.job.result.durationMs))), W[2]], ['no make', W[3]]])
row([['warm + output fetched to B', W[0]], [fmt(warmFetch), W[1]], ['', W[2]], [`${rounds[0]?.size ?? 0} bytes`, W[3]]])
row([['cache entry replicated A→B', W[0]], [fmt(p50(rounds.map(r => r.replicationMs))), W[1]], ['', W[2]], ['after cold ended', W[3]]])
console.log(`warm/cold: ${(warm / cold).toFixed(3)} (cold is ${(cold / warm).toFixed(1)}× warm); (warm+fetch)/cold: ${(warmFetch / cold).toFixed(3)}`)
console.log('')
console.log(`packaging on A (${PACKAGE_RUNS} runs each, p50):`)
const P = [8, 22, 20, 22, 12]
row([['medium', P[0]], ['submit→succeeded', P[1]], ['packager durationMs', P[2]], ['job+artifact overhead', P[3]], ['size', P[4]]])
row(P.map(w => ['-'.repeat(w), w]))
const summary = { cold, warm, warmFetch }
for (const [medium, runs] of Object.entries(media)) {
  const ms = p50(runs.map(r => r.ms)); const tool = p50(runs.map(r => r.tool))
  row([[medium, P[0]], [`${fmt(ms)} (${fmt(p50(runs.map(r => r.recordMs)))})`, P[1]], [fmt(tool), P[2]], [fmt(ms - tool), P[3]], [`${runs[0]?.size ?? 0} B`, P[4]]])
  summary[medium] = { submitToSucceeded: Math.round(ms), packager: Math.round(tool) }
}
for (const a of agents) a.stopping = true
cleanUp()
console.log(`# done in ${((performance.now() - T0) / 1000).toFixed(1)} s: ${JSON.stringify(Object.fromEntries(Object.entries(summary).map(([k, v]) => [k, typeof v === 'number' ? Math.round(v) : v])))}`)
process.exit(0)
