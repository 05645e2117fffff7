/**
 * Runs one build command isolated: bubblewrap (no network, new pid namespace, read-only
 * system, only the job directory writable, dies with its parent) under `prlimit` for the
 * resource limits, or — when bwrap is missing or cannot create namespaces here — a plain
 * spawn in its own process group, with a warning logged once.
 *
 * The child's environment is exactly the one given (never `process.env`); nothing secret
 * goes into argv. Cancelling kills the whole process tree: the sandbox's pid 1 (whose death
 * takes every process of the namespace with it) and the process group, and waits until the
 * namespace is gone.
 */
import { spawn, execFile } from 'node:child_process'
import { existsSync, lstatSync, readlinkSync, readFileSync } from 'node:fs'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Logger } from 'pino'
import { SandboxUnavailableError } from './errors.js'

/** Where the job directory appears inside the sandbox. */
export const SANDBOX_JOB_DIR = '/build'

/** `auto`: bwrap when usable, else plain spawn with a warning; `bwrap`: require it; `none`: never. */
export type Isolation = 'auto' | 'bwrap' | 'none'

export interface ResourceLimits {
  /** CPU seconds per process (RLIMIT_CPU; SIGXCPU, then SIGKILL 5 s later). */
  cpuSeconds?: number
  /** Address space per process in MiB (RLIMIT_AS). */
  memoryMiB?: number
  /** Open file descriptors per process (RLIMIT_NOFILE). */
  maxFiles?: number
}

export interface SandboxCommand {
  argv: readonly string[]
  /** The job directory on the host; bound read-write at SANDBOX_JOB_DIR under bwrap. */
  hostJobDir: string
  /** Working directory as the command sees it. */
  cwd: string
  env: Readonly<Record<string, string>>
  limits?: ResourceLimits
}

export interface CommandResult { exitCode: number | null, signal: string | null }

export interface LogLine { stream: 'stdout' | 'stderr', line: string }

/** System paths visible read-only inside the sandbox (`/etc` only in part: no secrets). */
const RO_DIRS = ['/usr', '/etc/alternatives', '/etc/ld.so.conf.d']
const RO_FILES = ['/etc/ld.so.cache', '/etc/ld.so.conf', '/etc/passwd', '/etc/group', '/etc/nsswitch.conf', '/etc/localtime']
const ROOT_LINKS = ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']

/** The bwrap arguments (without the command) for a job directory. Pure apart from probing which system paths exist. */
export function bwrapArgs (hostJobDir: string, cwd: string, infoFd?: number): string[] {
  const args = ['--unshare-all', '--die-with-parent', '--new-session']
  for (const d of RO_DIRS) if (existsSync(d)) args.push('--ro-bind', d, d)
  for (const f of RO_FILES) if (existsSync(f)) args.push('--ro-bind', f, f)
  for (const name of ROOT_LINKS) {
    const p = `/${name}`
    let st
    try { st = lstatSync(p) } catch { continue }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(p), p)
    else if (st.isDirectory()) args.push('--ro-bind', p, p)
  }
  args.push('--proc', '/proc', '--dev', '/dev', '--tmpfs', '/tmp', '--bind', hostJobDir, SANDBOX_JOB_DIR, '--chdir', cwd)
  if (infoFd !== undefined) args.push('--info-fd', String(infoFd))
  return args
}

/** `prlimit` arguments for the limits, empty when there are none. */
export function prlimitArgs (limits: ResourceLimits | undefined): string[] {
  if (limits == null) return []
  const out: string[] = []
  if (limits.cpuSeconds != null) out.push(`--cpu=${limits.cpuSeconds}:${limits.cpuSeconds + 5}`)
  if (limits.memoryMiB != null) out.push(`--as=${limits.memoryMiB * 1024 * 1024}`)
  if (limits.maxFiles != null) out.push(`--nofile=${limits.maxFiles}`)
  return out.length === 0 ? [] : ['prlimit', ...out, '--']
}

let bwrapProbe: Promise<string | undefined> | undefined
let warned = false

/**
 * Whether bwrap can build our sandbox on this machine: `undefined` when it can, otherwise
 * the reason. Probed once per process.
 */
export async function probeBwrap (): Promise<string | undefined> {
  bwrapProbe ??= (async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ctpf-build-probe-'))
    try {
      await new Promise<void>((resolve, reject) => {
        execFile('bwrap', [...bwrapArgs(dir, SANDBOX_JOB_DIR), '--', 'true'], { env: { PATH: '/usr/bin:/bin' }, timeout: 15_000 }, (err, _stdout, stderr) => {
          if (err == null) resolve()
          else reject(new Error(((err as NodeJS.ErrnoException).code === 'ENOENT' ? 'bwrap is not installed' : stderr.trim()) || err.message))
        })
      })
      return undefined
    } catch (e) {
      return e instanceof Error ? e.message : String(e)
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  })()
  return await bwrapProbe
}

/**
 * Decide the isolation to use for a build: throws `SandboxUnavailableError` when bwrap is
 * required and unusable; under `auto` warns once per process when it falls back.
 * `probe` is replaceable for tests.
 */
