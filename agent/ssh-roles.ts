/**
 * The SSH distributor roles on an agent (role=ssh): `ssh` jobs that run commands and scripts
 * on registered hosts, the network distributor (`host-join`: a host into the mesh as an agent)
 * and the workload distributor (`cluster-create`, `cluster-grow`, `cluster-shrink`,
 * `cluster-delete`, `cluster-health`: k3s clusters). Wired by the agent at start.
 *
 * An agent works on the hosts of its own datacenter (its `dc` tag) only, with that dc's
 * general SSH key (`keys/dc/<dc>`), opened for each job and held in memory only. Host keys are
 * pinned to what the registry recorded; a host without one is refused (never trust on first use).
 *
 * @example
 * await startSshRoles({ self, tags, dataDir, jobs, state, inventory, artifacts, registry, createInvite, log })
 */
import { randomBytes } from 'node:crypto'
import { z } from 'zod'
import { open, seal, type SealedEnvelope } from '../protocols/seal/index.js'
import { parseSelector } from '../protocols/jobs/index.js'
import { runOnHosts, type HostResult } from '../roles/distributor/ssh/index.js'
import {
  ArtifactMissingError, ClusterExistsError, ClusterNotFoundError, createCluster, growCluster, LastServerError, listNodes,
  MembershipError, NoHostsError, removeNode, WorkloadConfigError,
  type NodeOutcome, type NodeRole, type NodeStatus, type WorkloadComponents, type WorkloadHost
} from '../roles/distributor/workload/index.js'
import { installAgent, JoinTimeoutError } from '../roles/distributor/network/index.js'
import { loadSealKey } from './datadir.js'
import { hasRole } from './roles.js'
import type { Artifacts } from '../protocols/artifacts/index.js'
import type { JobRunner } from '../protocols/jobs/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { HostInventory, HostView } from './hosts.js'
import type { DcKeyRecord } from './provision.js'
import type { Logger } from 'pino'

export interface SshRolesInit {
  self: string
  tags: Record<string, string>
  dataDir: string
  jobs: JobRunner
  state: StateService
  inventory: HostInventory
  artifacts: Artifacts
  registry: MemberRegistry
  /** The mesh's overlay range from this agent's config (`overlay.range`): hosts joined by `host-join` take part in the overlay. */
  overlayRange?: string
  /** Mints a single-use invite token (this agent must be an admin) for a host joining as an agent. */
  createInvite: (init: { tags?: Record<string, string>, ttlSeconds?: number }) => Promise<string>
  log: Logger
}

/** Artifact names the roles use. */
export const ARTIFACTS = { k3s: 'k3s/k3s', k3sImages: 'k3s/images.tar', agent: 'ctpf/agent' } as const

/** A per-host line of an `ssh` job's result. */
export interface SshHostSummary {
  host: string
  ok: boolean
  exitCode?: number
  signal?: string
  error?: { code: string, message: string, seenFingerprint?: string }
  durationMs: number
  stdoutTail: string
  stderrTail: string
}

export interface SshJobResult {
  dc: string
  selector: string
  hosts: SshHostSummary[]
  ok: number
  failed: number
  /** When the per-host lines would not fit in the job record: all of them, as a JSON artifact (`hosts` is then empty). */
  resultCid?: string
}

/** Largest result kept in the job record itself (state records are at most 64 KiB). */
const INLINE_RESULT_BYTES = 16 * 1024
const MAX_SCRIPT_BYTES = 16 * 1024 * 1024

/** A cluster member as kept in `clusters/<name>`. */
export interface ClusterMember { host: string, role: NodeRole, nodeName: string, nodeIp: string, joinedAt: number }

/** `clusters/<name>`: written by the dc's SSH distributor; the token and kubeconfig are sealed. */
export interface ClusterRecord {
  name: string
  dc: string
  status: 'creating' | 'ready' | 'degraded' | 'failed' | 'deleting'
  version?: string
  serverUrl?: string
  flannelIface: string
  root: string
  init: 'auto' | 'detached'
  nodeIpFrom?: 'iface' | 'address'
  members: ClusterMember[]
  /** Hosts that failed to join at the last operation. */
  failures: Array<{ host: string, code: string, message: string }>
  health?: { checkedAt: number, nodes: NodeStatus[] }
  /** Sealed to the admins and the dc's SSH agents: aad `ctpf:k3s-token:<name>` / `ctpf:kubeconfig:<name>`. */
  token: SealedEnvelope
  kubeconfig?: SealedEnvelope
  recipients: string[]
  createdAt: number
  updatedAt: number
  by: string
}

