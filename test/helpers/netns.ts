/**
 * Network segments for privileged tests: a LAN namespace holding a bridge (machines attach
 * taps to it) and a server side joined to the bridge by a veth — either its own namespace
 * (default) or the host namespace (opt-in, for a server that must run unwrapped).
 *
 * Everything made here has a unique name and is removed by `destroy()`; a process `exit` hook
 * removes what a crashed test left. Nothing outside what this module created is touched.
 *
 * @example
 * const seg = await Segment.create()
 * const tap = await seg.addTap()
 * const server = seg.spawnServer(['dnsmasq', '--no-daemon', …])
 * …
 * await seg.destroy()
 */
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'

const run = promisify(execFile)

/** Runs a program with an argument array (never a shell string); resolves to stdout. */
export async function sh (cmd: string, args: string[], timeoutMs = 20_000): Promise<string> {
  const { stdout } = await run(cmd, args, { timeout: timeoutMs })
  return stdout
}

/** `ip …` with an argument array. */
export async function ip (...args: string[]): Promise<string> { return await sh('ip', args) }

/** A short unique tag for names (interface names are at most 15 characters). */
export function uniqueTag (): string {
  return `${(process.pid % 1296).toString(36).padStart(2, '0')}${Math.floor(Math.random() * 36 ** 4).toString(36).padStart(4, '0')}`
}

/** A process with its stdout+stderr kept for assertions and error messages. */
export class NsProcess {
  readonly output: string[] = []
  readonly exited: Promise<number | null>
  private readonly listeners = new Set<() => void>()
  constructor (readonly argv: string[], readonly child: ChildProcess) {
    const take = (s: string): void => { this.output.push(s); for (const l of this.listeners) l() }
    child.stdout?.setEncoding('utf8').on('data', take)
    child.stderr?.setEncoding('utf8').on('data', take)
    this.exited = new Promise(resolve => child.once('exit', code => { resolve(code); for (const l of this.listeners) l() }))
    child.once('error', err => take(`spawn error: ${err.message}\n`))
  }

  static spawn (argv: string[]): NsProcess {
    return new NsProcess(argv, spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  get text (): string { return this.output.join('') }
  get running (): boolean { return this.child.exitCode === null && this.child.signalCode === null }

  /** Resolves with the first match of `re` in the output; rejects on timeout or exit. */
  async waitForOutput (re: RegExp, ms = 10_000): Promise<RegExpExecArray> {
    return await new Promise((resolve, reject) => {
      const check = (): void => {
        const m = re.exec(this.text)
        if (m !== null) { done(); resolve(m); return }
        if (!this.running) { done(); reject(new Error(`${this.argv.join(' ')} exited before ${String(re)}:\n${this.text.slice(-3000)}`)) }
      }
      const timer = setTimeout(() => { done(); reject(new Error(`${this.argv.join(' ')}: no ${String(re)} in ${ms} ms:\n${this.text.slice(-3000)}`)) }, ms)
      const done = (): void => { clearTimeout(timer); this.listeners.delete(check) }
      this.listeners.add(check)
      check()
    })
  }

  async stop (): Promise<void> {
    if (!this.running) return
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000)
    await this.exited
    clearTimeout(t)
  }
}

export interface SegmentOptions {
  /** Where the server end of the veth lives: a namespace of its own (default) or the host. */
  server?: 'netns' | 'host'
  /** First three octets of the segment's /24, e.g. `10.244.7`; random in 10.240–10.247 otherwise. */
  net?: string
}

// Every live segment, so an `exit` hook can remove what a crashed test left behind.
const live = new Set<Segment>()
let exitHookInstalled = false
function installExitHook (): void {
  if (exitHookInstalled) return
  exitHookInstalled = true
  const sweep = (): void => { for (const s of live) s.destroySync() }
  process.once('exit', sweep)
  // on a signal, clean up; then, if nobody else handles it, die of it as we would have
  for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.once(sig, () => {
      sweep()
      if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
    })
  }
}

/**
 * A LAN: namespace `ns` with bridge `bridge` (no address of its own, IPv6 link-local only),
 * and a server interface `serverIf` at `${net}.2/24` joined to it by a veth.
 */
