/**
 * Privileged test plumbing: network namespaces, the DHCP server as a separate process inside
 * one (compiled on the fly from this tree), and small process helpers.
 *
 * Node cannot enter a network namespace, so the server runs as `ip netns exec <ns> node
 * server-child.mjs`; it reports events, metrics and leases as JSON lines on stdout.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import { chmod, mkdir, mkdtemp, readdir, readFile, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'
import ts from 'typescript'

const run = promisify(execFile)
const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')

export async function sh (cmd: string, args: string[]): Promise<string> {
  const { stdout } = await run(cmd, args, { timeout: 20_000 })
  return stdout
}

/** Runs `ip` with an argument array; never a shell string. */
export async function ip (...args: string[]): Promise<string> { return await sh('ip', args) }

/** A short unique tag for interface and namespace names (interface names max 15 chars). */
export function uniqueTag (): string {
  return `${(process.pid % 1000).toString(36)}${Math.floor(Math.random() * 36 ** 3).toString(36)}`
}

/** Namespaces created through this list are deleted by `destroy()`, whatever happened. */
export class Namespaces {
  private readonly names: string[] = []
  async add (name: string): Promise<string> {
    await ip('netns', 'add', name)
    this.names.push(name)
    await ip('-n', name, 'link', 'set', 'lo', 'up')
    return name
  }

  async destroy (): Promise<void> {
    for (const n of this.names.splice(0).reverse()) {
      // kill anything still running inside, then delete (veths in it go with it)
      try { await sh('ip', ['netns', 'pids', n]).then(async out => { for (const pid of out.split(/\s+/).filter(Boolean)) { try { process.kill(Number(pid), 'SIGKILL') } catch {} } }) } catch {}
      try { await ip('netns', 'del', n) } catch {}
    }
  }
}

/** A veth pair with each end moved into a namespace, addressed (or not) and up. */
export async function vethPair (a: { ns: string, name: string, cidr?: string, mac?: string }, b: { ns: string, name: string, cidr?: string, mac?: string }): Promise<void> {
  await ip('link', 'add', a.name, 'netns', a.ns, 'type', 'veth', 'peer', 'name', b.name, 'netns', b.ns)
  for (const end of [a, b]) {
    if (end.mac !== undefined) await ip('-n', end.ns, 'link', 'set', end.name, 'address', end.mac)
    if (end.cidr !== undefined) await ip('-n', end.ns, 'addr', 'add', end.cidr, 'dev', end.name)
    await ip('-n', end.ns, 'link', 'set', end.name, 'up')
  }
}

let compiled: Promise<string> | undefined

/**
 * Transpiles the DHCP modules of this tree (codec, server, lease store) to ESM in a temp dir
 * readable by any user, with `server-child.mjs` beside them. Cached per test file.
 */
export async function compiledDhcp (): Promise<string> {
  compiled ??= (async () => {
    const out = await mkdtemp(join(tmpdir(), 'ctpf-dhcp-js-'))
    const dirs = ['protocols/dhcp', 'roles/distributor/dhcp']
    const files = ['store/leases.ts']
    for (const d of dirs) for (const f of await readdir(join(ROOT, d))) if (f.endsWith('.ts')) files.push(`${d}/${f}`)
    for (const f of files) {
      const src = await readFile(join(ROOT, f), 'utf8')
      const js = ts.transpileModule(src, { compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 } }).outputText
      await mkdir(join(out, dirname(f)), { recursive: true })
      await writeFile(join(out, f.replace(/\.ts$/, '.js')), js)
    }
    await writeFile(join(out, 'package.json'), '{"type":"module"}\n')
    await symlink(join(ROOT, 'node_modules'), join(out, 'node_modules'))
    await writeFile(join(out, 'server-child.mjs'), SERVER_CHILD)
    await sh('chmod', ['-R', 'a+rX', out])
    await chmod(out, 0o755)
    return out
  })()
  return await compiled
}

export async function removeCompiled (): Promise<void> {
  if (compiled === undefined) return
  const dir = await compiled.catch(() => undefined)
  compiled = undefined
  if (dir !== undefined) await rm(dir, { recursive: true, force: true })
}

const SERVER_CHILD = `
import { readFileSync } from 'node:fs'
import pino from 'pino'
import { createDhcpServer } from './roles/distributor/dhcp/index.js'
import { LevelLeaseStore, MemoryLeaseStore } from './store/leases.js'

const { config, leasePath } = JSON.parse(readFileSync(process.argv[2], 'utf8'))
const out = o => process.stdout.write(JSON.stringify(o) + '\\n')
const store = leasePath ? new LevelLeaseStore(leasePath) : new MemoryLeaseStore()
const server = createDhcpServer(config, { logger: pino({ level: 'warn' }, pino.destination(2)), leaseStore: store })
for (const event of ['host:sighted', 'lease:granted', 'lease:released', 'lease:expired']) server.on(event, data => out({ event, data }))
try {
  await server.start()
} catch (err) {
  out({ error: { code: err.code, name: err.name, message: err.message } })
  process.exit(3)
}
out({ ready: true })
setInterval(() => out({ metrics: server.metrics, leases: server.leases() }), 100)
process.on('SIGTERM', async () => {
  await server.stop()
  await store.close()
  out({ stopped: true })
  process.exit(0)
})
`

