// The overlay bench's lab: network namespaces (`ctpfnb<tag><name>`), veth links (`ctpfnb<tag><n>a|b`),
// processes run inside them, temp dirs (`ctpf-nb-*`). Everything is tracked and removed by
// `destroyAll()` (called on exit, SIGINT, SIGTERM and crashes by overlay.mjs).
// Argument arrays only; nothing here touches a namespace, process or directory it did not make.
import { execFile, execFileSync, spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const TAG = (process.pid % 1296).toString(36).padStart(2, '0')
const namespaces = new Set()
const procs = new Set()
const dirs = new Set()
const keptDirs = new Set()
let links = 0

/** Runs a program; resolves with { code, stdout, stderr } (never rejects). */
export function run (cmd, args, timeoutMs = 30_000, env = undefined) {
  return new Promise(resolve => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 64 << 20, env: env ?? process.env }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err != null && code === null ? String(err.message) : '') })
    })
  })
}

/** Same, throwing on a non-zero exit. */
export async function must (cmd, args, timeoutMs) {
  const r = await run(cmd, args, timeoutMs)
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`)
  return r.stdout
}

export const inNs = (ns, argv, timeoutMs = 30_000, env) => run('ip', ['netns', 'exec', ns, ...argv], timeoutMs, env)
export const mustIn = (ns, argv, timeoutMs) => must('ip', ['netns', 'exec', ns, ...argv], timeoutMs)

/** A temp dir removed by `destroyScenario()`, or (`keep`) only by `destroyAll()`. */
export function tempDir (what, keep = false) {
  const d = mkdtempSync(join(tmpdir(), `ctpf-nb-${what}-`))
  ;(keep ? keptDirs : dirs).add(d)
  return d
}

export async function addNs (name) {
  const ns = `ctpfnb${TAG}${name}`
  await must('ip', ['netns', 'add', ns])
  namespaces.add(ns)
  await must('ip', ['-n', ns, 'link', 'set', 'lo', 'up'])
  return ns
}

/** A veth between two namespaces with an address on each end; resolves to the two device names. */
export async function link (nsA, ipA, nsB, ipB, prefix = 24) {
  const n = links++
  const ia = `ctpfnb${TAG}${n}a`
  const ib = `ctpfnb${TAG}${n}b`
  await must('ip', ['link', 'add', ia, 'netns', nsA, 'type', 'veth', 'peer', 'name', ib, 'netns', nsB])
  await must('ip', ['-n', nsA, 'addr', 'add', `${ipA}/${prefix}`, 'dev', ia])
  await must('ip', ['-n', nsB, 'addr', 'add', `${ipB}/${prefix}`, 'dev', ib])
  await must('ip', ['-n', nsA, 'link', 'set', ia, 'up'])
  await must('ip', ['-n', nsB, 'link', 'set', ib, 'up'])
  return [ia, ib]
}

/** Bytes received + sent on a device in a namespace. */
export async function devBytes (ns, dev) {
  const j = JSON.parse(await must('ip', ['-n', ns, '-j', '-s', 'link', 'show', 'dev', dev]))
  const s = j[0].stats64 ?? j[0].stats
  return s.rx.bytes + s.tx.bytes
}

/**
 * A process inside a namespace (`ip netns exec` execs it: the pid is the program's own).
 * Keeps the last 256 KiB of its stdout+stderr.
 */
export function spawnIn (ns, argv, env = undefined) {
  const child = spawn('ip', ['netns', 'exec', ns, ...argv], { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env })
  const p = { ns, argv, child, pid: child.pid, text: '', listeners: new Set() }
  const take = s => {
    p.text += s
    if (p.text.length > 262144) p.text = p.text.slice(-131072)
    for (const l of p.listeners) l()
  }
  child.stdout.setEncoding('utf8').on('data', take)
  child.stderr.setEncoding('utf8').on('data', take)
  child.once('error', err => take(`spawn error: ${err.message}\n`))
  p.exited = new Promise(resolve => child.once('exit', code => { procs.delete(p); resolve(code); for (const l of p.listeners) l() }))
  p.running = () => child.exitCode === null && child.signalCode === null
  p.waitFor = (re, ms = 10_000) => new Promise((resolve, reject) => {
    const check = () => {
      const m = re.exec(p.text)
      if (m !== null) { done(); resolve(m); return }
      if (!p.running()) { done(); reject(new Error(`${argv.join(' ')} (in ${ns}) exited before ${re}:\n${p.text.slice(-3000)}`)) }
    }
    const timer = setTimeout(() => { done(); reject(new Error(`${argv.join(' ')} (in ${ns}): no ${re} in ${ms} ms:\n${p.text.slice(-3000)}`)) }, ms)
    const done = () => { clearTimeout(timer); p.listeners.delete(check) }
    p.listeners.add(check)
    check()
  })
  p.stop = async () => {
    if (!p.running()) return
    child.kill('SIGTERM')
    const t = setTimeout(() => { try { child.kill('SIGKILL') } catch {} }, 3000)
    await p.exited
    clearTimeout(t)
  }
  procs.add(p)
  return p
}

/** CPU seconds (user+system) used so far by a process. */
export function cpuSeconds (pid) {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ')
    return (Number(f[11]) + Number(f[12])) / 100
  } catch { return NaN }
}

/** Busy CPU seconds of the whole machine so far (all cores). */
export function machineBusy () {
  const c = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number)
  return (c.slice(0, 8).reduce((x, y) => x + y, 0) - c[3] - c[4]) / 100
}

/** Removes one namespace after killing what runs in it (only processes of our own namespaces). */
export function delNs (ns) {
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }).split(/\s+/).filter(Boolean)
    for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
  } catch {}
  try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 }) } catch {}
  namespaces.delete(ns)
}

/** What one scenario made: processes, namespaces (their veths go with them), temp dirs. */
export function destroyScenario () {
  for (const p of procs) { try { p.child.kill('SIGKILL') } catch {} }
  procs.clear()
  for (const ns of [...namespaces]) delNs(ns)
  for (const d of dirs) { try { rmSync(d, { recursive: true, force: true }) } catch {} }
  dirs.clear()
}

/** Everything this lab made, kept dirs too. */
export function destroyAll () {
  destroyScenario()
  // a link (node_modules) is removed as a link first, never followed
  for (const d of keptDirs) { try { rmSync(join(d, 'node_modules'), { force: true }) } catch {} try { rmSync(d, { recursive: true, force: true }) } catch {} }
  keptDirs.clear()
}

export async function sleep (ms) { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Polls `fn` until it returns a truthy value; throws `timed out: what` after `timeoutMs`. */
export async function until (what, fn, timeoutMs = 30_000, intervalMs = 300) {
  const end = Date.now() + timeoutMs
  let last
  while (Date.now() < end) {
    try { const v = await fn(); if (v) return v } catch (err) { last = err }
    await sleep(intervalMs)
  }
  throw new Error(`timed out waiting for ${what}${last ? ` (last error: ${last.message})` : ''}`)
}
