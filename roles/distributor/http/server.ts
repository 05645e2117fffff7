/**
 * HTTP boot for the distributor: `GET /boot.ipxe` answers the iPXE script a machine should
 * run, `GET /files/<name>` streams boot files (with Range) from the role's file source.
 * An answerer (the scripts role, wired by the agent) may take over the script of identified
 * machines and serve routes of its own (installer configs, phone-home); without one, every
 * machine gets the configured profile. LAN-facing: bounded headers and URLs (node:http's
 * parser), bodies only for the answerer's routes, every failure answered, never a crash.
 */
import { createServer } from 'node:http'
import { EventEmitter } from 'node:events'
import { normalizeRequestPath } from '../tftp/index.js'
import { bootScript, errorScript, identifyScript } from './script.js'
import type { BootIdentity, BootProfile } from './script.js'
import type { FileSource } from '../tftp/index.js'
import type { IncomingMessage, Server, ServerResponse } from 'node:http'
import type { Logger } from 'pino'

export interface HttpBootConfig {
  bind: string
  port: number
  /** How machines reach this server, e.g. http://10.0.0.1:8080 */
  baseUrl: string
  profile: BootProfile
  /** BIOS machines with an iPXE NIC ROM chainload undionly.kpxe first (see identifyScript). */
  chainUndionly?: boolean
}

/** The scripts role's side of the boot endpoint. */
export interface BootAnswerer {
  /** The script for an identified machine. Must not throw: failures are error scripts. */
  script: (who: BootIdentity & { ip: string }, baseUrl: string) => Promise<string>
  /** Paths it serves itself (any method); the request is its to answer. */
  owns: (pathname: string) => boolean
  handle: (req: IncomingMessage, res: ServerResponse, url: URL, ip: string, baseUrl: string) => Promise<void>
}

export interface HttpBootEvents {
  'boot:requested': [BootIdentity & { ip: string }]
  'file:served': [{ file: string, ip: string, bytes: number }]
}

export interface HttpBootMetrics { scripts: number, files: number, notFound: number, errors: number, bytes: number }

const MAC = /^([0-9a-f]{2}[-:]){5}[0-9a-f]{2}$/i

export class HttpBootServer extends EventEmitter<HttpBootEvents> {
  readonly metrics: HttpBootMetrics = { scripts: 0, files: 0, notFound: 0, errors: 0, bytes: 0 }
  #server?: Server
  readonly #config: HttpBootConfig
  readonly #files: FileSource
  readonly #log: Logger

  readonly #answerer?: BootAnswerer

  constructor (config: HttpBootConfig, components: { files: FileSource, logger: Logger, answerer?: BootAnswerer }) {
    super()
    this.#config = config
    this.#files = components.files
    this.#log = components.logger
    this.#answerer = components.answerer
  }

  get port (): number {
    const a = this.#server?.address()
    return typeof a === 'object' && a != null ? a.port : this.#config.port
  }

