/**
 * Real OpenSSH `sshd` hosts for privileged tests, each in its own network namespace on one
 * LAN (a `Segment` whose server side is the host namespace, so the test process reaches every
 * host at `${net}.N`). Every host has its own config, its own ed25519 host key (made by
 * ssh-keygen) and an authorized_keys for root, all in a temp dir; sshd runs with `-D -e`.
 *
 * Names start with `ctpfssh` (namespaces) and `ctpf-ssh-` (temp dirs); everything is removed by
 * `destroy()`, or by an `exit` hook when a test crashed.
 *
 * @example
 * const lan = await SshLan.create()
 * const host = await lan.addHost({ authorizedKeys: [publicKeyLine] })
 * // host.address, host.port, host.hostKeyLine, host.fingerprint
 * await host.rotateHostKey()           // same host, new host key (restarts sshd)
 * await lan.destroy()
 */
import { execFileSync } from 'node:child_process'
import { rmSync } from 'node:fs'
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ip, NsProcess, Segment, sh } from './netns.js'

export const SSHD = '/usr/sbin/sshd'

export interface SshdHostOptions {
  /** Public key lines allowed to log in as root. */
  authorizedKeys: string[]
  /** Port sshd listens on (default 22). */
  port?: number
  /** Host key types, each with its own key (default ['ed25519']); the first is `hostKeyLine`. */
  hostKeyTypes?: HostKeyType[]
  /** sshd LogLevel (default VERBOSE: authentication attempts are logged; DEBUG levels leak into sessions' stderr under -e). */
  logLevel?: string
}

export type HostKeyType = 'ed25519' | 'rsa' | 'ecdsa'

export class SshdHost {
  process: NsProcess | undefined
  /** The first host key's public line and fingerprint. */
  hostKeyLine = ''
  fingerprint = ''
  /** Every host key, by type. */
  hostKeys: Partial<Record<HostKeyType, { line: string, fingerprint: string }>> = {}
  readonly user = 'root'
  private generation = 0

  constructor (
    readonly ns: string,
    /** The host's interface (a veth to the LAN bridge). */
    readonly iface: string,
    readonly address: string,
    readonly port: number,
    readonly dir: string,
    private readonly logLevel: string,
    readonly hostKeyTypes: HostKeyType[] = ['ed25519']
  ) {}

  /** Everything sshd printed since it last started. */
  get log (): string { return this.process?.text ?? '' }

  /** `argv` run inside the host's namespace. */
  nsArgv (argv: string[]): string[] { return ['ip', 'netns', 'exec', this.ns, ...argv] }

  async writeConfig (authorizedKeys: string[]): Promise<void> {
    await writeFile(join(this.dir, 'authorized_keys'), authorizedKeys.map(k => `${k.trim()}\n`).join(''), { mode: 0o600 })
    await writeFile(join(this.dir, 'sshd_config'), [
      `ListenAddress ${this.address}`,
      `Port ${this.port}`,
      ...this.hostKeyTypes.map(t => `HostKey ${join(this.dir, `host_${t}`)}`),
      `AuthorizedKeysFile ${join(this.dir, 'authorized_keys')}`,
      'PidFile none',
      'PermitRootLogin prohibit-password',
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'StrictModes no',
      'UseDNS no',
      'PrintMotd no',
      'PrintLastLog no',
      'MaxStartups 200',
      'MaxSessions 50',
      `LogLevel ${this.logLevel}`,
      'Subsystem sftp internal-sftp',
      ''
    ].join('\n'), { mode: 0o600 })
  }

  /** New host keys (the old ones are gone); the public lines and fingerprints are updated. */
  async newHostKey (): Promise<void> {
    const generation = this.generation++
    for (const type of this.hostKeyTypes) {
      const key = join(this.dir, `host_${type}`)
      await rm(key, { force: true })
      await rm(`${key}.pub`, { force: true })
      const bits = type === 'rsa' ? ['-b', '2048'] : type === 'ecdsa' ? ['-b', '256'] : []
      await sh('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-C', `ctpf-ssh-test-${generation}`, '-f', key])
      const line = (await readFile(`${key}.pub`, 'utf8')).trim()
      // "256 SHA256:… comment (ED25519)"
      const fingerprint = (await sh('ssh-keygen', ['-l', '-f', `${key}.pub`])).split(' ')[1] as string
      this.hostKeys[type] = { line, fingerprint }
    }
    const first = this.hostKeys[this.hostKeyTypes[0] as HostKeyType] as { line: string, fingerprint: string }
    this.hostKeyLine = first.line
    this.fingerprint = first.fingerprint
  }

  async start (): Promise<void> {
    if (this.process?.running === true) return
    this.process = NsProcess.spawn(this.nsArgv([SSHD, '-D', '-e', '-f', join(this.dir, 'sshd_config')]))
    await this.process.waitForOutput(/Server listening on/, 15_000)
  }

  async stop (): Promise<void> {
    await this.process?.stop()
  }

  /** Take the host's link down (packets vanish silently: a cable pulled) or bring it back up. */
  async setLink (up: boolean): Promise<void> {
    await ip('-n', this.ns, 'link', 'set', this.iface, up ? 'up' : 'down')
  }

  /** Restart sshd with a new host key: the same host, as after a reinstall. */
  async rotateHostKey (): Promise<void> {
    await this.stop()
    await this.newHostKey()
    await this.start()
  }
}

