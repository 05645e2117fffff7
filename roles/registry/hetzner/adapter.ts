/**
 * The Hetzner Cloud adapter: one provider project as a virtual remote datacenter. Every server
 * it creates carries the label `ctpf-mesh=<meshId>` (and `ctpf-dc=<dc>`); it lists only those
 * and refuses to delete anything else.
 */
import type { Logger } from 'pino'
import { HetznerClient, type HetznerClientComponents, type HetznerClientInit } from './client.js'
import { HetznerAbortedError, HetznerActionFailedError, HetznerActionTimeoutError, HetznerConfigError, HetznerNotOursError } from './errors.js'
import { dcOfLocation, toHost, type HetznerHost } from './hosts.js'
import { actionResponseSchema, createServerResponseSchema, serverResponseSchema, serverSchema, type ApiAction } from './schemas.js'
import { renderUserData, type AgentInstall } from './user-data.js'

export const MESH_LABEL = 'ctpf-mesh'
export const DC_LABEL = 'ctpf-dc'

const LABEL_VALUE_RE = /^([A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?)?$/
const LABEL_KEY_RE = /^([a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?\/)?[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$/
/** RFC 1123 hostname, as the API demands for server names. */
const NAME_RE = /^(?=.{1,63}$)[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*$/
const PLAIN_RE = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

export interface HetznerRegistryInit extends HetznerClientInit {
  /** The mesh id: servers are labelled `ctpf-mesh=<meshId>`. */
  meshId: string
  /** Poll interval while waiting for an action; default 1000 ms. */
  actionPollMs?: number
  /** Longest wait for one action; default 10 min. */
  actionTimeoutMs?: number
}

export interface HetznerRegistryComponents extends HetznerClientComponents {
  logger?: Logger
}

export interface CreateServerSpec {
  /** Server name (RFC 1123 hostname, unique per project). */
  name: string
  /** e.g. `cx22`. */
  serverType: string
  /** e.g. `debian-12`. */
  image: string
  /** e.g. `nbg1`. */
  location: string
  /** ctpf datacenter of the host; default `hetzner-<location>`. Becomes the agent's `dc` tag. */
  dc?: string
  /** Invite token the agent joins with (written to a 0600 file on the server). */
  inviteToken: string
  agentInstall: AgentInstall
  /** More tags for the new agent. */
  tags?: Record<string, string>
  /** Hetzner SSH key ids or names for root (no root password is then generated). */
  sshKeys?: Array<string | number>
  /** More labels; `ctpf-mesh` and `ctpf-dc` are set by the adapter. */
  labels?: Record<string, string>
}

export interface ActionProgress {
  actionId: number
  command: string
  status: ApiAction['status']
  progress: number
}

export interface WaitOptions {
  signal?: AbortSignal
  /** Wait for the action to finish (default true). */
  wait?: boolean
  onProgress?: (p: ActionProgress) => void
}

export interface CreatedServer {
  host: HetznerHost
  /** The create_server action (finished when `wait` was true). */
  actionId: number
}

export class HetznerRegistry {
  readonly meshId: string
  readonly #client: HetznerClient
  readonly #log: Logger | undefined
  readonly #pollMs: number
  readonly #actionTimeoutMs: number

  constructor (init: HetznerRegistryInit, components: HetznerRegistryComponents = {}) {
    if (typeof init.meshId !== 'string' || init.meshId === '' || !LABEL_VALUE_RE.test(init.meshId)) {
      throw new HetznerConfigError('meshId must be a valid label value (1-63 letters, digits, - _ .)')
    }
    this.meshId = init.meshId
    this.#client = new HetznerClient(init, components)
    this.#log = components.logger?.child({ component: 'registry:hetzner' })
    this.#pollMs = init.actionPollMs ?? 1000
    this.#actionTimeoutMs = init.actionTimeoutMs ?? 10 * 60_000
  }

  toJSON (): unknown { return { meshId: this.meshId } }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return `HetznerRegistry(${this.meshId})` }

  /** Rate-limit state from the last answer (limit, remaining, resetAt). */
  get rateLimit (): Readonly<HetznerClient['rateLimit']> { return this.#client.rateLimit }

  /** This mesh's servers (label `ctpf-mesh=<meshId>`), every page. */
  async listServers (options: { signal?: AbortSignal } = {}): Promise<HetznerHost[]> {
    const servers = await this.#client.list('servers', 'servers', serverSchema, {
      query: { label_selector: `${MESH_LABEL}==${this.meshId}` },
      signal: options.signal
    })
    // the API filtered already; keep the invariant even if it did not
    return servers.filter(s => s.labels[MESH_LABEL] === this.meshId).map(toHost)
  }

  /**
   * Creates a server whose cloud-init installs the agent and joins this mesh with
   * `spec.inviteToken`. With `wait` (default) resolves once the create action succeeded.
   */
  async createServer (spec: CreateServerSpec, options: WaitOptions = {}): Promise<CreatedServer> {
    if (typeof spec.name !== 'string' || !NAME_RE.test(spec.name)) throw new HetznerConfigError('name must be an RFC 1123 hostname of at most 63 characters')
    for (const [field, value] of [['serverType', spec.serverType], ['image', spec.image], ['location', spec.location]] as const) {
      if (typeof value !== 'string' || !PLAIN_RE.test(value)) throw new HetznerConfigError(`${field} must be a Hetzner name such as cx22, debian-12, nbg1`)
    }
    const dc = spec.dc ?? dcOfLocation(spec.location)
    if (!LABEL_VALUE_RE.test(dc) || dc === '') throw new HetznerConfigError('dc must be a valid label value')
    const labels: Record<string, string> = { ...spec.labels, [MESH_LABEL]: this.meshId, [DC_LABEL]: dc }
    for (const [k, v] of Object.entries(labels)) {
      if (!LABEL_KEY_RE.test(k) || k.startsWith('hetzner.cloud/')) throw new HetznerConfigError(`label key ${JSON.stringify(k)} is invalid`)
      if (typeof v !== 'string' || !LABEL_VALUE_RE.test(v)) throw new HetznerConfigError(`label value of ${k} is invalid`)
    }
    const userData = renderUserData({
      inviteToken: spec.inviteToken,
      agentInstall: spec.agentInstall,
      tags: { ...spec.tags, dc, provider: 'hetzner' }
    })
    const body = {
      name: spec.name,
      server_type: spec.serverType,
      image: spec.image,
      location: spec.location,
      start_after_create: true,
      user_data: userData,
      labels,
      ...(spec.sshKeys != null && spec.sshKeys.length > 0 ? { ssh_keys: spec.sshKeys } : {})
    }
    const created = await this.#client.request('POST', 'servers', {
      schema: createServerResponseSchema,
      body,
      signal: options.signal,
      secrets: [spec.inviteToken]
    })
    // root_password (issued when no ssh key was given) is deliberately dropped: access is through the agent
    const host = toHost(created.server)
    this.#log?.info({ host: host.id, dc: host.dc, name: host.name, action: created.action.id }, 'hetzner server created')
    if (options.wait === false) return { host, actionId: created.action.id }
    await this.waitForAction(created.action.id, options)
    const fresh = await this.#client.request('GET', `servers/${created.server.id}`, { schema: serverResponseSchema, signal: options.signal })
    return { host: toHost(fresh.server), actionId: created.action.id }
  }

  /** Deletes one of this mesh's servers. Throws HetznerNotOursError for any other server. */
  async deleteServer (serverId: number, options: WaitOptions = {}): Promise<void> {
    if (!Number.isSafeInteger(serverId) || serverId <= 0) throw new HetznerConfigError('serverId must be a positive integer')
    const { server } = await this.#client.request('GET', `servers/${serverId}`, { schema: serverResponseSchema, signal: options.signal })
    if (server.labels[MESH_LABEL] !== this.meshId) throw new HetznerNotOursError(serverId, this.meshId)
    const { action } = await this.#client.request('DELETE', `servers/${serverId}`, { schema: actionResponseSchema, signal: options.signal })
    this.#log?.info({ host: `hetzner-${serverId}`, action: action.id }, 'hetzner server deletion started')
    if (options.wait === false) return
    await this.waitForAction(action.id, options)
  }

  /** Polls an action until it succeeds (resolves) or fails (HetznerActionFailedError). */
  async waitForAction (actionId: number, options: { signal?: AbortSignal, onProgress?: (p: ActionProgress) => void, timeoutMs?: number } = {}): Promise<ApiAction> {
    const timeoutMs = options.timeoutMs ?? this.#actionTimeoutMs
    const deadline = Date.now() + timeoutMs
    for (;;) {
      const { action } = await this.#client.request('GET', `actions/${actionId}`, { schema: actionResponseSchema, signal: options.signal })
      options.onProgress?.({ actionId, command: action.command, status: action.status, progress: action.progress })
      if (action.status === 'success') return action
      if (action.status === 'error') {
        throw new HetznerActionFailedError(actionId, action.command, action.error?.code ?? 'unknown', action.error?.message ?? 'no reason given')
      }
      if (Date.now() + this.#pollMs > deadline) throw new HetznerActionTimeoutError(actionId, timeoutMs)
      await sleep(this.#pollMs, options.signal, `waiting for action ${actionId}`)
    }
  }
}

async function sleep (ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
  if (signal?.aborted === true) throw new HetznerAbortedError(what)
  await new Promise<void>((resolve, reject) => {
    const onAbort = (): void => { clearTimeout(timer); reject(new HetznerAbortedError(what)) }
    const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
    signal?.addEventListener('abort', onAbort, { once: true })
  })
}
