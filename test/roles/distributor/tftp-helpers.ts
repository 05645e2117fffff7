/** Shared fixtures for the TFTP server tests: a served tree, a server, a raw UDP client, a lossy proxy. */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram'
import { chmod, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino, type Logger } from 'pino'
import { decode, encode, type TftpPacket } from '../../../protocols/tftp/index.js'
import {
  createTftpServer, DirectoryFileSource, type FileSource, type TftpServer, type TftpServerInit
} from '../../../roles/distributor/tftp/index.js'
import { prng } from '../../helpers/prng.js'
export { prng }

export const silentLogger = pino({ level: 'silent' })


export function randomBytes (n: number, seed: number): Buffer {
  const next = prng(seed)
  const out = Buffer.allocUnsafe(n)
  for (let i = 0; i < n; i++) out[i] = (next() * 256) | 0
  return out
}

export function sha256 (data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex')
}

export interface Tree { root: string, files: Record<string, Buffer>, cleanup: () => Promise<void> }

/** A served directory with files of interesting sizes, a symlink inside and one escaping. */
export async function makeTree (extra: Record<string, number> = {}): Promise<Tree> {
  const base = await mkdtemp(join(tmpdir(), 'ctpf-tftp-'))
  const root = join(base, 'root')
  await mkdir(join(root, 'sub'), { recursive: true })
  await mkdir(join(root, 'adir'))
  const sizes: Record<string, number> = {
    'small.bin': 1000,
    'empty.bin': 0,
    'exact512.bin': 512 * 10,
    'sub/nested.bin': 4321,
    ...extra
  }
  const files: Record<string, Buffer> = {}
  let seed = 1
  for (const [name, size] of Object.entries(sizes)) {
    files[name] = randomBytes(size, seed++)
    await writeFile(join(root, name), files[name])
  }
  await writeFile(join(base, 'secret.txt'), 'outside the root\n')
  await symlink(join(base, 'secret.txt'), join(root, 'escape.txt'))
  await symlink('small.bin', join(root, 'inside-link.bin'))
  files['inside-link.bin'] = files['small.bin'] as Buffer
  // in.tftpd drops to the tftp user: keep the tree world-readable
  await chmod(base, 0o755)
  return { root, files, cleanup: async () => { await rm(base, { recursive: true, force: true }) } }
}

export async function startServer (init: TftpServerInit, files: FileSource, logger: Logger = silentLogger): Promise<{ server: TftpServer, port: number }> {
  const server = createTftpServer({ address: '127.0.0.1', port: 0, ...init }, { logger, files })
  await server.start()
  return { server, port: server.address?.port as number }
}

/** A logger that keeps every line as a parsed object. */
export function capturingLogger (): { logger: Logger, lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = []
  const logger = pino({ level: 'debug' }, { write (line: string) { lines.push(JSON.parse(line) as Record<string, unknown>) } })
  return { logger, lines }
}

export function directory (root: string): FileSource {
  return new DirectoryFileSource(root)
}

export interface RunResult { code: number | null, stdout: string, stderr: string }

/** Run a program with an argument array (never a shell string). */
export async function run (file: string, args: string[], opts: { input?: string, timeoutMs?: number, cwd?: string } = {}): Promise<RunResult> {
  return await new Promise((resolve) => {
    const child = execFile(file, args, { timeout: opts.timeoutMs ?? 60_000, cwd: opts.cwd, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null
      resolve({ code, stdout, stderr })
    })
    if (opts.input !== undefined) child.stdin?.end(opts.input)
    else child.stdin?.end()
  })
}

export interface Received { packet: TftpPacket, rinfo: RemoteInfo }

/** A UDP socket speaking TFTP packets, for driving the server by hand. */
export class RawClient {
  readonly socket: Socket
  private readonly inbox: Received[] = []
  private waiter: (() => void) | undefined
  private sending: Array<Promise<void>> = []

  private constructor () {
    this.socket = createSocket('udp4')
    this.socket.on('message', (msg, rinfo) => {
      this.inbox.push({ packet: decode(msg), rinfo })
      this.waiter?.()
    })
  }

  static async open (): Promise<RawClient> {
    const c = new RawClient()
    await new Promise<void>(resolve => { c.socket.bind(0, '127.0.0.1', resolve) })
    return c
  }

  get port (): number { return this.socket.address().port }

  send (packet: TftpPacket | Uint8Array, port: number): void {
    const buf = packet instanceof Uint8Array ? packet : encode(packet)
    this.sending.push(new Promise(resolve => { this.socket.send(buf, port, '127.0.0.1', () => { resolve() }) }))
  }

  /** The next packet, or undefined after `timeoutMs` of silence. */
  async next (timeoutMs = 2000): Promise<Received | undefined> {
    if (this.inbox.length > 0) return this.inbox.shift()
    await new Promise<void>(resolve => {
      const t = setTimeout(() => { this.waiter = undefined; resolve() }, timeoutMs)
      this.waiter = () => { clearTimeout(t); this.waiter = undefined; resolve() }
    })
    return this.inbox.shift()
  }

  /** Close once every queued datagram has left. */
  async close (): Promise<void> {
    await Promise.all(this.sending)
    await new Promise<void>(resolve => { this.socket.close(resolve) })
  }
}

/**
 * A UDP relay between a client and the server that drops every `dropEvery`-th datagram
 * (both directions counted together). The client sees one server port (the proxy's);
 * replies from the transfer's port are relayed through it.
 */
export class LossyProxy {
  dropped = 0
  forwarded = 0
  private readonly front = createSocket('udp4')
  private readonly upstreams = new Map<string, { socket: Socket, serverPort: number | undefined }>()
  private count = 0

  private constructor (private readonly serverPort: number, private readonly dropEvery: number) {}

  static async start (serverPort: number, dropEvery: number): Promise<LossyProxy> {
    const p = new LossyProxy(serverPort, dropEvery)
    p.front.on('message', (msg, rinfo) => { p.fromClient(msg, rinfo) })
    await new Promise<void>(resolve => { p.front.bind(0, '127.0.0.1', resolve) })
    return p
  }

  get port (): number { return this.front.address().port }

  private drop (): boolean {
    this.count++
    if (this.count % this.dropEvery === 0) { this.dropped++; return true }
    this.forwarded++
    return false
  }

  private fromClient (msg: Buffer, rinfo: RemoteInfo): void {
    const key = `${rinfo.address}:${rinfo.port}`
    let up = this.upstreams.get(key)
    if (up === undefined) {
      const socket = createSocket('udp4')
      const entry = { socket, serverPort: undefined as number | undefined }
      socket.on('message', (reply, from) => {
        entry.serverPort = from.port
        if (!this.drop()) this.front.send(reply, rinfo.port, rinfo.address)
      })
      socket.bind(0, '127.0.0.1')
      this.upstreams.set(key, entry)
      up = entry
    }
    // requests go to the listening port until the transfer's port is known
    const isRequest = msg.length >= 2 && msg[0] === 0 && (msg[1] === 1 || msg[1] === 2)
    const target = isRequest ? this.serverPort : up.serverPort ?? this.serverPort
    if (!this.drop()) up.socket.send(msg, target, '127.0.0.1')
  }

  close (): void {
    this.front.close()
    for (const u of this.upstreams.values()) u.socket.close()
  }
}