export const tokenAad = (name: string): string => `ctpf:k3s-token:${name}`
export const kubeconfigAad = (name: string): string => `ctpf:kubeconfig:${name}`

class SshRoleError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
    this.name = 'SshRoleError'
  }
}

const NAME = /^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/

/** A host's facts as a flat record for selectors: id, mac, dc, status, hostname, arch, user, `tag.<k>`. */
export function hostFacts (h: HostView): Record<string, string> {
  const f: Record<string, string> = { id: h.id, status: h.status }
  if (h.mac != null) f.mac = h.mac
  if (h.dc != null) f.dc = h.dc
  if (h.hostname != null) f.hostname = h.hostname
  if (h.arch != null) f.arch = h.arch
  if (h.user != null) f.user = h.user
  for (const [k, v] of Object.entries(h.tags)) f[`tag.${k}`] = v
  return f
}

type Target = { id: string, address: string, port: number, user: string, hostKey: string }

/** How to reach a host over SSH, or why it cannot be (no pinned host key, no address). */
function targetOf (h: HostView): Target | { id: string, error: { code: string, message: string } } {
  if (h.sshHostKey == null || h.sshHostKey.trim() === '') {
    return { id: h.id, error: { code: 'ERR_SSH_NO_HOST_KEY', message: `host ${h.id} has no recorded SSH host key: refusing to connect (add it with ctpf host add … --host-key FILE)` } }
  }
  const address = h.addresses.find(a => !a.includes(':')) ?? h.addresses[0]
  if (address == null) return { id: h.id, error: { code: 'ERR_SSH_NO_ADDRESS', message: `host ${h.id} has no known address` } }
  return { id: h.id, address, port: h.port ?? 22, user: h.user ?? 'root', hostKey: h.sshHostKey }
}

const isTarget = (t: ReturnType<typeof targetOf>): t is Target => !('error' in t)

const tail = (s: string, n = 4000): string => s.length > n ? s.slice(-n) : s

function summary (r: HostResult): SshHostSummary {
  return {
    host: r.host,
    ok: r.ok,
    ...(r.exitCode !== undefined ? { exitCode: r.exitCode } : {}),
    ...(r.signal !== undefined ? { signal: r.signal } : {}),
    ...(r.error !== undefined ? { error: r.error } : {}),
    durationMs: r.durationMs,
    stdoutTail: tail(r.stdout),
    stderrTail: tail(r.stderr)
  }
}

