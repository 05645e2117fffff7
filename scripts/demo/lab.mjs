/**
 * The demo's lab: network namespaces, veth links, bridges, taps and the processes running in
 * them, all named `ctpfdemo-<run>-…`, plus one temp dir `ctpf-demo-<run>-…`. Everything made
 * here is undone by `cleanup()` (async, polite: SIGTERM, then SIGKILL) or `cleanupSync()` (for
 * the `exit` hook). `sweepStale()` removes what an earlier run that was killed outright
 * (SIGKILL) left behind — only namespaces and temp dirs of runs whose process is gone.
 *
 * Programs run with argument arrays (spawn/execFile), never shell strings.
 *
 * @example
 * const lab = await Lab.create()
 * const wan = await lab.addNs('wan')
 * const p = lab.spawn(wan, ['sleep', '60'], { name: 'sleeper' })
 * await lab.cleanup()
 */
import { execFile, execFileSync, spawn } from 'node:child_process'
import { createWriteStream, mkdtempSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const NS_PREFIX = 'ctpfdemo-'
export const TMP_PREFIX = 'ctpf-demo-'

/** Runs a program (argument array); resolves to `{ code, stdout, stderr }`, never rejects on a non-zero exit. */
export async function run (argv, { timeoutMs = 30_000, env } = {}) {
  return await new Promise(resolve => {
    execFile(argv[0], argv.slice(1), { timeout: timeoutMs, maxBuffer: 64 << 20, env: env ?? process.env }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof err.code === 'number' ? err.code : null
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err != null && code === null ? `${err.message}\n` : '') })
    })
  })
}

/** Runs a program and rejects (with its stderr) unless it exits 0; resolves to stdout. */
export async function must (argv, opts) {
  const r = await run(argv, opts)
  if (r.code !== 0) throw new Error(`${argv.join(' ')} exited ${String(r.code)}: ${(r.stderr || r.stdout).trim().slice(-2000)}`)
  return r.stdout
}

const isAlive = pid => { try { process.kill(pid, 0); return true } catch (err) { return err.code === 'EPERM' } }

/** A process of the lab: output kept (tail in memory, all of it in a log file). */
export class LabProcess {
  constructor (name, argv, logFile) {
    this.name = name
    this.argv = argv
    this.text = ''
    this.listeners = new Set()
    this.log = logFile !== undefined ? createWriteStream(logFile, { flags: 'w' }) : undefined
    this.child = spawn(argv[0], argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    const take = s => {
      this.text = (this.text + s).slice(-256 * 1024)
      this.log?.write(s)
      for (const l of this.listeners) l()
    }
    this.child.stdout.setEncoding('latin1').on('data', take)
    this.child.stderr.setEncoding('latin1').on('data', take)
    this.exit = undefined
    this.exited = new Promise(resolve => {
      this.child.once('exit', (code, signal) => { this.exit = { code, signal }; this.log?.end(); resolve(this.exit); for (const l of this.listeners) l() })
      this.child.once('error', err => { take(`spawn error: ${err.message}\n`); this.exit = { code: null, signal: null }; resolve(this.exit) })
    })
  }

  get running () { return this.exit === undefined }

  /** Resolves with the first match of `re` in the output; rejects on timeout, exit or abort. */
  async waitFor (re, { timeoutMs = 30_000, signal } = {}) {
    return await new Promise((resolve, reject) => {
      const check = () => {
        const m = re.exec(this.text)
        if (m !== null) { done(); resolve(m); return }
        if (!this.running) { done(); reject(new Error(`${this.name} exited (${JSON.stringify(this.exit)}) before ${String(re)}:\n${this.text.slice(-2000)}`)) }
      }
      const onAbort = () => { done(); reject(signal.reason ?? new Error('aborted')) }
      const timer = setTimeout(() => { done(); reject(new Error(`${this.name}: no ${String(re)} in ${timeoutMs} ms:\n${this.text.slice(-2000)}`)) }, timeoutMs)
      const done = () => { clearTimeout(timer); this.listeners.delete(check); signal?.removeEventListener('abort', onAbort) }
      signal?.addEventListener('abort', onAbort, { once: true })
      this.listeners.add(check)
      check()
    })
  }

  async stop (graceMs = 4000) {
    if (!this.running) return
    this.child.kill('SIGTERM')
    const t = setTimeout(() => { this.child.kill('SIGKILL') }, graceMs)
    await this.exited
    clearTimeout(t)
  }
}

export class Lab {
  /** @param {string} runId a short id of this run (the pid in base 36) */
  constructor (runId) {
    this.runId = runId
    this.namespaces = []
    this.procs = []
    this.cleaned = false
    this.closing = false
    this.tmp = mkdtempSync(join(tmpdir(), `${TMP_PREFIX}${runId}-`))
  }

  static async create () {
    return new Lab(process.pid.toString(36))
  }

  /** The full name of the lab's namespace `name`. */
  nsName (name) { return `${NS_PREFIX}${this.runId}-${name}` }

