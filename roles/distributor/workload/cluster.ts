/**
 * Cluster operations over SSH: create (first server, further servers, agents), grow, remove a
 * node (drain and delete it through a remaining server, then stop k3s on the host and remove
 * its files), delete, and read the node list. Each host is worked on with its own SSH runs
 * (its paths differ when its root does); hosts of one phase run at once.
 */
import { posix } from 'node:path'
import type { Logger } from 'pino'
import { runOnHosts, type HostError, type HostResult, type OutputLine } from '../ssh/index.js'
import { NodeInstallError, ServerNotReadyError, WorkloadConfigError } from './errors.js'
import {
  k3sPaths, kubectl, parseNodes, parseVersion, renderConfig, renderUnit, REMOVE_SCRIPT, rewriteKubeconfig, scriptEnv,
  serverUrl, START_SCRIPT, unitName, type NodeRole, type NodeStatus
} from './k3s.js'

/** A host to put k3s on: how to reach it over SSH, and what it is called in the cluster. */
export interface WorkloadHost {
  /** Registry id. */
  id: string
  address: string
  port: number
  user: string
  /** Pinned host key (OpenSSH line or `SHA256:` fingerprint). */
  hostKey: string
  /** The address k3s uses for this node (node-ip; the overlay address where there is one). */
  nodeIp: string
  /** The Kubernetes node name. */
  nodeName: string
  /** Where k3s's files go ('/' on a real host). */
  root: string
}

export interface WorkloadComponents {
  /** The datacenter's SSH key (in memory only, never logged). */
  privateKey: Buffer
  /** The k3s binary's bytes; called once per host. */
  binary: () => AsyncIterable<Uint8Array>
  /** The air-gap image bundle, when the mesh has one; called once per host. */
  images?: () => AsyncIterable<Uint8Array>
  logger?: Logger
}

export interface OperationOptions {
  signal?: AbortSignal
  /** Live output of the install and remove scripts (never of the kubeconfig fetch). */
  onOutput?: (line: OutputLine) => void
  /** One line per step, for the job log. */
  onStep?: (line: string) => void
  /** Interface flannel uses (the overlay's). */
  flannelIface?: string
  /** systemd when the host has it ('auto'), or always a detached process. */
  init?: 'auto' | 'detached'
  /** How long a node may take to start, and the nodes to register. */
  waitSeconds?: number
  /** Longest one SSH command may run. */
  timeoutMs?: number
  /**
   * Where a node's node-ip comes from: 'iface' (default) — the IPv4 address of flannelIface on
   * the host (the overlay's), else the host's registered address; 'address' — always the latter.
   */
  nodeIpFrom?: 'iface' | 'address'
}

/** How one host fared. */
export interface NodeOutcome {
  host: string
  role: NodeRole
  nodeName: string
  nodeIp: string
  ok: boolean
  error?: HostError
}

export interface CreateResult {
  /** Pointed at the first server's address. Secret: seal it. */
  kubeconfig: string
  serverUrl: string
  version?: string
  nodes: NodeOutcome[]
  health: NodeStatus[]
}

const DEFAULTS = { flannelIface: 'ctpf0', init: 'auto' as const, waitSeconds: 60, timeoutMs: 300_000 }

function opts (o: OperationOptions): Required<Pick<OperationOptions, 'flannelIface' | 'init' | 'waitSeconds' | 'timeoutMs'>> {
  return {
    flannelIface: o.flannelIface ?? DEFAULTS.flannelIface,
    init: o.init ?? DEFAULTS.init,
    waitSeconds: o.waitSeconds ?? DEFAULTS.waitSeconds,
    timeoutMs: o.timeoutMs ?? DEFAULTS.timeoutMs
  }
}

const target = (h: WorkloadHost): { id: string, address: string, port: number, user: string, hostKey: string } =>
  ({ id: h.id, address: h.address, port: h.port, user: h.user, hostKey: h.hostKey })

function reason (r: HostResult): string {
  const err = r.stderr.trim().split('\n').slice(-3).join(' / ')
  return `${r.error?.code ?? 'failed'}: ${r.error?.message ?? ''}${err !== '' ? ` (${err})` : ''}`
}

async function runOne (h: WorkloadHost, c: WorkloadComponents, o: OperationOptions, init: { command?: string[], script?: string, env?: Record<string, string>, uploads?: Parameters<typeof runOnHosts>[0]['uploads'], output?: boolean }): Promise<HostResult> {
  const [result] = await runOnHosts({
    hosts: [target(h)],
    privateKey: c.privateKey,
    ...(init.command !== undefined ? { command: init.command } : { script: { content: init.script ?? '', interpreter: ['/bin/sh'] } }),
    env: init.env ?? {},
    uploads: init.uploads ?? [],
    timeoutMs: opts(o).timeoutMs,
    tailChars: 1024 * 1024
  }, {
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    ...(init.output === true && o.onOutput !== undefined ? { onOutput: o.onOutput } : {}),
    ...(c.logger !== undefined ? { logger: c.logger } : {})
  })
  return result as HostResult
}

