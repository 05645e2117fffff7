/**
 * A local stand-in for the Hetzner Cloud API (docs.hetzner.cloud), implementing exactly the
 * endpoints the adapter uses, with the documented shapes:
 *
 *   GET    /v1/servers          page, per_page (1-50, default 25), label_selector, name;
 *                               { servers, meta: { pagination } } plus a Link header
 *   GET    /v1/servers/{id}     { server }
 *   POST   /v1/servers          201 { server, action, next_actions, root_password }
 *   DELETE /v1/servers/{id}     { action }
 *   GET    /v1/actions/{id}     { action }; progress advances on every poll
 *
 * Errors are `{ error: { code, message, details? } }`: 401 unauthorized (missing or wrong
 * bearer token), 400 invalid_input / json_error, 404 not_found, 409 uniqueness_error,
 * 429 rate_limit_exceeded (on demand), 5xx service_error (on demand). Every answer carries
 * RateLimit-Limit / RateLimit-Remaining / RateLimit-Reset.
 */
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo } from 'node:net'

export interface FakeHetznerOptions {
  token: string
  /** RateLimit-Limit, requests per hour (default 3600). */
  rateLimit?: number
  /** Polls of GET /actions/{id} until an action finishes (default 2). */
  actionSteps?: number
}

export interface FakeServer {
  id: number
  name: string
  status: string
  created: string
  labels: Record<string, string>
  serverType: string
  image: string
  location: string
  /** What POST /servers received; the API never returns it. */
  userData?: string
  sshKeys: Array<string | number>
  ipv4: string
  ipv6: string
}

export interface FakeAction {
  id: number
  command: string
  status: 'running' | 'success' | 'error'
  progress: number
  started: string
  finished: string | null
  resources: Array<{ id: number, type: string }>
  error: { code: string, message: string } | null
  failWith?: { code: string, message: string }
}

export interface RecordedRequest {
  method: string
  /** Path and query as received. */
  url: string
  authorization: string | undefined
  body: unknown
  status: number
}

const LOCATIONS: Record<string, { id: number, description: string, country: string, city: string, latitude: number, longitude: number, network_zone: string }> = {
  fsn1: { id: 1, description: 'Falkenstein DC Park 1', country: 'DE', city: 'Falkenstein', latitude: 50.47612, longitude: 12.370071, network_zone: 'eu-central' },
  nbg1: { id: 2, description: 'Nuremberg DC Park 1', country: 'DE', city: 'Nuremberg', latitude: 49.452102, longitude: 11.076665, network_zone: 'eu-central' },
  hel1: { id: 3, description: 'Helsinki DC Park 1', country: 'FI', city: 'Helsinki', latitude: 60.169855, longitude: 24.938379, network_zone: 'eu-central' },
  ash: { id: 4, description: 'Ashburn, VA', country: 'US', city: 'Ashburn, VA', latitude: 39.043757, longitude: -77.487442, network_zone: 'us-east' },
  sin: { id: 6, description: 'Singapore', country: 'SG', city: 'Singapore', latitude: 1.283333, longitude: 103.833333, network_zone: 'ap-southeast' }
}

const NAME_RE = /^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/
const MAX_USER_DATA = 32 * 1024

class ApiFailure extends Error {
  constructor (readonly status: number, readonly code: string, message: string, readonly details?: unknown) { super(message) }
}

type Requirement = (labels: Record<string, string>) => boolean

/** Parses a label selector (`k==v`, `k=v`, `k!=v`, `k`, `!k`, `k in (a,b)`, `k notin (a,b)`, comma = and). */
export function parseLabelSelector (selector: string): Requirement {
  const parts: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of selector) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) { parts.push(cur); cur = '' } else cur += ch
  }
  parts.push(cur)
  const reqs: Requirement[] = parts.map(raw => {
    const p = raw.trim()
    let m: RegExpExecArray | null
    if ((m = /^([^\s!=(),]+)\s+(in|notin)\s+\(([^()]*)\)$/.exec(p)) != null) {
      const [, k, op, list] = m
      const values = new Set(list.split(',').map(v => v.trim()))
      return op === 'in' ? l => l[k] !== undefined && values.has(l[k]) : l => l[k] === undefined || !values.has(l[k])
    }
    if ((m = /^([^\s!=(),]+)\s*(==|=|!=)\s*([^\s!=(),]*)$/.exec(p)) != null) {
      const [, k, op, v] = m
      return op === '!=' ? l => l[k] !== v : l => l[k] === v
    }
    if ((m = /^!([^\s!=(),]+)$/.exec(p)) != null) { const k = m[1]; return l => l[k] === undefined }
    if ((m = /^([^\s!=(),]+)$/.exec(p)) != null) { const k = m[1]; return l => l[k] !== undefined }
    throw new ApiFailure(400, 'invalid_input', `invalid label_selector: ${JSON.stringify(p)}`)
  })
  return l => reqs.every(r => r(l))
}

