/**
 * External registries: a provider project as a virtual remote datacenter. An admin adds one
 * (`dcs/<name>`: kind, location, endpoint, the API token sealed to the registry agents); agents
 * tagged role=registry that can open the token run `dc-create-host`, `dc-delete-host` and
 * `dc-sync` jobs: servers whose cloud-init installs the agent and joins with a fresh invite,
 * recorded as hosts (`hosts/<provider id>`).
 *
 * @example
 * await api.putDc('hz-nbg1', { kind: 'hetzner', location: 'nbg1', token })   // sealed at once
 * await jobs.submit({ kind: 'dc-create-host', selector: 'role=registry', spec: { dc: 'hz-nbg1', name: 'edge-1', serverType: 'cx22', image: 'debian-12' } })
 */
import { z } from 'zod'
import { open, seal } from '../protocols/seal/index.js'
import { createHetznerRegistry } from '../roles/registry/hetzner/index.js'
import { HttpError } from './control/errors.js'
import { hasRole } from './roles.js'
import type { JobRunner } from '../protocols/jobs/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { HetznerHost } from '../roles/registry/hetzner/index.js'
import type { HostInventory, HostStatus } from './hosts.js'
import type { KeyObject } from 'node:crypto'
import type { Logger } from 'pino'

export interface DcRecord {
  name: string
  kind: 'hetzner'
  location: string
  endpoint?: string
  agentInstall?: { url: string, sha256: string }
  token: unknown
  recipients: string[]
  by: string
  at: number
}

export const dcInputSchema = z.object({
  kind: z.literal('hetzner'),
  location: z.string().regex(/^[a-z0-9-]{2,32}$/),
  endpoint: z.string().url().max(2048).optional(),
  token: z.string().min(1).max(512),
  agentInstall: z.object({ url: z.string().url().max(2048), sha256: z.string().regex(/^[0-9a-f]{64}$/) }).strict().optional()
}).strict()

const aadOf = (dc: string): string => `ctpf:dc-token:${dc}`
const DC_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** The admin's side: stores a provider dc with its API token sealed to the registry agents. */
export async function putDc (c: { self: string, state: StateService, registry: MemberRegistry }, name: string, raw: unknown): Promise<Omit<DcRecord, 'token'>> {
  if (!DC_NAME.test(name)) throw new HttpError('BAD_REQUEST', 'dc names are letters, digits, . _ - (at most 64)')
  const parsed = dcInputSchema.safeParse(raw)
  if (!parsed.success) throw new HttpError('BAD_REQUEST', parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; '))
  const { token, ...rest } = parsed.data
  const recipients = c.registry.members()
    .filter(m => hasRole(m.tags, 'registry'))
    .map(m => ({ id: m.peerId, publicKey: c.state.store.get<{ publicKey: string }>(`sealkeys/${m.peerId}`)?.publicKey }))
    .filter((r): r is { id: string, publicKey: string } => r.publicKey != null)
  if (recipients.length === 0) throw new HttpError('NO_RECIPIENTS', 'no agent with role=registry has published a sealing key: the API token would have nobody to open it')
  const record: DcRecord = { name, ...rest, token: seal(Buffer.from(token), recipients, { aad: aadOf(name) }), recipients: recipients.map(r => r.id), by: c.self, at: Date.now() }
  await c.state.write(`dcs/${name}`, record)
  const { token: _t, ...view } = record
  return view
}

export function listDcs (state: StateService): Array<Omit<DcRecord, 'token'>> {
  return state.store.list<DcRecord>('dcs/').map(({ value }) => { const { token: _t, ...view } = value; return view })
}

const createSpec = z.object({ dc: z.string().max(64), name: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/), serverType: z.string().max(64), image: z.string().max(128), tags: z.record(z.string(), z.string()).optional() }).strict()
const deleteSpec = z.object({ dc: z.string().max(64), id: z.string().regex(/^hetzner-\d+$/) }).strict()
const syncSpec = z.object({ dc: z.string().max(64) }).strict()