  async addNs (name) {
    if (this.closing) throw new Error('the lab is being cleaned up')
    const ns = this.nsName(name)
    await must(['ip', 'netns', 'add', ns])
    this.namespaces.push(ns)
    await must(['ip', '-n', ns, 'link', 'set', 'lo', 'up'])
    return ns
  }

  /** A veth pair from `a`/`ifA` to `b`/`ifB`, both ends up (created directly in their namespaces). */
  async veth (a, ifA, b, ifB) {
    await must(['ip', 'link', 'add', ifA, 'netns', a, 'type', 'veth', 'peer', 'name', ifB, 'netns', b])
    await must(['ip', '-n', a, 'link', 'set', ifA, 'up'])
    await must(['ip', '-n', b, 'link', 'set', ifB, 'up'])
  }

  /** A bridge in `ns` that forwards at once (no STP listening delay). */
  async bridge (ns, name) {
    await must(['ip', '-n', ns, 'link', 'add', name, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0'])
    await must(['ip', '-n', ns, 'link', 'set', name, 'up'])
  }

  async enslave (ns, ifName, bridge) { await must(['ip', '-n', ns, 'link', 'set', ifName, 'master', bridge]) }

  async addr (ns, ifName, cidr) { await must(['ip', '-n', ns, 'addr', 'add', cidr, 'dev', ifName]) }

  /** A persistent tap on `bridge` in `ns` (removed with the namespace). */
  async tap (ns, name, bridge) {
    await must(['ip', '-n', ns, 'tuntap', 'add', 'dev', name, 'mode', 'tap'])
    await this.enslave(ns, name, bridge)
    await must(['ip', '-n', ns, 'link', 'set', name, 'up'])
  }

  /** `argv` run inside `ns`. */
  inNs (ns, argv) { return ['ip', 'netns', 'exec', ns, ...argv] }

  async exec (ns, argv, opts) { return await run(this.inNs(ns, argv), opts) }
  async mustIn (ns, argv, opts) { return await must(this.inNs(ns, argv), opts) }

  /** Starts `argv` in `ns`; its output goes to `<logDir>/<name>.log` when a log dir is given. */
  spawn (ns, argv, { name, logDir } = {}) {
    if (this.closing) throw new Error('the lab is being cleaned up')
    const p = new LabProcess(name ?? argv[0], this.inNs(ns, argv), logDir !== undefined ? join(logDir, `${name ?? 'proc'}.log`) : undefined)
    this.procs.push(p)
    return p
  }

  /** A fresh directory inside the lab's temp dir. */
  dir (name) {
    const d = join(this.tmp, name)
    execFileSync('mkdir', ['-p', d])
    return d
  }

  /** Stops every process (SIGTERM, then SIGKILL), then removes the namespaces and the temp dir. */
  async cleanup () {
    if (this.closing) return { namespaces: 0, processes: 0 }
    this.closing = true
    const procs = this.procs.splice(0).reverse()
    const processes = procs.filter(p => p.running).length
    await Promise.all(procs.map(async p => { await p.stop().catch(() => {}) }))
    const namespaces = this.namespaces.length
    this.cleanupSync()
    return { namespaces, processes }
  }

  /** The same without waiting: SIGKILL whatever still runs in the namespaces, delete them, remove the temp dir. */
  cleanupSync () {
    if (this.cleaned) return
    this.cleaned = true
    this.closing = true
    for (const p of this.procs.splice(0)) { try { p.child.kill('SIGKILL') } catch {} }
    for (const ns of this.namespaces.splice(0).reverse()) removeNamespace(ns)
    try { rmSync(this.tmp, { recursive: true, force: true }) } catch {}
  }
}

function removeNamespace (ns) {
  const quiet = { stdio: 'ignore', timeout: 10_000 }
  try {
    const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }).split(/\s+/).filter(Boolean)
    for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
  } catch {}
  try { execFileSync('ip', ['netns', 'del', ns], quiet) } catch {}
}

/**
 * Removes the namespaces and temp dirs of earlier demo runs whose process is gone (a run killed
 * with SIGKILL cannot clean up after itself). Returns what it removed.
 */
export function sweepStale () {
  const removed = []
  let names = []
  try { names = execFileSync('ip', ['netns', 'list'], { encoding: 'utf8', timeout: 10_000 }).split('\n').map(l => l.split(' ')[0]).filter(Boolean) } catch {}
  for (const ns of names) {
    const m = new RegExp(`^${NS_PREFIX}([0-9a-z]+)-(wan|relay|dc\\d+|dc\\d+-lan)$`).exec(ns)
    if (m === null) continue
    const pid = parseInt(m[1], 36)
    if (pid === process.pid || isAlive(pid)) continue
    removeNamespace(ns)
    removed.push(ns)
  }
  for (const d of readdirSync(tmpdir())) {
    const m = new RegExp(`^${TMP_PREFIX}([0-9a-z]+)-[A-Za-z0-9]{6}$`).exec(d)
    if (m === null) continue
    const pid = parseInt(m[1], 36)
    if (pid === process.pid || isAlive(pid)) continue
    try { rmSync(join(tmpdir(), d), { recursive: true, force: true }); removed.push(join(tmpdir(), d)) } catch {}
  }
  return removed
}