const sshSpec = z.object({
  hosts: z.string().max(1024).default(''),
  command: z.array(z.string().max(65_536)).min(1).max(4096).optional(),
  script: z.string().max(32 * 1024).optional(),
  /** A larger script, as an artifact (CID or name): job records are small. */
  scriptRef: z.string().min(1).max(256).optional(),
  interpreter: z.array(z.string()).min(1).max(16).optional(),
  /** Artifacts put on every host (over SFTP, atomically) before the command or script runs. */
  uploads: z.array(z.object({
    artifact: z.string().min(1).max(256),
    path: z.string().regex(/^\//, 'an absolute path').max(4096),
    mode: z.number().int().min(0).max(0o7777).optional()
  }).strict()).max(64).default([]),
  timeoutMs: z.number().int().min(0).max(24 * 3600_000).optional(),
  concurrency: z.number().int().min(1).max(1000).optional(),
  /** Hosts the run succeeded on, installed until now, become ready (their setup is done). */
  markReady: z.boolean().optional(),
  failFast: z.boolean().optional()
}).strict().refine(s => [s.command, s.script, s.scriptRef].filter(x => x !== undefined).length === 1, 'exactly one of command, script and scriptRef')

const createSpec = z.object({
  name: z.string().regex(NAME, 'a cluster name is a DNS label'),
  hosts: z.string().max(1024),
  servers: z.number().int().min(1).max(99).default(1),
  flannelIface: z.string().regex(/^[A-Za-z0-9_.-]{1,15}$/).default('ctpf0'),
  /** Where k3s's files go on each host; `{host}` is replaced by the host id (tests). */
  root: z.string().regex(/^\//).max(512).default('/'),
  init: z.enum(['auto', 'detached']).default('auto'),
  waitSeconds: z.number().int().min(1).max(3600).default(120),
  /** node-ip from the flannel interface's address (the overlay's), else the registered one; or always the registered one. */
  nodeIpFrom: z.enum(['iface', 'address']).default('iface')
}).strict()
const growSpec = z.object({ name: z.string().regex(NAME), hosts: z.string().max(1024), role: z.enum(['server', 'agent']).default('agent') }).strict()
const shrinkSpec = z.object({ name: z.string().regex(NAME), host: z.string().min(1).max(128) }).strict()
const nameSpec = z.object({ name: z.string().regex(NAME) }).strict()
const joinSpec = z.object({
  host: z.string().min(1).max(128),
  root: z.string().regex(/^\//).max(512).default('/'),
  node: z.string().min(1).max(512).default('node'),
  listen: z.array(z.string().max(256)).max(8).optional(),
  init: z.enum(['auto', 'detached']).default('auto'),
  /** The overlay range for the host's agent (default: this agent's `overlay.range`); '' leaves the host out of the overlay. */
  overlayRange: z.string().regex(/^(\d{1,3}(\.\d{1,3}){3}\/\d{1,2})?$/).optional(),
  timeoutMs: z.number().int().min(1000).max(3600_000).default(120_000),
  ttlSeconds: z.number().int().min(60).max(24 * 3600).default(900)
}).strict()

function parse<T> (schema: z.ZodType<T>, spec: unknown, what: string): T {
  const r = schema.safeParse(spec ?? {})
  if (!r.success) throw new SshRoleError('BAD_REQUEST', `invalid ${what} spec: ${r.error.issues.map(i => `${i.path.join('.') || '(spec)'}: ${i.message}`).join('; ')}`)
  return r.data
}

export async function startSshRoles (init: SshRolesInit): Promise<void> {
  const { jobs, state, inventory, artifacts, registry, self, log } = init
  const dc = init.tags.dc
  if (dc == null || dc === '') {
    log.warn('role=ssh without a dc tag: this agent runs no SSH jobs (tag it dc=<datacenter>)')
    return
  }

  /** The dc's general key, opened for one job; the caller zeroes it when done. */
  const openDcKey = (): Buffer => {
    const record = state.store.get<DcKeyRecord>(`keys/dc/${dc}`)
    if (record == null) throw new SshRoleError('ERR_SSH_NO_DC_KEY', `datacenter ${dc} has no general SSH key (ctpf dc key ${dc})`)
    if (!record.recipients.includes(self)) throw new SshRoleError('ERR_SSH_NOT_RECIPIENT', `the general key of ${dc} is not sealed to this agent (generate it again with ctpf dc key ${dc})`)
    const raw = open(record.sealed, { id: self, privateKey: loadSealKey(init.dataDir) }, { aad: `ctpf:dc-key:${dc}` })
    // a view, not a copy: zeroing it after the job wipes the only plaintext
    return Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength)
  }

  const withKey = async <T>(fn: (key: Buffer) => Promise<T>): Promise<T> => {
    const key = openDcKey()
    try { return await fn(key) } finally { key.fill(0) }
  }

  /** The dc's hosts matching `selector`, by id. */
  const select = (selector: string): HostView[] => {
    const sel = parseSelector(selector)
    return inventory.list().filter(h => h.dc === dc && sel.matches(hostFacts(h)))
  }

  const artifactStream = (ref: string, signal: AbortSignal) => (): AsyncIterable<Uint8Array> => (async function * () {
    const { body } = await artifacts.cat(ref, { signal })
    yield * body
  })()

  /** An artifact name, else a CID. */
  const resolveRef = (ref: string): string => { try { return artifacts.resolveName(ref) } catch { return ref } }

  const readArtifact = async (ref: string, max: number, signal: AbortSignal): Promise<Buffer> => {
    const { body } = await artifacts.cat(resolveRef(ref), { signal })
    const parts: Uint8Array[] = []
    let size = 0
    for await (const chunk of body) {
      size += chunk.byteLength
      if (size > max) throw new SshRoleError('BAD_REQUEST', `artifact ${ref} is larger than ${max} bytes`)
      parts.push(chunk)
    }
    return Buffer.concat(parts)
  }

  const resolveArtifact = (name: string, required: boolean): string | undefined => {
    try { return artifacts.resolveName(name) } catch {
      if (required) throw new ArtifactMissingError(name)
      return undefined
    }
  }

  // ---- ssh: a command or script on the dc's hosts ----
  jobs.register('ssh', async ({ spec, signal, log: jobLog }) => {
    const s = parse(sshSpec, spec, 'ssh')
    const hosts = select(s.hosts)
    if (hosts.length === 0) throw new SshRoleError('ERR_SSH_NO_HOSTS', `no host of datacenter ${dc} matches "${s.hosts}"`)
    const targets = hosts.map(targetOf)
    const reachable = targets.filter(isTarget)
    const refused: SshHostSummary[] = targets.filter(t => !isTarget(t)).map(t => {
      const e = (t as { id: string, error: { code: string, message: string } })
      jobLog(`[${e.id}] ${e.error.code}: ${e.error.message}`)
      return { host: e.id, ok: false, error: e.error, durationMs: 0, stdoutTail: '', stderrTail: '' }
    })
    const script = s.scriptRef !== undefined ? await readArtifact(s.scriptRef, MAX_SCRIPT_BYTES, signal) : s.script
    jobLog(`running on ${reachable.length} host(s) of ${dc}${refused.length > 0 ? ` (${refused.length} refused)` : ''}`)
    const results = reachable.length === 0
      ? []
      : await withKey(async privateKey => await runOnHosts({
        hosts: reachable,
        privateKey,
        ...(s.command !== undefined ? { command: s.command } : { script: { content: script as string | Buffer, ...(s.interpreter !== undefined ? { interpreter: s.interpreter } : {}) } }),
        uploads: s.uploads.map(u => ({ path: u.path, stream: artifactStream(resolveRef(u.artifact), signal), ...(u.mode !== undefined ? { mode: u.mode } : {}) })),
        ...(s.timeoutMs !== undefined ? { timeoutMs: s.timeoutMs } : {}),
        ...(s.concurrency !== undefined ? { concurrency: s.concurrency } : {}),
        ...(s.failFast !== undefined ? { failFast: s.failFast } : {})
      }, {
        signal,
        logger: log,
        onOutput: l => { jobLog(`[${l.host}]${l.stream === 'stderr' ? ' (stderr)' : ''} ${l.line}`) },
        onHostDone: r => { jobLog(`[${r.host}] ${r.ok ? 'ok' : `failed: ${r.error?.code ?? ''} ${r.error?.message ?? ''}`} (${Math.round(r.durationMs)} ms)`) }
      }))
    const all = [...results.map(summary), ...refused].sort((a, b) => a.host.localeCompare(b.host))
    if (s.markReady === true) {
      for (const h of all) {
        if (h.ok && inventory.get(h.host)?.status === 'installed') {
          await inventory.transition(h.host, 'ready')
          jobLog(`[${h.host}] ready`)
        }
      }
    }
    const result: SshJobResult = { dc, selector: s.hosts, hosts: all, ok: all.filter(h => h.ok).length, failed: all.filter(h => !h.ok).length }
    const json = JSON.stringify(result)
    if (Buffer.byteLength(json) <= INLINE_RESULT_BYTES) return result
    const { cid } = await artifacts.add(Buffer.from(json), { pin: true, signal })
    jobLog(`the per-host results are in artifact ${cid}`)
    return { ...result, hosts: [], resultCid: cid }
  }, { capacity: 4 })

  // ---- workload: k3s clusters ----
  const clusterKey = (name: string): string => `clusters/${name}`
  const getCluster = (name: string): ClusterRecord => {
    const c = state.store.get<ClusterRecord>(clusterKey(name))
    if (c == null) throw new ClusterNotFoundError(name)
    if (c.dc !== dc) throw new WorkloadConfigError(`cluster ${name} belongs to datacenter ${c.dc}`)
    return c
  }
  /** The admins and this dc's SSH agents that published a sealing key. */
  const recipients = (): Array<{ id: string, publicKey: string }> => registry.members()
    .filter(m => registry.isAdmin(m.peerId) || (m.tags.dc === dc && hasRole(m.tags, 'ssh')))
    .map(m => ({ id: m.peerId, publicKey: state.store.get<{ publicKey: string }>(`sealkeys/${m.peerId}`)?.publicKey }))
    .filter((r): r is { id: string, publicKey: string } => r.publicKey != null)
  const openSecret = (env: SealedEnvelope, aad: string): string =>
    Buffer.from(open(env, { id: self, privateKey: loadSealKey(init.dataDir) }, { aad })).toString('utf8')

  const rootFor = (root: string, hostId: string): string => root.replaceAll('{host}', hostId)
  const workloadHost = (h: HostView, root: string): WorkloadHost => {
    const t = targetOf(h)
    if (!isTarget(t)) throw new NoHostsError(t.error.message)
    return { ...t, nodeIp: t.address, nodeName: h.hostname ?? h.id, root: rootFor(root, h.id) }
  }
  const memberHost = (c: ClusterRecord, m: ClusterMember): WorkloadHost => {
    const h = inventory.get(m.host)
    if (h == null) throw new NoHostsError(`host ${m.host} of cluster ${c.name} is no longer in the registry`)
    return { ...workloadHost(h, c.root), nodeIp: m.nodeIp, nodeName: m.nodeName }
  }
  const components = (key: Buffer, signal: AbortSignal): WorkloadComponents => {
    const bin = resolveArtifact(ARTIFACTS.k3s, true) as string
    const images = resolveArtifact(ARTIFACTS.k3sImages, false)
    return { privateKey: key, binary: artifactStream(bin, signal), ...(images !== undefined ? { images: artifactStream(images, signal) } : {}), logger: log }
  }
  const opOptions = (c: Pick<ClusterRecord, 'flannelIface' | 'init' | 'nodeIpFrom'>, signal: AbortSignal, jobLog: (l: string) => void, waitSeconds = 120) => ({
    signal,
    flannelIface: c.flannelIface,
    init: c.init,
    nodeIpFrom: c.nodeIpFrom ?? 'iface',
    waitSeconds,
    onStep: (l: string) => { jobLog(l) },
    onOutput: (l: { host: string, stream: string, line: string }) => { jobLog(`[${l.host}]${l.stream === 'stderr' ? ' (stderr)' : ''} ${l.line}`) }
  })
  const failuresOf = (nodes: NodeOutcome[]): ClusterRecord['failures'] =>
    nodes.filter(n => !n.ok).map(n => ({ host: n.host, code: n.error?.code ?? 'ERR_WORKLOAD_INSTALL', message: n.error?.message ?? '' }))
  const publicView = (c: ClusterRecord): Omit<ClusterRecord, 'token' | 'kubeconfig'> & { hasKubeconfig: boolean } => {
    const { token: _t, kubeconfig, ...rest } = c
    return { ...rest, hasKubeconfig: kubeconfig != null }
  }
  const write = async (c: ClusterRecord): Promise<void> => { await state.write(clusterKey(c.name), { ...c, updatedAt: Date.now() }) }

  jobs.register('cluster-create', async ({ spec, signal, log: jobLog }) => {
    const s = parse(createSpec, spec, 'cluster-create')
    const existing = state.store.get<ClusterRecord>(clusterKey(s.name))
    if (existing != null && existing.status !== 'failed') throw new ClusterExistsError(s.name)
    const hosts = select(s.hosts).map(h => workloadHost(h, s.root))
    if (hosts.length === 0) throw new NoHostsError(`no host of datacenter ${dc} matches "${s.hosts}"`)
    if (s.servers > hosts.length) throw new WorkloadConfigError(`${s.servers} servers asked for, ${hosts.length} host(s) match`)
    const to = recipients()
    const token = randomBytes(32).toString('hex')
    const now = Date.now()
    // the token is sealed and stored before any host sees it: a cluster half made by an agent
    // that died can still be grown, shrunk or deleted by another
    const record: ClusterRecord = {
      name: s.name, dc, status: 'creating', flannelIface: s.flannelIface, root: s.root, init: s.init, nodeIpFrom: s.nodeIpFrom, members: [], failures: [],
      token: seal(Buffer.from(token), to, { aad: tokenAad(s.name) }), recipients: to.map(r => r.id), createdAt: now, updatedAt: now, by: self
    }
    await write(record)
    jobLog(`cluster ${s.name}: ${s.servers} server(s), ${hosts.length - s.servers} agent(s) on ${hosts.map(h => h.id).join(', ')}`)
    return await withKey(async key => {
      try {
        const made = await createCluster({ hosts, servers: s.servers, token }, components(key, signal), opOptions(s, signal, jobLog, s.waitSeconds))
        const members = made.nodes.filter(n => n.ok).map(n => ({ host: n.host, role: n.role, nodeName: n.nodeName, nodeIp: n.nodeIp, joinedAt: Date.now() }))
        const failures = failuresOf(made.nodes)
        const done: ClusterRecord = {
          ...record, status: failures.length === 0 ? 'ready' : 'degraded', members, failures, serverUrl: made.serverUrl,
          ...(made.version !== undefined ? { version: made.version } : {}),
          health: { checkedAt: Date.now(), nodes: made.health },
          kubeconfig: seal(Buffer.from(made.kubeconfig), to, { aad: kubeconfigAad(s.name) })
        }
        await write(done)
        jobLog(`cluster ${s.name} ${done.status}: ${members.length} node(s)`)
        return publicView(done)
      } catch (err) {
        const e = err as { code?: string, message?: string }
        await write({ ...record, status: 'failed', failures: [{ host: hosts[0]?.id ?? '', code: e.code ?? 'ERR_WORKLOAD', message: e.message ?? String(err) }] }).catch(() => {})
        throw err
      }
    })
  }, { capacity: 2 })

  jobs.register('cluster-grow', async ({ spec, signal, log: jobLog }) => {
    const s = parse(growSpec, spec, 'cluster-grow')
    const c = getCluster(s.name)
    const server = c.members.find(m => m.role === 'server')
    if (server == null) throw new MembershipError(`cluster ${s.name} has no server`)
    const known = new Set(c.members.map(m => m.host))
    const hosts = select(s.hosts).filter(h => !known.has(h.id)).map(h => workloadHost(h, c.root))
    if (hosts.length === 0) throw new NoHostsError(`no host of datacenter ${dc} outside cluster ${s.name} matches "${s.hosts}"`)
    const token = openSecret(c.token, tokenAad(c.name))
    return await withKey(async key => {
      const grown = await growCluster({ server: memberHost(c, server), hosts, role: s.role, token }, components(key, signal), opOptions(c, signal, jobLog))
      const added = grown.nodes.filter(n => n.ok).map(n => ({ host: n.host, role: n.role, nodeName: n.nodeName, nodeIp: n.nodeIp, joinedAt: Date.now() }))
      const failures = failuresOf(grown.nodes)
      const next: ClusterRecord = { ...getCluster(s.name), members: [...c.members, ...added], failures, status: failures.length === 0 ? 'ready' : 'degraded', health: { checkedAt: Date.now(), nodes: grown.health } }
      await write(next)
      return publicView(next)
    })
  }, { capacity: 2 })

  jobs.register('cluster-shrink', async ({ spec, signal, log: jobLog }) => {
    const s = parse(shrinkSpec, spec, 'cluster-shrink')
    const c = getCluster(s.name)
    const h = inventory.get(s.host) ?? inventory.list().find(x => x.hostname === s.host)
    const member = c.members.find(m => m.host === h?.id || m.nodeName === s.host)
    if (member == null) throw new MembershipError(`host ${s.host} is not a node of cluster ${s.name}`)
    const servers = c.members.filter(m => m.role === 'server' && m.host !== member.host)
    if (member.role === 'server' && servers.length === 0) throw new LastServerError(s.name, member.host)
    return await withKey(async key => {
      const comps = components(key, signal)
      const via = servers[0]
      const out = await removeNode({ ...(via !== undefined ? { server: memberHost(c, via) } : {}), host: memberHost(c, member), role: member.role }, comps, opOptions(c, signal, jobLog))
      const rest = getCluster(s.name).members.filter(m => m.host !== member.host)
      const health = via !== undefined ? await listNodes(memberHost(c, via), comps, { signal }).catch(() => undefined) : undefined
      const next: ClusterRecord = { ...getCluster(s.name), members: rest, ...(health !== undefined ? { health: { checkedAt: Date.now(), nodes: health } } : {}) }
      await write(next)
      if (!out.removed) jobLog(`${member.host}: k3s could not be removed from the host: ${out.error?.code ?? ''} ${out.error?.message ?? ''}`)
      return { ...publicView(next), removed: { host: member.host, drained: out.drained, cleaned: out.removed } }
    })
  }, { capacity: 2 })

  jobs.register('cluster-delete', async ({ spec, signal, log: jobLog }) => {
    const s = parse(nameSpec, spec, 'cluster-delete')
    const c = getCluster(s.name)
    await write({ ...c, status: 'deleting' })
    return await withKey(async key => {
      const comps = components(key, signal)
      // the agents (all at once), then the servers; nothing to drain into
      const left: string[] = []
      for (const role of ['agent', 'server'] as const) {
        await Promise.all(c.members.filter(m => m.role === role).map(async m => {
          const out = await removeNode({ host: memberHost(c, m), role: m.role }, comps, opOptions(c, signal, jobLog)).catch(err => ({ removed: false, error: err as Error }))
          if (!out.removed) left.push(m.host)
        }))
      }
      await state.delete(clusterKey(s.name))
      return { name: s.name, deleted: true, notCleaned: left }
    })
  }, { capacity: 2 })

  jobs.register('cluster-health', async ({ spec, signal }) => {
    const s = parse(nameSpec, spec, 'cluster-health')
    const c = getCluster(s.name)
    const server = c.members.find(m => m.role === 'server')
    if (server == null) throw new MembershipError(`cluster ${s.name} has no server`)
    return await withKey(async key => {
      const nodes = await listNodes(memberHost(c, server), { privateKey: key, binary: () => (async function * () {})(), logger: log }, { signal })
      const next: ClusterRecord = { ...getCluster(s.name), health: { checkedAt: Date.now(), nodes } }
      await write(next)
      return publicView(next)
    })
  }, { capacity: 4 })

  // ---- network: a host into the mesh as an agent ----
  jobs.register('host-join', async ({ spec, signal, log: jobLog }) => {
    const s = parse(joinSpec, spec, 'host-join')
    const h = inventory.get(s.host) ?? inventory.list().find(x => x.hostname === s.host)
    if (h == null || h.dc !== dc) throw new NoHostsError(`no host ${s.host} in datacenter ${dc}`)
    const t = targetOf(h)
    if (!isTarget(t)) throw new SshRoleError(t.error.code, t.error.message)
    const bundle = resolveArtifact(ARTIFACTS.agent, false)
    if (bundle == null) throw new ArtifactMissingError(ARTIFACTS.agent)
    const name = h.hostname ?? h.id
    const before = new Set(registry.members().map(m => m.peerId))
    const token = await init.createInvite({ tags: { dc, name }, ttlSeconds: s.ttlSeconds })
    const overlayRange = s.overlayRange ?? init.overlayRange
    jobLog(`${h.id}: installing the agent (joins as name=${name}, dc=${dc}${overlayRange != null && overlayRange !== '' ? `, overlay ${overlayRange}` : ''})`)
    await withKey(async key => {
      await installAgent({
        host: t, privateKey: key, bundle: artifactStream(bundle, signal), token, root: rootFor(s.root, h.id), node: s.node, init: s.init,
        ...(overlayRange != null && overlayRange !== '' ? { overlay: { range: overlayRange } } : {}),
        ...(s.listen !== undefined ? { listen: s.listen } : {}), logger: log
      }, { signal, onOutput: l => { jobLog(`[${l.host}]${l.stream === 'stderr' ? ' (stderr)' : ''} ${l.line}`) } })
    })
    jobLog(`${h.id}: agent started; waiting for it to join`)
    const until = Date.now() + s.timeoutMs
    while (Date.now() < until && !signal.aborted) {
      const joined = registry.members().find(m => !before.has(m.peerId) && m.tags.name === name && m.tags.dc === dc)
      if (joined != null) {
        jobLog(`${h.id}: joined as ${joined.peerId}`)
        return { host: h.id, name, peerId: joined.peerId, tags: joined.tags }
      }
      await new Promise(resolve => setTimeout(resolve, 500))
    }
    throw new JoinTimeoutError(h.id, s.timeoutMs)
  }, { capacity: 4 })

  log.info({ dc }, 'SSH distributor roles started: ssh, host-join, cluster-*')
}