/** Errors that another attempt cannot fix: the job fails at once. */
const FINAL = new Set(['ERR_HETZNER_UNAUTHORIZED', 'ERR_HETZNER_CONFIG', 'ERR_HETZNER_NOT_OURS', 'ERR_HETZNER_USER_DATA_TOO_LARGE', 'DC_NOT_FOUND', 'DC_TOKEN_SEALED', 'DC_NO_AGENT'])
function final<A extends unknown[], R> (fn: (...a: A) => Promise<R>): (...a: A) => Promise<R> {
  return async (...a) => {
    try { return await fn(...a) } catch (err) {
      const code = (err as { code?: string, name?: string }).code ?? ''
      if (FINAL.has(code) || (err as Error).name === 'ZodError') Object.assign(err as object, { retryable: false })
      throw err
    }
  }
}

const STATUS: Record<string, HostStatus | undefined> = { booting: 'booting', installing: 'installing', installed: 'installed', failed: 'failed' }

/** The registry agents' side: job kinds that drive the provider. */
export function startExternalRegistries (c: {
  self: string
  meshId: string
  state: StateService
  jobs: JobRunner
  inventory: HostInventory
  sealKey: KeyObject
  createInvite: (init: { tags?: Record<string, string>, ttlSeconds?: number }) => Promise<string>
  log: Logger
}): void {
  const adapter = (dcName: string): { dc: DcRecord, hetzner: ReturnType<typeof createHetznerRegistry> } => {
    const dc = c.state.store.get<DcRecord>(`dcs/${dcName}`)
    if (dc == null) throw Object.assign(new Error(`no datacenter ${dcName}`), { code: 'DC_NOT_FOUND' })
    let token: string
    try {
      token = Buffer.from(open(dc.token, { id: c.self, privateKey: c.sealKey }, { aad: aadOf(dc.name) })).toString('utf8')
    } catch (err) {
      throw Object.assign(new Error(`this agent cannot open the API token of ${dcName} (${(err as { code?: string }).code ?? 'sealed'}); it is sealed to ${dc.recipients.length} agent(s)`), { code: 'DC_TOKEN_SEALED' })
    }
    return { dc, hetzner: createHetznerRegistry({ meshId: c.meshId, token, endpoint: dc.endpoint, actionPollMs: 500 }, { logger: c.log }) }
  }
  const record = async (dcName: string, h: HetznerHost): Promise<void> => {
    await c.state.write(`hosts/${h.id}`, { dc: dcName, hostname: h.name, addresses: h.addresses, tags: { provider: 'hetzner', serverId: String(h.serverId) } })
    const status = STATUS[h.status]
    if (status != null && c.inventory.get(h.id)?.status !== status) await c.inventory.transition(h.id, status, { addresses: h.addresses })
  }
  c.jobs.register('dc-create-host', final(async ({ spec, signal, log }) => {
    const s = createSpec.parse(spec)
    const { dc, hetzner } = adapter(s.dc)
    if (dc.agentInstall == null) throw Object.assign(new Error(`datacenter ${s.dc} has no agentInstall (the URL and sha256 of the agent bundle its servers install)`), { code: 'DC_NO_AGENT' })
    const inviteToken = await c.createInvite({ tags: { dc: s.dc, name: s.name, ...s.tags }, ttlSeconds: 3600 })
    const { host } = await hetzner.createServer({ name: s.name, serverType: s.serverType, image: s.image, location: dc.location, dc: s.dc, inviteToken, agentInstall: dc.agentInstall, tags: s.tags }, { signal, onProgress: p => { log(`${p.command ?? 'action'}: ${p.progress ?? 0}%`) } })
    await record(s.dc, host)
    log(`server ${host.name} (${host.id}) is ${host.status} at ${host.addresses.join(', ')}`)
    return host
  }), { capacity: 2 })
  c.jobs.register('dc-delete-host', final(async ({ spec, signal, log }) => {
    const s = deleteSpec.parse(spec)
    const { hetzner } = adapter(s.dc)
    await hetzner.deleteServer(Number(s.id.slice('hetzner-'.length)), { signal })
    await c.state.delete(`hosts/${s.id}`)
    for (const { key } of c.state.store.list(`hostevents/${s.id}/`)) await c.state.delete(key)
    log(`server ${s.id} deleted`)
    return { deleted: s.id }
  }), { capacity: 2 })
  c.jobs.register('dc-sync', final(async ({ spec, signal }) => {
    const s = syncSpec.parse(spec)
    const { hetzner } = adapter(s.dc)
    const hosts = await hetzner.listServers({ signal })
    for (const h of hosts) await record(s.dc, h)
    return { hosts: hosts.map(h => ({ id: h.id, name: h.name, status: h.status, addresses: h.addresses })) }
  }), { capacity: 1 })
}
