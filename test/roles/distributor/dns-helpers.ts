/**
 * Test helpers for the DNS server: run the real `dig`, start our server on a free loopback
 * port, a tiny scriptable upstream (UDP + TCP on one port), and dnsmasq as a real upstream.
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process'
import dgram from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import dnsPacket from 'dns-packet'
import type { Answer, DecodedPacket } from 'dns-packet'
import pino from 'pino'
import { createDnsServer, type DnsInit, type DnsServer, type ZoneSource } from '../../../roles/distributor/dns/index.js'

export interface DigRecord { name: string, ttl: number, type: string, data: string }
export interface DigResult {
  status: string
  flags: string[]
  answer: DigRecord[]
  authority: DigRecord[]
  additional: DigRecord[]
  raw: string
}

/** Runs `dig @127.0.0.1 -p port …args` and parses status, flags and sections. */
export async function dig (port: number, args: string[], server = '127.0.0.1'): Promise<DigResult> {
  const raw = await new Promise<string>((resolve, reject) => {
    execFile('dig', [`@${server}`, '-p', String(port), '+tries=1', '+time=3', '+nocookie', ...args], { timeout: 20_000 }, (err, stdout) => {
      if (err !== null && stdout === '') reject(err)
      else resolve(stdout)
    })
  })
  const status = /status: ([A-Z]+)/.exec(raw)?.[1] ?? 'NO-ANSWER'
  const flags = (/;; flags: ([a-z ]*)[;:]/.exec(raw)?.[1] ?? '').trim().split(/\s+/).filter(f => f !== '')
  return { status, flags, answer: section(raw, 'ANSWER'), authority: section(raw, 'AUTHORITY'), additional: section(raw, 'ADDITIONAL'), raw }
}

function section (raw: string, title: string): DigRecord[] {
  const start = raw.indexOf(`;; ${title} SECTION:\n`)
  if (start === -1) return []
  const lines = raw.slice(start).split('\n').slice(1)
  const out: DigRecord[] = []
  for (const line of lines) {
    if (line.trim() === '') break
    const [name, ttl, , type, ...data] = line.split(/\s+/)
    out.push({ name: name as string, ttl: Number(ttl), type: type as string, data: data.join(' ') })
  }
  return out
}

export const silentLogger = pino({ level: 'silent' })

export async function startDns (init: Omit<DnsInit, 'port' | 'address'> & Partial<Pick<DnsInit, 'port' | 'address'>>, records: ZoneSource): Promise<{ server: DnsServer, port: number }> {
  const server = createDnsServer({ address: '127.0.0.1', port: 0, ...init }, { logger: silentLogger, records })
  await server.start()
  const port = server.address?.port
  if (port === undefined) throw new Error('server did not report a port')
  return { server, port }
}

export interface FakeUpstreamOptions {
  /** name (lower case) → IPv4 answers; other names get NXDOMAIN. */
  records: Record<string, string[]>
  /** Answer UDP with TC set and no records. */
  truncateUdp?: boolean
  /** Never answer. */
  silent?: boolean
  ttl?: number
}

/** A tiny DNS server built on dns-packet, counting what it is asked. */
export class FakeUpstream {
  private udp = dgram.createSocket('udp4')
  readonly tcp: net.Server
  port = 0
  readonly asked: Array<{ transport: 'udp' | 'tcp', name: string, type: string }> = []

