/**
 * A lab for the overlay's end-to-end tests: network namespaces (`ctpfov<tag><name>`) joined by
 * veth links, agents from the bundle (CTPF_CLI) running inside them, and the CLI run inside a
 * namespace to reach an agent's loopback control endpoint. Everything made here is removed by
 * `destroy()` (and by an `exit` hook after a crash).
 *
 * @example
 * const lab = await OverlayLab.create()
 * const [a, b] = [await lab.addNs('a'), await lab.addNs('b')]
 * await lab.link(a, '10.201.0.1', b, '10.201.0.2')
 * const agentA = await lab.startAgent(a, { listen: '10.201.0.1', tags: ['dc=a'], overlay: { range: '100.96.0.0/16' } })
 * await lab.destroy()
 */
import { execFile, execFileSync } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { CLI, waitFor } from './agents.js'
import { NsProcess, ip, uniqueTag } from './netns.js'

export interface LabAgent {
  ns: string
  dir: string
  peerId: string
  proc: NsProcess
  /** Runs `ctpf <args> --data-dir <dir> --json` inside the agent's namespace; parses stdout. */
  cli: <T = any>(args: string[]) => Promise<T>
  /** Same, but resolves with the exit code and output instead of throwing. */
  cliRaw: (args: string[]) => Promise<{ code: number | null, stdout: string, stderr: string }>
  stop: () => Promise<void>
}

export interface AgentOptions {
  listen: string
  tags?: string[]
  joinToken?: string
  overlay?: Record<string, unknown>
  /** Extra listen multiaddrs (e.g. `/p2p-circuit`). */
  extraListen?: string[]
  /** A command the agent runs under, e.g. `['setpriv', '--bounding-set', '-net_admin']`. */
  wrap?: string[]
  /** Announce the listen address as it is (a public address AutoNAT has not confirmed yet). */
  announce?: boolean
  env?: Record<string, string>
}

const live = new Set<OverlayLab>()
let hooked = false

export async function execIn (ns: string, argv: string[], timeoutMs = 30_000, env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise(resolve => {
    execFile('ip', ['netns', 'exec', ns, ...argv], { timeout: timeoutMs, maxBuffer: 64 << 20, env: { ...process.env, ...env } }, (err, stdout, stderr) => {
      const code = err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null
      resolve({ code, stdout: String(stdout), stderr: String(stderr) + (err != null && code === null ? String(err.message) : '') })
    })
  })
}

export class OverlayLab {
  readonly tag = uniqueTag()
  readonly namespaces: string[] = []
  readonly agents: LabAgent[] = []
  readonly procs: NsProcess[] = []
  readonly dirs: string[] = []
  #links = 0

  static async create (): Promise<OverlayLab> {
    const lab = new OverlayLab()
    live.add(lab)
    if (!hooked) {
      hooked = true
      process.once('exit', () => { for (const l of live) l.destroySync() })
    }
    return lab
  }

  tempDir (): string {
    const d = mkdtempSync(join(tmpdir(), 'ctpf-ov-'))
    this.dirs.push(d)
    return d
  }

  async addNs (name: string): Promise<string> {
    const ns = `ctpfov${this.tag}${name}`
    await ip('netns', 'add', ns)
    this.namespaces.push(ns)
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
    return ns
  }

  /** A veth between two namespaces with an address on each end (same /prefix). */
  async link (nsA: string, ipA: string, nsB: string, ipB: string, prefix = 24): Promise<[string, string]> {
    const n = this.#links++
    const ia = `ov${this.tag}${n}a`
    const ib = `ov${this.tag}${n}b`
    await ip('link', 'add', ia, 'netns', nsA, 'type', 'veth', 'peer', 'name', ib, 'netns', nsB)
    await ip('-n', nsA, 'addr', 'add', `${ipA}/${prefix}`, 'dev', ia)
    await ip('-n', nsB, 'addr', 'add', `${ipB}/${prefix}`, 'dev', ib)
    await ip('-n', nsA, 'link', 'set', ia, 'up')
    await ip('-n', nsB, 'link', 'set', ib, 'up')
    return [ia, ib]
  }

  spawn (ns: string, argv: string[]): NsProcess {
    const p = NsProcess.spawn(['ip', 'netns', 'exec', ns, ...argv])
    this.procs.push(p)
    return p
  }