export class Segment {
  readonly tag: string
  readonly ns: string
  readonly bridge: string
  readonly net: string
  readonly serverAddress: string
  /** The server's namespace, or undefined when the server side is the host namespace. */
  readonly serverNs: string | undefined
  readonly serverIf: string
  /** A ULA /64 for radvd: `${prefix6}::/64`. */
  readonly prefix6: string
  private readonly lanIf: string
  private readonly taps: string[] = []
  private readonly procs: NsProcess[] = []
  private readonly tmpDirs: string[] = []
  private created: { ns: boolean, serverNs: boolean, hostVeth: boolean } = { ns: false, serverNs: false, hostVeth: false }

  private constructor (opts: SegmentOptions) {
    this.tag = uniqueTag()
    this.ns = `ctpf-lan-${this.tag}`
    this.bridge = `br${this.tag}`
    this.lanIf = `vl${this.tag}`
    this.serverIf = `vs${this.tag}`
    this.serverNs = opts.server === 'host' ? undefined : `ctpf-srv-${this.tag}`
    this.net = opts.net ?? `10.${240 + Math.floor(Math.random() * 8)}.${Math.floor(Math.random() * 250) + 1}`
    this.serverAddress = `${this.net}.2`
    this.prefix6 = `fd63:7470:${Math.floor(Math.random() * 0xffff).toString(16)}:1`
  }

  static async create (opts: SegmentOptions = {}): Promise<Segment> {
    const seg = new Segment(opts)
    if (opts.server === 'host') await seg.checkHostSubnetFree()
    installExitHook()
    live.add(seg)
    try {
      await seg.setUp()
    } catch (err) {
      await seg.destroy()
      throw err
    }
    return seg
  }

  private async checkHostSubnetFree (): Promise<void> {
    const routes = await ip('-4', 'route', 'show', 'table', 'all')
    if (routes.includes(`${this.net}.`)) throw new Error(`segment subnet ${this.net}.0/24 is already routed on the host`)
  }