/** Puts k3s on one host and starts it. Resolves with the version k3s reported. */
export async function installNode (h: WorkloadHost, role: NodeRole, node: { token: string, server?: string, clusterInit?: boolean }, c: WorkloadComponents, o: OperationOptions = {}): Promise<{ version?: string }> {
  const p = k3sPaths(h.root)
  const { flannelIface, init, waitSeconds } = opts(o)
  o.onStep?.(`${h.id}: installing k3s ${role} (node ${h.nodeName})`)
  const mkdir = await runOne(h, c, o, { command: ['mkdir', '-p', posix.dirname(p.bin), p.configDir, p.imagesDir, p.unitDir, p.runDir] })
  if (!mkdir.ok) throw new NodeInstallError(h.id, `preparing directories: ${reason(mkdir)}`)
  const config = renderConfig({ role, token: node.token, nodeIp: h.nodeIp, nodeName: h.nodeName, flannelIface, paths: p, ...(node.server !== undefined ? { server: node.server } : {}), ...(node.clusterInit === true ? { clusterInit: true } : {}) })
  const uploads = [
    { path: p.bin, stream: c.binary, mode: 0o755 },
    ...(c.images !== undefined ? [{ path: p.images, stream: c.images, mode: 0o644 }] : []),
    { path: p.config, content: config, mode: 0o600 },
    { path: posix.join(p.unitDir, `${unitName(role)}.service`), content: renderUnit(role, p), mode: 0o644 }
  ]
  const started = await runOne(h, c, o, { script: START_SCRIPT, env: scriptEnv(role, p, { init, waitSeconds }), uploads, output: true })
  if (!started.ok) throw new NodeInstallError(h.id, reason(started))
  const version = parseVersion(started.stdout)
  return version !== undefined ? { version } : {}
}

/** The kubeconfig the server wrote (read over SSH, never logged), pointed at `url`. */
export async function fetchKubeconfig (server: WorkloadHost, url: string, c: WorkloadComponents, o: OperationOptions = {}): Promise<string> {
  const r = await runOne(server, c, o, { command: ['cat', k3sPaths(server.root).kubeconfig] })
  if (!r.ok || r.stdout.trim() === '') throw new ServerNotReadyError(server.id, `no kubeconfig: ${reason(r)}`)
  return rewriteKubeconfig(r.stdout, url)
}

/** `k3s kubectl get nodes` on a server. */
export async function listNodes (server: WorkloadHost, c: WorkloadComponents, o: OperationOptions = {}): Promise<NodeStatus[]> {
  const r = await runOne(server, c, o, { command: kubectl(k3sPaths(server.root), 'get', 'nodes', '--no-headers') })
  if (!r.ok) throw new NodeInstallError(server.id, `listing nodes: ${reason(r)}`)
  return parseNodes(r.stdout)
}

async function sleep (ms: number, signal?: AbortSignal): Promise<void> {
  await new Promise<void>((resolve) => {
    const t = setTimeout(done, ms)
    function done (): void { clearTimeout(t); signal?.removeEventListener('abort', done); resolve() }
    signal?.addEventListener('abort', done, { once: true })
  })
}

/** Polls the node list until every name in `names` is Ready, or the wait is over; returns the last list. */
export async function waitForNodes (server: WorkloadHost, names: string[], c: WorkloadComponents, o: OperationOptions = {}): Promise<NodeStatus[]> {
  const until = Date.now() + opts(o).waitSeconds * 1000
  let nodes: NodeStatus[] = []
  while (true) {
    nodes = await listNodes(server, c, o).catch(() => nodes)
    const ready = new Set(nodes.filter(n => n.status === 'Ready').map(n => n.name))
    if (names.every(n => ready.has(n)) || Date.now() > until || o.signal?.aborted === true) return nodes
    await sleep(1000, o.signal)
  }
}

/**
 * Each host's node-ip: the IPv4 address of the flannel interface (the overlay's) when the host
 * has one there, else the address it was given. Hosts that cannot be asked keep theirs (their
 * install will report why).
 */
export async function resolveNodeIps (hosts: WorkloadHost[], c: WorkloadComponents, o: OperationOptions = {}): Promise<WorkloadHost[]> {
  if ((o.nodeIpFrom ?? 'iface') === 'address') return hosts
  const iface = opts(o).flannelIface
  return await Promise.all(hosts.map(async h => {
    const r = await runOne(h, c, o, { command: ['ip', '-o', '-4', 'addr', 'show', 'dev', iface] })
    const ip = r.ok ? /\binet (\d{1,3}(?:\.\d{1,3}){3})\//.exec(r.stdout)?.[1] : undefined
    if (ip === undefined) return h
    o.onStep?.(`${h.id}: node-ip ${ip} (on ${iface})`)
    return { ...h, nodeIp: ip }
  }))
}