export interface ChildLine {
  ready?: boolean
  stopped?: boolean
  error?: { code: string, name: string, message: string }
  event?: string
  data?: any
  metrics?: Record<string, number>
  leases?: Array<{ ip: string, mac: string, state: string, expiresAt: number, hostname?: string }>
}

/** The DHCP server running in its own process (optionally inside a namespace, optionally as another user). */
export class ServerProcess {
  readonly lines: ChildLine[] = []
  readonly stderr: string[] = []
  private readonly exited: Promise<number | null>
  private constructor (readonly child: ChildProcess) {
    let buf = ''
    child.stdout?.setEncoding('utf8').on('data', (s: string) => {
      buf += s
      let i
      while ((i = buf.indexOf('\n')) !== -1) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        try { this.lines.push(JSON.parse(line) as ChildLine) } catch { this.stderr.push(line) }
      }
    })
    child.stderr?.setEncoding('utf8').on('data', (s: string) => { this.stderr.push(s) })
    this.exited = new Promise(resolve => child.once('exit', code => resolve(code)))
  }

  /** Starts the server; resolves once it is listening (or reports its start error). */
  static async start (opts: { ns?: string, asUser?: number, config: unknown, leasePath?: string }): Promise<ServerProcess> {
    const dir = await compiledDhcp()
    const cfgDir = await mkdtemp(join(tmpdir(), 'ctpf-dhcp-cfg-'))
    await chmod(cfgDir, 0o755)
    const cfgFile = join(cfgDir, 'config.json')
    await writeFile(cfgFile, JSON.stringify({ config: opts.config, leasePath: opts.leasePath }))
    await chmod(cfgFile, 0o644)
    let argv = [process.execPath, join(dir, 'server-child.mjs'), cfgFile]
    if (opts.asUser !== undefined) argv = ['setpriv', `--reuid=${opts.asUser}`, `--regid=${opts.asUser}`, '--clear-groups', '--inh-caps=-all', ...argv]
    if (opts.ns !== undefined) argv = ['ip', 'netns', 'exec', opts.ns, ...argv]
    const proc = new ServerProcess(spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }))
    await proc.waitFor(l => l.ready === true || l.error !== undefined, 15_000)
    await rm(cfgDir, { recursive: true, force: true })
    return proc
  }

  get startError (): ChildLine['error'] { return this.lines.find(l => l.error !== undefined)?.error }
  get latest (): ChildLine | undefined { return this.lines.findLast(l => l.metrics !== undefined) }
  events (name: string): any[] { return this.lines.filter(l => l.event === name).map(l => l.data) }

  async waitFor (pred: (l: ChildLine) => boolean, ms = 10_000): Promise<ChildLine> {
    const deadline = Date.now() + ms
    for (;;) {
      const hit = this.lines.find(pred)
      if (hit !== undefined) return hit
      if (Date.now() > deadline || this.child.exitCode !== null) {
        throw new Error(`server process: condition not met in ${ms} ms; stderr: ${this.stderr.join('').slice(-2000)}`)
      }
      await new Promise(resolve => setTimeout(resolve, 50))
    }
  }

  /** Waits for a fresh metrics/leases report that satisfies `pred`. */
  async waitForState (pred: (l: ChildLine) => boolean, ms = 10_000): Promise<ChildLine> {
    const from = this.lines.length
    return await this.waitFor(l => this.lines.indexOf(l) >= from && l.metrics !== undefined && pred(l), ms)
  }

  /** SIGTERM (graceful: leases flushed), then SIGKILL after a grace period. */
  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), 5000)
    await this.exited
    clearTimeout(t)
  }
}

/** A long-running helper process (udhcpc, dnsmasq) with its output kept for assertions. */
export class Proc {
  readonly output: string[] = []
  readonly exited: Promise<number | null>
  constructor (readonly child: ChildProcess) {
    child.stdout?.setEncoding('utf8').on('data', (s: string) => this.output.push(s))
    child.stderr?.setEncoding('utf8').on('data', (s: string) => this.output.push(s))
    this.exited = new Promise(resolve => child.once('exit', code => resolve(code)))
  }

  static spawn (argv: string[]): Proc {
    return new Proc(spawn(argv[0] as string, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] }))
  }

  get text (): string { return this.output.join('') }
  signal (sig: NodeJS.Signals): void { this.child.kill(sig) }
  async stop (): Promise<void> {
    if (this.child.exitCode !== null || this.child.signalCode !== null) return
    this.child.kill('SIGTERM')
    const t = setTimeout(() => this.child.kill('SIGKILL'), 3000)
    await this.exited
    clearTimeout(t)
  }
}

/** Polls a file until `pred` holds on its content. */
export async function waitForFile (path: string, pred: (text: string) => boolean, ms = 15_000): Promise<string> {
  const deadline = Date.now() + ms
  for (;;) {
    const text = await readFile(path, 'utf8').catch(() => '')
    if (pred(text)) return text
    if (Date.now() > deadline) throw new Error(`${path}: condition not met in ${ms} ms; content:\n${text}`)
    await new Promise(resolve => setTimeout(resolve, 100))
  }
}