  private async setUp (): Promise<void> {
    await ip('netns', 'add', this.ns)
    this.created.ns = true
    await ip('-n', this.ns, 'link', 'set', 'lo', 'up')
    // no duplicate-address wait on the bridge, so radvd can start at once
    await sh('ip', ['netns', 'exec', this.ns, 'sysctl', '-qw', 'net.ipv6.conf.default.accept_dad=0', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.all.forwarding=1'])
    // forward_delay 0: a new tap forwards at once instead of after 15 s of STP listening
    await ip('-n', this.ns, 'link', 'add', this.bridge, 'type', 'bridge', 'forward_delay', '0', 'stp_state', '0')
    await ip('-n', this.ns, 'link', 'set', this.bridge, 'up')
    if (this.serverNs !== undefined) {
      await ip('netns', 'add', this.serverNs)
      this.created.serverNs = true
      await ip('-n', this.serverNs, 'link', 'set', 'lo', 'up')
      await ip('link', 'add', this.serverIf, 'netns', this.serverNs, 'type', 'veth', 'peer', 'name', this.lanIf, 'netns', this.ns)
    } else {
      await ip('link', 'add', this.serverIf, 'type', 'veth', 'peer', 'name', this.lanIf, 'netns', this.ns)
      this.created.hostVeth = true
    }
    await ip('-n', this.ns, 'link', 'set', this.lanIf, 'master', this.bridge)
    await ip('-n', this.ns, 'link', 'set', this.lanIf, 'up')
    await ip(...this.serverIp('addr', 'add', `${this.serverAddress}/24`, 'dev', this.serverIf))
    await ip(...this.serverIp('link', 'set', this.serverIf, 'up'))
  }

  private serverIp (...args: string[]): string[] {
    return this.serverNs === undefined ? args : ['-n', this.serverNs, ...args]
  }

  /** `argv` run in the server namespace (unchanged for a host-side server). */
  serverArgv (argv: string[]): string[] {
    return this.serverNs === undefined ? argv : ['ip', 'netns', 'exec', this.serverNs, ...argv]
  }

  /** `argv` run in the LAN namespace (where the bridge and the taps are). */
  lanArgv (argv: string[]): string[] { return ['ip', 'netns', 'exec', this.ns, ...argv] }

  /** Spawns a process on the server side; it is stopped by `destroy()`. */
  spawnServer (argv: string[]): NsProcess { return this.track(NsProcess.spawn(this.serverArgv(argv))) }

  /** Spawns a process in the LAN namespace; it is stopped by `destroy()`. */
  spawnLan (argv: string[]): NsProcess { return this.track(NsProcess.spawn(this.lanArgv(argv))) }

  private tapSeq = 0
  private track (p: NsProcess): NsProcess { this.procs.push(p); return p }

  /** A temp dir removed by `destroy()`. */
  async tempDir (prefix = 'ctpf-seg-'): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), prefix))
    this.tmpDirs.push(d)
    return d
  }

  /** A persistent tap in the LAN namespace, on the bridge and up; removed by `destroy()` or `removeTap()`. */
  async addTap (name = `tp${this.tag}${(this.tapSeq++).toString(36)}`): Promise<string> {
    // the name is taken before the first await: machines started together get different taps
    this.taps.push(name)
    await ip('-n', this.ns, 'tuntap', 'add', 'dev', name, 'mode', 'tap')
    await ip('-n', this.ns, 'link', 'set', name, 'master', this.bridge)
    await ip('-n', this.ns, 'link', 'set', name, 'up')
    return name
  }

  async removeTap (name: string): Promise<void> {
    const i = this.taps.indexOf(name)
    if (i === -1) return
    this.taps.splice(i, 1)
    await ip('-n', this.ns, 'link', 'del', name).catch(() => {})
  }

  /**
   * radvd on the bridge, announcing `${prefix6}::/64` (not as a default router). Debian's 2019
   * iPXE waits ~16 s for a Router Advertisement on every network setup unless one comes.
   */
  async startRadvd (): Promise<NsProcess> {
    await ip('-n', this.ns, '-6', 'addr', 'add', `${this.prefix6}::1/64`, 'dev', this.bridge, 'nodad')
    const dir = await this.tempDir('ctpf-radvd-')
    const conf = join(dir, 'radvd.conf')
    await writeFile(conf, [
      `interface ${this.bridge} {`,
      '  AdvSendAdvert on;',
      '  MinRtrAdvInterval 3;',
      '  MaxRtrAdvInterval 10;',
      '  AdvDefaultLifetime 0;',
      `  prefix ${this.prefix6}::/64 { AdvOnLink on; AdvAutonomous on; };`,
      '};', ''
    ].join('\n'))
    const p = this.spawnLan(['radvd', '--nodaemon', '--logmethod', 'stderr', '--config', conf, '--pidfile', join(dir, 'pid')])
    // radvd says nothing when all is well; give it a moment to fail loudly instead
    await new Promise(resolve => setTimeout(resolve, 300))
    if (!p.running) throw new Error(`radvd exited: ${p.text}`)
    return p
  }

  async destroy (): Promise<void> {
    for (const p of this.procs.splice(0).reverse()) await p.stop().catch(() => {})
    for (const t of this.taps.splice(0)) await ip('-n', this.ns, 'link', 'del', t).catch(() => {})
    this.destroySync()
    for (const d of this.tmpDirs.splice(0)) await rm(d, { recursive: true, force: true }).catch(() => {})
  }

  /** Synchronous teardown for the `exit` hook: kill what runs inside, delete what we made. */
  destroySync (): void {
    live.delete(this)
    const quiet = { stdio: 'ignore' as const, timeout: 10_000 }
    for (const [ns, made] of [[this.serverNs, this.created.serverNs], [this.ns, this.created.ns]] as const) {
      if (ns === undefined || !made) continue
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }).split(/\s+/).filter(Boolean)
        for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
      } catch {}
      try { execFileSync('ip', ['netns', 'del', ns], quiet) } catch {}
    }
    // a host-side veth end goes away with its peer's namespace; delete it in case it did not
    if (this.created.hostVeth) { try { execFileSync('ip', ['link', 'del', this.serverIf], quiet) } catch {} }
    this.created = { ns: false, serverNs: false, hostVeth: false }
  }
}