export class FakeHetzner {
  readonly servers = new Map<number, FakeServer>()
  readonly actions = new Map<number, FakeAction>()
  readonly requests: RecordedRequest[] = []
  actionSteps: number
  readonly #token: string
  readonly #limit: number
  #remaining: number
  #nextId = 42
  #nextActionId = 1000
  #rateLimitNext = 0
  #retryAfter: number | undefined
  #failNext: number[] = []
  #failNextAction: { code: string, message: string } | undefined

  private constructor (private readonly server: Server, readonly url: string, options: FakeHetznerOptions) {
    this.#token = options.token
    this.#limit = options.rateLimit ?? 3600
    this.#remaining = this.#limit
    this.actionSteps = options.actionSteps ?? 2
  }

  static async start (options: FakeHetznerOptions): Promise<FakeHetzner> {
    let fake: FakeHetzner | undefined
    const server = createServer((req, res) => { void fake?.handle(req, res) })
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(0, '127.0.0.1', () => resolve())
    })
    const { port } = server.address() as AddressInfo
    fake = new FakeHetzner(server, `http://127.0.0.1:${port}/v1`, options)
    return fake
  }

  async stop (): Promise<void> {
    this.server.closeAllConnections()
    await new Promise<void>(resolve => this.server.close(() => resolve()))
  }

  /** The next `n` requests are answered 429 rate_limit_exceeded (optionally with Retry-After). */
  rateLimitNext (n = 1, options: { retryAfterSeconds?: number } = {}): void {
    this.#rateLimitNext = n
    this.#retryAfter = options.retryAfterSeconds
  }

  /** The next requests are answered with these 5xx statuses, in order. */
  failNext (...statuses: number[]): void {
    this.#failNext.push(...statuses)
  }

  /** The next action created ends in status `error` with this error. */
  failNextAction (code = 'action_failed', message = 'Action failed'): void {
    this.#failNextAction = { code, message }
  }

  /** Seeds a server directly (e.g. one that belongs to something else in the project). */
  addServer (init: Partial<FakeServer> & { name: string }): FakeServer {
    const id = this.#nextId++
    const s: FakeServer = {
      id,
      status: 'running',
      created: new Date().toISOString(),
      labels: {},
      serverType: 'cx22',
      image: 'debian-12',
      location: 'fsn1',
      sshKeys: [],
      ipv4: `203.0.113.${id % 250}`,
      ipv6: `2001:db8:${id.toString(16)}::/64`,
      ...init
    }
    this.servers.set(id, s)
    return s
  }

  private async handle (req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = []
    let size = 0
    for await (const c of req) {
      size += (c as Buffer).length
      if (size > 1024 * 1024) { res.destroy(); return }
      chunks.push(c as Buffer)
    }
    const raw = Buffer.concat(chunks).toString('utf8')
    const record: RecordedRequest = { method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body: undefined, status: 0 }
    this.requests.push(record)
    let status = 200
    let payload: unknown
    const headers: Record<string, string> = {}
    try {
      if (this.#rateLimitNext > 0) {
        this.#rateLimitNext--
        this.#remaining = 0
        if (this.#retryAfter != null) headers['retry-after'] = String(this.#retryAfter)
        throw new ApiFailure(429, 'rate_limit_exceeded', `limit of ${this.#limit} requests per hour reached`)
      }
      if (req.headers.authorization !== `Bearer ${this.#token}`) {
        throw new ApiFailure(401, 'unauthorized', 'Request was made with an invalid or unknown token')
      }
      const failing = this.#failNext.shift()
      if (failing != null) throw new ApiFailure(failing, 'service_error', 'an internal error occurred')
      if (raw !== '') {
        try {
          record.body = JSON.parse(raw)
        } catch {
          throw new ApiFailure(400, 'json_error', 'invalid JSON in request body')
        }
      }
      const url = new URL(req.url ?? '/', 'http://fake')
      ;[status, payload] = this.route(req.method ?? 'GET', url, record.body, headers)
    } catch (err) {
      if (!(err instanceof ApiFailure)) throw err
      status = err.status
      payload = { error: { code: err.code, message: err.message, ...(err.details !== undefined ? { details: err.details } : {}) } }
    }
    if (status !== 429 && this.#remaining > 0) this.#remaining--
    const now = Math.floor(Date.now() / 1000)
    headers['ratelimit-limit'] = String(this.#limit)
    headers['ratelimit-remaining'] = String(this.#remaining)
    // the quota refills evenly over the hour; "reset" is when it is full again
    headers['ratelimit-reset'] = String(now + 1 + Math.ceil((this.#limit - this.#remaining) * 3600 / this.#limit))
    if (status === 429) this.#remaining = this.#limit // refilled for the next caller once waited for
    record.status = status
    const text = JSON.stringify(payload)
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers })
    res.end(text)
  }

  private route (method: string, url: URL, body: unknown, headers: Record<string, string>): [number, unknown] {
    const path = url.pathname.replace(/\/+$/, '')
    let m: RegExpExecArray | null
    if (method === 'GET' && path === '/v1/servers') return [200, this.list(url, headers)]
    if (method === 'POST' && path === '/v1/servers') return [201, this.create(body)]
    if ((m = /^\/v1\/servers\/(\d+)$/.exec(path)) != null) {
      const s = this.servers.get(Number(m[1]))
      if (s == null) throw new ApiFailure(404, 'not_found', `server with ID '${m[1]}' not found`)
      if (method === 'GET') return [200, { server: this.serverJson(s) }]
      if (method === 'DELETE') {
        s.status = 'deleting'
        return [200, { action: this.actionJson(this.newAction('delete_server', s.id)) }]
      }
    }
    if (method === 'GET' && (m = /^\/v1\/actions\/(\d+)$/.exec(path)) != null) {
      const a = this.actions.get(Number(m[1]))
      if (a == null) throw new ApiFailure(404, 'not_found', `action with ID '${m[1]}' not found`)
      this.advance(a)
      return [200, { action: this.actionJson(a) }]
    }
    throw new ApiFailure(404, 'not_found', `${method} ${path} is not an endpoint of this fake`)
  }

  private list (url: URL, headers: Record<string, string>): unknown {
    const intParam = (name: string, def: number, max: number): number => {
      const v = url.searchParams.get(name)
      if (v == null) return def
      if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max) throw new ApiFailure(400, 'invalid_input', `invalid input in field '${name}'`, { fields: [{ name, messages: [`must be an integer between 1 and ${max}`] }] })
      return Number(v)
    }
    const page = intParam('page', 1, 1_000_000)
    const perPage = intParam('per_page', 25, 50)
    let items = [...this.servers.values()].sort((a, b) => a.id - b.id)
    const selector = url.searchParams.get('label_selector')
    if (selector != null) {
      const match = parseLabelSelector(selector)
      items = items.filter(s => match(s.labels))
    }
    const name = url.searchParams.get('name')
    if (name != null) items = items.filter(s => s.name === name)
    const total = items.length
    const lastPage = Math.max(1, Math.ceil(total / perPage))
    const slice = items.slice((page - 1) * perPage, page * perPage)
    const link = (p: number): string => {
      const u = new URL(url.href)
      u.searchParams.set('page', String(p))
      u.searchParams.set('per_page', String(perPage))
      return `<${this.url.replace(/\/v1$/, '')}${u.pathname}${u.search}>`
    }
    const links: string[] = []
    if (page > 1) links.push(`${link(page - 1)}; rel="prev"`)
    if (page < lastPage) links.push(`${link(page + 1)}; rel="next"`)
    links.push(`${link(lastPage)}; rel="last"`)
    headers.link = links.join(', ')
    return {
      servers: slice.map(s => this.serverJson(s)),
      meta: {
        pagination: {
          page,
          per_page: perPage,
          previous_page: page > 1 ? page - 1 : null,
          next_page: page < lastPage ? page + 1 : null,
          last_page: lastPage,
          total_entries: total
        }
      }
    }
  }

  private create (body: unknown): unknown {
    const b = body as Record<string, unknown> | undefined
    if (b == null || typeof b !== 'object') throw new ApiFailure(400, 'invalid_input', 'request body must be an object')
    const invalid = (name: string, message: string): never => { throw new ApiFailure(400, 'invalid_input', `invalid input in field '${name}'`, { fields: [{ name, messages: [message] }] }) }
    for (const f of ['name', 'server_type', 'image']) if (typeof b[f] !== 'string' || b[f] === '') invalid(f, 'is required')
    if (!NAME_RE.test(b.name as string)) invalid('name', 'must be a valid hostname')
    const location = b.location ?? 'fsn1'
    if (typeof location !== 'string' || LOCATIONS[location] == null) invalid('location', 'unknown location')
    if (b.user_data !== undefined && (typeof b.user_data !== 'string' || Buffer.byteLength(b.user_data) > MAX_USER_DATA)) invalid('user_data', 'is too long')
    const labels = b.labels ?? {}
    if (typeof labels !== 'object' || labels == null || Object.values(labels).some(v => typeof v !== 'string')) invalid('labels', 'must be an object of strings')
    const sshKeys = b.ssh_keys ?? []
    if (!Array.isArray(sshKeys)) invalid('ssh_keys', 'must be an array')
    if ([...this.servers.values()].some(s => s.name === b.name)) {
      throw new ApiFailure(409, 'uniqueness_error', 'server name is already used', { fields: [{ name: 'name' }] })
    }
    const s = this.addServer({
      name: b.name as string,
      status: 'initializing',
      labels: labels as Record<string, string>,
      serverType: b.server_type as string,
      image: b.image as string,
      location: location as string,
      userData: b.user_data as string | undefined,
      sshKeys: sshKeys as Array<string | number>
    })
    const action = this.newAction('create_server', s.id)
    const start = b.start_after_create === false ? [] : [this.newAction('start_server', s.id)]
    return {
      server: this.serverJson(s),
      action: this.actionJson(action),
      next_actions: start.map(a => this.actionJson(a)),
      root_password: (sshKeys as unknown[]).length === 0 ? 'YItygq1v3GYjjMomLaKc' : null
    }
  }

  private newAction (command: string, serverId: number): FakeAction {
    const a: FakeAction = {
      id: this.#nextActionId++,
      command,
      status: 'running',
      progress: 0,
      started: new Date().toISOString(),
      finished: null,
      resources: [{ id: serverId, type: 'server' }],
      error: null
    }
    if (command !== 'start_server' && this.#failNextAction != null) {
      a.failWith = this.#failNextAction
      this.#failNextAction = undefined
    }
    this.actions.set(a.id, a)
    return a
  }

  private advance (a: FakeAction): void {
    if (a.status !== 'running') return
    a.progress = Math.min(100, a.progress + Math.ceil(100 / Math.max(1, this.actionSteps)))
    if (a.progress < 100) return
    a.finished = new Date().toISOString()
    const s = this.servers.get(a.resources[0].id)
    if (a.failWith != null) {
      a.status = 'error'
      a.error = a.failWith
      if (s != null && a.command === 'create_server') s.status = 'off'
      if (s != null && a.command === 'delete_server') s.status = 'running'
      return
    }
    a.status = 'success'
    if (s == null) return
    if (a.command === 'create_server') s.status = 'running'
    if (a.command === 'delete_server') this.servers.delete(s.id)
  }

  private actionJson (a: FakeAction): unknown {
    const { failWith: _, ...json } = a
    return json
  }

  private serverJson (s: FakeServer): unknown {
    const loc = LOCATIONS[s.location] ?? LOCATIONS.fsn1
    return {
      id: s.id,
      name: s.name,
      status: s.status,
      created: s.created,
      labels: s.labels,
      public_net: {
        ipv4: { id: s.id * 10, ip: s.ipv4, blocked: false, dns_ptr: `static.${s.ipv4.split('.').reverse().join('.')}.clients.your-server.de` },
        ipv6: { id: s.id * 10 + 1, ip: s.ipv6, blocked: false, dns_ptr: [] },
        floating_ips: [],
        firewalls: []
      },
      private_net: [],
      server_type: { id: 1, name: s.serverType, description: s.serverType.toUpperCase(), cores: 2, memory: 4, disk: 40, cpu_type: 'shared', architecture: 'x86' },
      location: { name: s.location, ...loc },
      image: { id: 114690387, type: 'system', status: 'available', name: s.image, description: s.image, os_flavor: s.image.split('-')[0], os_version: s.image.split('-')[1] ?? null },
      iso: null,
      rescue_enabled: false,
      locked: false,
      backup_window: null,
      outgoing_traffic: 0,
      ingoing_traffic: 0,
      included_traffic: 21990232555520,
      protection: { delete: false, rebuild: false },
      volumes: [],
      load_balancers: [],
      primary_disk_size: 40,
      placement_group: null
    }
  }
}