const live = new Set<SshLan>()
let hookInstalled = false

/** A LAN of sshd hosts; the test process is on it at `segment.serverAddress`. */
export class SshLan {
  readonly hosts: SshdHost[] = []
  private readonly namespaces: string[] = []
  private readonly dirs: string[] = []

  private constructor (readonly segment: Segment) {}

  static async create (): Promise<SshLan> {
    const segment = await Segment.create({ server: 'host' })
    const lan = new SshLan(segment)
    live.add(lan)
    if (!hookInstalled) {
      hookInstalled = true
      const sweep = (): void => { for (const l of live) l.destroySync() }
      process.once('exit', sweep)
      // on a signal, clean up; then, if nobody else handles it, die of it as we would have
      for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
        process.once(sig, () => {
          sweep()
          if (process.listenerCount(sig) === 0) process.kill(process.pid, sig)
        })
      }
    }
    await mkdir('/run/sshd', { recursive: true, mode: 0o755 }) // sshd's privilege separation dir
    return lan
  }

  /** A new namespace on the LAN at `${net}.(10+n)` running sshd. */
  async addHost (opts: SshdHostOptions): Promise<SshdHost> {
    const n = this.namespaces.length + 1
    const tag = this.segment.tag
    const ns = `ctpfssh-${tag}-${n}`
    await ip('netns', 'add', ns)
    this.namespaces.push(ns)
    await ip('-n', ns, 'link', 'set', 'lo', 'up')
    const inner = `sh${tag}i${n}`
    const outer = `sh${tag}o${n}`
    await ip('link', 'add', inner, 'netns', ns, 'type', 'veth', 'peer', 'name', outer, 'netns', this.segment.ns)
    await ip('-n', this.segment.ns, 'link', 'set', outer, 'master', this.segment.bridge)
    await ip('-n', this.segment.ns, 'link', 'set', outer, 'up')
    const address = `${this.segment.net}.${10 + n}`
    await ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inner)
    await ip('-n', ns, 'link', 'set', inner, 'up')

    const dir = await mkdtemp(join(tmpdir(), 'ctpf-ssh-'))
    this.dirs.push(dir)
    const host = new SshdHost(ns, inner, address, opts.port ?? 22, dir, opts.logLevel ?? 'VERBOSE', opts.hostKeyTypes)
    await host.writeConfig(opts.authorizedKeys)
    await host.newHostKey()
    await host.start()
    this.hosts.push(host)
    return host
  }

  /** A temp dir removed by `destroy()`. */
  async tempDir (): Promise<string> {
    const d = await mkdtemp(join(tmpdir(), 'ctpf-ssh-'))
    this.dirs.push(d)
    return d
  }

  async destroy (): Promise<void> {
    for (const h of this.hosts.splice(0)) await h.stop().catch(() => {})
    this.destroySync()
    await this.segment.destroy()
  }

  /** Kill what runs in our namespaces and delete them (also from the `exit` hook). */
  destroySync (): void {
    live.delete(this)
    for (const ns of this.namespaces.splice(0)) {
      try {
        const pids = execFileSync('ip', ['netns', 'pids', ns], { encoding: 'utf8', timeout: 10_000 }).split(/\s+/).filter(Boolean)
        for (const pid of pids) { try { process.kill(Number(pid), 'SIGKILL') } catch {} }
      } catch {}
      try { execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore', timeout: 10_000 }) } catch {}
    }
    for (const d of this.dirs.splice(0)) { try { rmSync(d, { recursive: true, force: true }) } catch {} }
    this.segment.destroySync()
  }
}