export async function resolveIsolation (wanted: Isolation, logger?: Logger, probe: () => Promise<string | undefined> = probeBwrap): Promise<'bwrap' | 'none'> {
  if (wanted === 'none') return 'none'
  const reason = await probe()
  if (reason === undefined) return 'bwrap'
  if (wanted === 'bwrap') throw new SandboxUnavailableError(reason)
  if (!warned) {
    warned = true
    logger?.warn({ reason }, 'bubblewrap is not usable: builds run WITHOUT isolation (network and the whole file system are reachable)')
  }
  return 'none'
}

/** Splits a byte stream into lines; very long lines are cut every `max` characters. */
class LineSplitter {
  private buf = ''
  constructor (private readonly emit: (line: string) => void, private readonly max = 16_384) {}
  push (chunk: string): void {
    this.buf += chunk
    let i: number
    while ((i = this.buf.indexOf('\n')) !== -1) {
      this.emit(this.buf.slice(0, i).replace(/\r$/, ''))
      this.buf = this.buf.slice(i + 1)
    }
    while (this.buf.length > this.max) {
      this.emit(this.buf.slice(0, this.max))
      this.buf = this.buf.slice(this.max)
    }
  }

  end (): void {
    if (this.buf !== '') this.emit(this.buf)
    this.buf = ''
  }
}

function killGroup (pid: number | undefined): void {
  if (pid === undefined) return
  try { process.kill(-pid, 'SIGKILL') } catch {}
}

function gone (pid: number): boolean {
  try {
    const status = readFileSync(`/proc/${pid}/stat`, 'utf8')
    return / [ZX] /.test(status.slice(status.lastIndexOf(')') + 1, status.lastIndexOf(')') + 4))
  } catch {
    return true
  }
}

async function waitGone (pid: number, ms: number): Promise<void> {
  const until = Date.now() + ms
  while (!gone(pid) && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 20))
}

/**
 * Run one command. Resolves with its exit status (also when non-zero); rejects only when it
 * cannot be started. When `signal` fires the process tree is killed and the promise
 * resolves after it is gone (the caller reads `signal.reason`).
 */
export async function runCommand (cmd: SandboxCommand, isolation: 'bwrap' | 'none', onLine: (l: LogLine) => void, signal: AbortSignal): Promise<CommandResult> {
  const sandboxed = isolation === 'bwrap'
  const argv = [
    ...prlimitArgs(cmd.limits),
    ...(sandboxed ? ['bwrap', ...bwrapArgs(cmd.hostJobDir, cmd.cwd, 3), '--'] : []),
    ...cmd.argv
  ]
  const child = spawn(argv[0], argv.slice(1), {
    cwd: sandboxed ? cmd.hostJobDir : cmd.cwd,
    env: { ...cmd.env },
    stdio: sandboxed ? ['ignore', 'pipe', 'pipe', 'pipe'] : ['ignore', 'pipe', 'pipe'],
    detached: true
  })
  let innerPid: number | undefined
  if (sandboxed) {
    let info = ''
    const infoStream = child.stdio[3] as NodeJS.ReadableStream | null
    infoStream?.setEncoding('utf8')
    infoStream?.on('data', (d: string) => {
      info += d
      const m = /"child-pid"\s*:\s*(\d+)/.exec(info)
      if (m != null) innerPid = Number(m[1])
    })
    infoStream?.on('error', () => {})
  }
  const out = new LineSplitter(line => onLine({ stream: 'stdout', line }))
  const err = new LineSplitter(line => onLine({ stream: 'stderr', line }))
  child.stdout?.setEncoding('utf8').on('data', (d: string) => out.push(d))
  child.stderr?.setEncoding('utf8').on('data', (d: string) => err.push(d))

  const kill = (): void => {
    killGroup(child.pid)
    if (innerPid !== undefined) try { process.kill(innerPid, 'SIGKILL') } catch {}
  }
  const onAbort = (): void => kill()
  signal.addEventListener('abort', onAbort, { once: true })
  if (signal.aborted) kill()

  try {
    const result = await new Promise<CommandResult>((resolve, reject) => {
      child.once('error', reject)
      child.once('exit', (code, sig) => resolve({ exitCode: code, signal: sig }))
    })
    // background processes the command left behind die with it
    killGroup(child.pid)
    if (innerPid !== undefined) {
      try { process.kill(innerPid, 'SIGKILL') } catch {}
      await waitGone(innerPid, 5000)
    }
    await Promise.race([
      Promise.all([child.stdout, child.stderr].map(async s => await new Promise<void>(resolve => {
        if (s == null || s.readableEnded || s.destroyed) resolve()
        else { s.once('end', () => resolve()); s.once('close', () => resolve()) }
      }))),
      new Promise(resolve => setTimeout(resolve, 2000).unref())
    ])
    child.stdout?.destroy()
    child.stderr?.destroy()
    ;(child.stdio[3] as NodeJS.ReadableStream & { destroy?: () => void } | null)?.destroy?.()
    out.end()
    err.end()
    return result
  } finally {
    signal.removeEventListener('abort', onAbort)
  }
}