  constructor (readonly opts: FakeUpstreamOptions) {
    this.tcp = net.createServer(socket => {
      let buf = Buffer.alloc(0)
      socket.on('error', () => {})
      socket.on('data', chunk => {
        buf = Buffer.concat([buf, chunk])
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          const msg = buf.subarray(2, 2 + buf.readUInt16BE(0))
          buf = buf.subarray(2 + msg.length)
          const res = this.answer(msg, 'tcp')
          if (res !== undefined) {
            const len = Buffer.alloc(2)
            len.writeUInt16BE(res.length)
            socket.write(Buffer.concat([len, res]))
          }
        }
      })
    })
  }

  /** Binds UDP on a free port and TCP on the same one (another port if TCP's is taken). */
  async start (): Promise<number> {
    for (;;) {
      const udp = dgram.createSocket('udp4')
      udp.on('message', (msg, rinfo) => {
        const res = this.answer(msg, 'udp')
        if (res !== undefined) udp.send(res, rinfo.port, rinfo.address)
      })
      await new Promise<void>(resolve => { udp.bind(0, '127.0.0.1', resolve) })
      const port = udp.address().port
      const listening = await new Promise<boolean>(resolve => {
        const onError = (): void => { resolve(false) }
        this.tcp.once('error', onError)
        this.tcp.listen(port, '127.0.0.1', () => { this.tcp.off('error', onError); resolve(true) })
      })
      if (listening) {
        this.udp = udp
        this.port = port
        return port
      }
      await new Promise<void>(resolve => { udp.close(() => { resolve() }) })
    }
  }

  async stop (): Promise<void> {
    await new Promise<void>(resolve => { this.udp.close(() => { resolve() }) })
    await new Promise<void>(resolve => { this.tcp.close(() => { resolve() }) })
  }

  private answer (msg: Buffer, transport: 'udp' | 'tcp'): Buffer | undefined {
    let q: DecodedPacket
    try { q = dnsPacket.decode(msg) } catch { return undefined }
    const question = q.questions?.[0]
    if (question === undefined) return undefined
    this.asked.push({ transport, name: question.name, type: question.type })
    if (this.opts.silent === true) return undefined
    const addresses = this.opts.records[question.name.toLowerCase()]
    const truncated = transport === 'udp' && this.opts.truncateUdp === true
    const answers: Answer[] = truncated || question.type !== 'A' || addresses === undefined
      ? []
      : addresses.map(data => ({ type: 'A', name: question.name, ttl: this.opts.ttl ?? 300, data }))
    const authorities: Answer[] = addresses === undefined && !truncated
      ? [{ type: 'SOA', name: 'test', ttl: 60, data: { mname: 'ns.test', rname: 'h.test', serial: 1, refresh: 1, retry: 1, expire: 1, minimum: 60 } }]
      : []
    return dnsPacket.encode({
      type: 'response',
      id: q.id,
      flags: (truncated ? dnsPacket.TRUNCATED_RESPONSE : 0) | dnsPacket.RECURSION_AVAILABLE | (addresses === undefined && !truncated ? 3 : 0),
      questions: q.questions,
      answers,
      authorities
    })
  }
}

/** dnsmasq on 127.0.0.1:port with the given extra args; stopped through its pid. */
export class Dnsmasq {
  private child: ChildProcess | undefined
  private readonly dir = mkdtempSync(join(tmpdir(), 'ctpf-dnsmasq-'))

  constructor (readonly port: number, readonly args: string[]) {}

  async start (): Promise<void> {
    const pidFile = join(this.dir, 'dnsmasq.pid')
    this.child = spawn('dnsmasq', [
      '--keep-in-foreground', '--no-resolv', '--no-hosts',
      `--port=${this.port}`, '--listen-address=127.0.0.1', '--bind-interfaces',
      `--pid-file=${pidFile}`, '--user=root', '--log-facility=-', ...this.args
    ], { stdio: ['ignore', 'ignore', 'pipe'] })
    let stderr = ''
    this.child.stderr?.on('data', (c: Buffer) => { stderr += c.toString() })
    const deadline = Date.now() + 10_000
    while (Date.now() < deadline) {
      if (this.child.exitCode !== null) throw new Error(`dnsmasq exited: ${stderr}`)
      const r = await dig(this.port, ['+time=1', 'probe.invalid']).catch(() => undefined)
      if (r !== undefined && r.status !== 'NO-ANSWER') return
      await new Promise(resolve => setTimeout(resolve, 100))
    }
    throw new Error(`dnsmasq did not come up: ${stderr}`)
  }

  async stop (): Promise<void> {
    const child = this.child
    if (child !== undefined && child.exitCode === null) {
      const exited = new Promise(resolve => child.once('exit', resolve))
      child.kill('SIGTERM')
      await exited
    }
    rmSync(this.dir, { recursive: true, force: true })
  }

  pid (): string {
    return readFileSync(join(this.dir, 'dnsmasq.pid'), 'utf8').trim()
  }
}

/** A loopback port that is free for both UDP and TCP right now. */
export async function freePort (): Promise<number> {
  for (;;) {
    const udp = dgram.createSocket('udp4')
    await new Promise<void>(resolve => { udp.bind(0, '127.0.0.1', resolve) })
    const port = udp.address().port
    const ok = await new Promise<boolean>(resolve => {
      const s = net.createServer()
      s.once('error', () => { resolve(false) })
      s.listen(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
    })
    await new Promise<void>(resolve => { udp.close(() => { resolve() }) })
    if (ok) return port
  }
}

/** dns-packet decodes the rcode name, but its types do not declare it. */
export function rcodeOf (p: DecodedPacket): string {
  return (p as DecodedPacket & { rcode: string }).rcode
}