  async startAgent (ns: string, opts: AgentOptions): Promise<LabAgent> {
    const dir = this.tempDir()
    if (opts.overlay != null) writeFileSync(join(dir, 'config.json'), JSON.stringify({ overlay: opts.overlay }))
    rmSync(join(dir, 'control.url'), { force: true })
    const argv = [...(opts.wrap ?? []), 'env', 'CTPF_LOG_LEVEL=info', ...(opts.joinToken != null ? [`CTPF_JOIN_FILE=${this.#tokenFile(dir, opts.joinToken)}`] : []),
      ...Object.entries(opts.env ?? {}).map(([k, v]) => `${k}=${v}`),
      process.execPath, CLI, 'agent', '--data-dir', dir, '--listen', `/ip4/${opts.listen}/tcp/4001`,
      ...(opts.extraListen ?? []).flatMap(l => ['--listen', l]), ...(opts.announce === true ? ['--announce', `/ip4/${opts.listen}/tcp/4001`] : []), ...(opts.tags ?? []).flatMap(t => ['--tag', t])]
    const proc = this.spawn(ns, argv)
    const m = await proc.waitForOutput(/ctpf agent (\S+) /, 60_000)
    await waitFor(() => existsSync(join(dir, 'control.url')), { what: 'control.url', timeoutMs: 30_000 })
    const cliRaw = async (args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> =>
      await execIn(ns, [process.execPath, CLI, ...args, '--data-dir', dir, '--json'], 60_000)
    const agent: LabAgent = {
      ns,
      dir,
      peerId: m[1] as string,
      proc,
      cliRaw,
      cli: async (args: string[]) => {
        const r = await cliRaw(args)
        if (r.code !== 0) throw new Error(`ctpf ${args.join(' ')} in ${ns}: exit ${String(r.code)}: ${r.stderr}`)
        return JSON.parse(r.stdout)
      },
      stop: async () => { await proc.stop() }
    }
    this.agents.push(agent)
    return agent
  }

  /** The token goes to the agent in a 0600 file, never in its arguments. */
  #tokenFile (dir: string, token: string): string {
    const path = join(dir, '..', `${dir.split('/').pop() ?? 'x'}.join`)
    writeFileSync(path, token + '\n', { mode: 0o600 })
    this.dirs.push(path)
    return path
  }

  /** The founder's first invite, written to its data directory when stdout is not a TTY. */
  founderInvite (agent: LabAgent): string {
    return readFileSync(join(agent.dir, 'invite.token'), 'utf8').trim()
  }

  async destroy (): Promise<void> {
    for (const p of this.procs.splice(0).reverse()) await p.stop().catch(() => {})
    this.destroySync()
  }

  destroySync (): void {
    live.delete(this)
    const quiet = { stdio: 'ignore' as const, timeout: 10_000 }
    for (const ns of this.namespaces.splice(0)) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }).split(/\s+/).filter(Boolean)
        for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
      } catch {}
      try { execFileSync('ip', ['netns', 'del', ns], quiet) } catch {}
    }
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true })
  }
}

/** A node script for TCP transfers with a checksum: `serve HOST PORT` / `send HOST PORT MIB SEED`. */
export const TRANSFER_SCRIPT = `
import net from 'node:net'
import { createHash } from 'node:crypto'
const [mode, host, port, mib, seed] = process.argv.slice(2)
if (mode === 'serve') {
  const srv = net.createServer(sock => {
    const h = createHash('sha256'); let bytes = 0
    sock.on('data', d => { h.update(d); bytes += d.length })
    sock.on('end', () => { const r = { bytes, sha256: h.digest('hex') }; sock.end(JSON.stringify(r)); console.log(JSON.stringify(r)); srv.close() })
  })
  srv.listen(Number(port), host, () => console.log('listening'))
} else {
  const total = Number(mib) * 1048576
  const h = createHash('sha256'); let x = Number(seed) >>> 0 || 1; let sent = 0
  const t0 = Date.now()
  const sock = net.connect({ host, port: Number(port), timeout: 4000 })
  sock.on('timeout', () => { console.error('timeout'); process.exit(3) })
  sock.on('error', e => { console.error(e.message); process.exit(2) })
  sock.on('connect', () => {
    sock.setTimeout(0)
    const chunk = () => { const b = Buffer.alloc(65536); for (let i = 0; i < b.length; i += 4) { x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0; b.writeUInt32BE(x, i) } return b }
    const pump = () => { while (sent < total) { const b = chunk(); h.update(b); sent += b.length; if (!sock.write(b)) { sock.once('drain', pump); return } } sock.end() }
    pump()
  })
  let reply = ''
  sock.on('data', d => { reply += d })
  sock.on('close', () => { console.log(JSON.stringify({ bytes: sent, sha256: h.digest('hex'), ms: Date.now() - t0, reply: reply ? JSON.parse(reply) : null })) })
}
`