async function installMany (list: Array<{ host: WorkloadHost, role: NodeRole }>, node: { token: string, server: string }, c: WorkloadComponents, o: OperationOptions): Promise<NodeOutcome[]> {
  return await Promise.all(list.map(async ({ host, role }): Promise<NodeOutcome> => {
    try {
      await installNode(host, role, node, c, o)
      return { host: host.id, role, nodeName: host.nodeName, nodeIp: host.nodeIp, ok: true }
    } catch (err) {
      const e = err as { code?: string, message?: string }
      o.onStep?.(`${host.id}: ${e.message ?? String(err)}`)
      return { host: host.id, role, nodeName: host.nodeName, nodeIp: host.nodeIp, ok: false, error: { code: e.code ?? 'ERR_WORKLOAD_INSTALL', message: e.message ?? String(err) } }
    }
  }))
}

/**
 * A new cluster: the first host becomes the first server (cluster-init when there are more
 * servers), the next `servers - 1` hosts join it as servers, the rest as agents. A failure of
 * the first server fails the whole operation; a failure of another host is reported in its
 * outcome and the others go on.
 */
export async function createCluster (init: { hosts: WorkloadHost[], servers: number, token: string }, c: WorkloadComponents, o: OperationOptions = {}): Promise<CreateResult> {
  if (init.hosts.length === 0) throw new WorkloadConfigError('a cluster needs at least one host')
  if (!Number.isInteger(init.servers) || init.servers < 1 || init.servers > init.hosts.length) throw new WorkloadConfigError(`servers must be between 1 and the number of hosts (${init.hosts.length})`)
  const [first, ...rest] = await resolveNodeIps(init.hosts, c, o) as [WorkloadHost, ...WorkloadHost[]]
  const url = serverUrl(first.nodeIp)
  let version: string | undefined
  try {
    version = (await installNode(first, 'server', { token: init.token, clusterInit: init.servers > 1 }, c, o)).version
  } catch (err) {
    if (err instanceof NodeInstallError) throw new ServerNotReadyError(first.id, err.reason)
    throw err
  }
  const kubeconfig = await fetchKubeconfig(first, url, c, o)
  const others = rest.map((host, i) => ({ host, role: (i + 1 < init.servers ? 'server' : 'agent') as NodeRole }))
  const outcomes = await installMany(others, { token: init.token, server: url }, c, o)
  const nodes: NodeOutcome[] = [{ host: first.id, role: 'server', nodeName: first.nodeName, nodeIp: first.nodeIp, ok: true }, ...outcomes]
  const health = await waitForNodes(first, nodes.filter(n => n.ok).map(n => n.nodeName), c, o)
  return { kubeconfig, serverUrl: url, ...(version !== undefined ? { version } : {}), nodes, health }
}

/** More hosts join an existing cluster through `server`, as agents (or servers). */
export async function growCluster (init: { server: WorkloadHost, hosts: WorkloadHost[], role?: NodeRole, token: string }, c: WorkloadComponents, o: OperationOptions = {}): Promise<{ nodes: NodeOutcome[], health: NodeStatus[] }> {
  const url = serverUrl(init.server.nodeIp)
  const hosts = await resolveNodeIps(init.hosts, c, o)
  const nodes = await installMany(hosts.map(host => ({ host, role: init.role ?? 'agent' })), { token: init.token, server: url }, c, o)
  const health = await waitForNodes(init.server, nodes.filter(n => n.ok).map(n => n.nodeName), c, o)
  return { nodes, health }
}

/**
 * Takes a node out: drained and deleted through `server` (another server of the cluster, when
 * one remains), then k3s stopped and its files removed on the host itself.
 */
export async function removeNode (init: { server?: WorkloadHost, host: WorkloadHost, role: NodeRole }, c: WorkloadComponents, o: OperationOptions = {}): Promise<{ drained: boolean, removed: boolean, error?: HostError }> {
  let drained = false
  if (init.server !== undefined) {
    const p = k3sPaths(init.server.root)
    o.onStep?.(`${init.host.id}: draining node ${init.host.nodeName} through ${init.server.id}`)
    const drain = await runOne(init.server, c, o, { command: kubectl(p, 'drain', init.host.nodeName, '--ignore-daemonsets', '--delete-emptydir-data', '--timeout=120s'), output: true })
    drained = drain.ok
    if (!drain.ok) o.onStep?.(`${init.host.id}: drain failed (${reason(drain)}); deleting the node anyway`)
    const del = await runOne(init.server, c, o, { command: kubectl(p, 'delete', 'node', init.host.nodeName), output: true })
    if (!del.ok) o.onStep?.(`${init.host.id}: deleting the node failed: ${reason(del)}`)
  }
  o.onStep?.(`${init.host.id}: stopping k3s ${init.role} and removing its files`)
  const p = k3sPaths(init.host.root)
  const { init: initMode, waitSeconds } = opts(o)
  const rm = await runOne(init.host, c, o, { script: REMOVE_SCRIPT, env: scriptEnv(init.role, p, { init: initMode, waitSeconds }), output: true })
  return { drained, removed: rm.ok, ...(rm.ok ? {} : { error: rm.error ?? { code: 'ERR_WORKLOAD_REMOVE', message: reason(rm) } }) }
}