  async start (): Promise<void> {
    if (this.#server != null) return
    const server = createServer({ maxHeaderSize: 8192, requestTimeout: 30_000, headersTimeout: 10_000 }, (req, res) => { void this.#handle(req, res) })
    server.on('clientError', (_err, socket) => { socket.destroy() })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(this.#config.port, this.#config.bind, () => { server.off('error', reject); resolve() })
    })
    this.#server = server
  }

  async stop (): Promise<void> {
    const server = this.#server
    if (server == null) return
    this.#server = undefined
    server.closeAllConnections()
    await new Promise<void>(resolve => server.close(() => { resolve() }))
  }

  async #handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const ip = req.socket.remoteAddress ?? ''
    try {
      const url = new URL(req.url ?? '/', 'http://boot.invalid')
      if (this.#answerer?.owns(url.pathname) === true) { await this.#answerer.handle(req, res, url, ip, this.#config.baseUrl); return }
      if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }).end(); return }
      if (url.pathname === '/boot.ipxe') { await this.#script(url, ip, res); return }
      if (url.pathname.startsWith('/files/')) { await this.#file(decodeURIComponent(url.pathname.slice('/files/'.length)), req, res, ip); return }
      this.metrics.notFound++
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    } catch (err) {
      this.metrics.errors++
      this.#log.debug({ err, ip }, 'http boot request failed')
      if (!res.headersSent) res.writeHead(400, { 'content-type': 'text/plain' }).end('bad request\n')
      else res.destroy()
    }
  }

  async #script (url: URL, ip: string, res: ServerResponse): Promise<void> {
    const base = this.#config.baseUrl
    const mac = url.searchParams.get('mac')
    this.metrics.scripts++
    let body: string
    if (mac == null || mac === '') {
      body = identifyScript(base, this.#config.chainUndionly === true)
    } else if (!MAC.test(mac)) {
      body = errorScript(base, 'the request carried no valid MAC address')
    } else {
      const who: BootIdentity = {
        mac: mac.toLowerCase().replace(/-/g, ':'),
        uuid: url.searchParams.get('uuid') ?? undefined,
        arch: url.searchParams.get('buildarch') ?? url.searchParams.get('arch') ?? undefined,
        platform: url.searchParams.get('platform') ?? undefined
      }
      for (const k of ['uuid', 'arch', 'platform'] as const) if (who[k] != null && !/^[A-Za-z0-9_-]{0,64}$/.test(who[k] as string)) who[k] = undefined
      this.emit('boot:requested', { ...who, ip })
      if (this.#answerer != null) {
        body = await this.#answerer.script({ ...who, ip }, base)
      } else {
        try {
          body = bootScript(base, this.#config.profile, who)
        } catch (err) {
          body = errorScript(base, (err as Error).message)
        }
      }
    }
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8', 'cache-control': 'no-store' }).end(body)
  }

  async #file (raw: string, req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> {
    let name: string
    try {
      name = normalizeRequestPath(raw)
    } catch {
      this.metrics.notFound++
      res.writeHead(404).end()
      return
    }
    const file = await this.#files.open(name)
    if (file == null) {
      this.metrics.notFound++
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
      return
    }
    try {
      const range = parseRange(req.headers.range, file.size)
      if (range === 'invalid') {
        res.writeHead(416, { 'content-range': `bytes */${file.size}` }).end()
        return
      }
      const [start, end] = range ?? [0, file.size - 1]
      const length = file.size === 0 ? 0 : end - start + 1
      res.writeHead(range != null ? 206 : 200, {
        'content-type': 'application/octet-stream',
        'content-length': String(length),
        'accept-ranges': 'bytes',
        ...(range != null ? { 'content-range': `bytes ${start}-${end}/${file.size}` } : {})
      })
      if (req.method === 'HEAD' || length === 0) { res.end(); return }
      let pos = 0
      let sent = 0
      for await (const chunk of file.stream) {
        const from = Math.max(0, start - pos)
        const to = Math.min(chunk.length, end + 1 - pos)
        pos += chunk.length
        if (to <= from) { if (pos > end) break; continue }
        const part = chunk.subarray(from, to)
        sent += part.length
        if (!res.write(part)) await new Promise<void>((resolve, reject) => { res.once('drain', resolve); res.once('close', () => { reject(new Error('client went away')) }) })
        if (pos > end) break
      }
      res.end()
      this.metrics.files++
      this.metrics.bytes += sent
      this.emit('file:served', { file: name, ip, bytes: sent })
    } finally {
      await file.close()
    }
  }
}

/** `bytes=a-b`, `bytes=a-`, `bytes=-n`: one range, or undefined for none, 'invalid' when unsatisfiable. */
export function parseRange (header: string | undefined, size: number): [number, number] | undefined | 'invalid' {
  if (header == null) return undefined
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim())
  if (m == null || (m[1] === '' && m[2] === '')) return undefined
  let start: number
  let end: number
  if (m[1] === '') {
    const n = Number(m[2])
    if (n === 0) return 'invalid'
    start = Math.max(0, size - n)
    end = size - 1
  } else {
    start = Number(m[1])
    end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1)
  }
  if (!Number.isSafeInteger(start) || start >= size || end < start) return 'invalid'
  return [start, end]
}
