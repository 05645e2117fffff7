/**
 * CLI commands of the SSH distributor roles: `ctpf ssh run`, `ctpf cluster …`, `ctpf host join`.
 * Each submits a job that an agent tagged dc=<dc> with role ssh runs (only those agents
 * register these kinds), waits for it and prints its result.
 */
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseSelector } from '../protocols/jobs/index.js'
import { client, collect, dataDirOption, fail, out, waitForJob } from './cli-common.js'
import type { Command } from 'commander'
import type { ControlClient } from './control/client.js'
import type { JobView } from './control/api.js'
import type { ClusterView } from './control/clusters.js'
import type { SshJobResult } from './ssh-roles.js'

const err = (code: string, message: string): Error => Object.assign(new Error(message), { code })

/** `--dc`, else the `dc=X` term of the host selector. */
function dcOf (opts: { dc?: string }, selector: string): string {
  if (opts.dc != null && opts.dc !== '') return opts.dc
  const term = parseSelector(selector).terms.find(t => t.key === 'dc' && t.op === 'eq')
  if (term != null && 'value' in term) return term.value
  throw err('BAD_REQUEST', 'which datacenter? give --dc DC or a dc=DC term in --hosts')
}

/** Submits a job to the SSH agents of `dc` (one attempt: commands are not re-run by surprise) and waits for it. */
async function runJob (c: ControlClient, kind: string, dc: string, spec: unknown, follow: boolean): Promise<JobView> {
  const { id } = await c.submitJob({ kind, selector: `dc=${dc}`, spec, maxAttempts: 1 })
  if (follow) {
    // live output on stderr while it runs; the result goes to stdout
    void (async () => {
      try { for await (const l of c.jobLogs(id, true)) process.stderr.write(`${l.line}\n`) } catch {}
    })()
  }
  return await waitForJob(c, id)
}

/** `REF:PATH[:MODE]` → an upload of the ssh job spec. */
function parseUpload (text: string): { artifact: string, path: string, mode?: number } {
  const m = /^([^:]+):(\/.*?)(?::([0-7]{3,4}))?$/.exec(text)
  if (m == null) throw err('BAD_REQUEST', `--upload ${text}: expected ARTIFACT:/ABSOLUTE/PATH[:MODE]`)
  return { artifact: m[1] as string, path: m[2] as string, ...(m[3] != null ? { mode: parseInt(m[3], 8) } : {}) }
}

/** A script: in the job spec when small, else as an artifact (job records are small). */
async function scriptSpec (c: ControlClient, file: string): Promise<{ script: string } | { scriptRef: string }> {
  const text = await readFile(file)
  if (text.byteLength <= 16 * 1024) return { script: text.toString('utf8') }
  return { scriptRef: (await c.addArtifact(file)).cid }
}

/** The per-host lines, from the artifact when they did not fit in the job record. */
async function fullResult (c: ControlClient, r: SshJobResult): Promise<SshJobResult> {
  if (r.resultCid == null) return r
  const dir = await mkdtemp(join(tmpdir(), 'ctpf-ssh-result-'))
  try {
    await c.getArtifact(r.resultCid, join(dir, 'result.json'))
    return { ...(JSON.parse(await readFile(join(dir, 'result.json'), 'utf8')) as SshJobResult), resultCid: r.resultCid }
  } finally {
    await rm(dir, { recursive: true, force: true })
  }
}

function jobFailed (j: JobView): never {
  throw err(j.error?.code ?? 'JOB_FAILED', `${j.kind} job ${j.id} ${j.status}: ${j.error?.message ?? j.reason ?? ''}`)
}

const pad = (rows: string[][]): string => {
  const widths = rows[0]?.map((_, i) => Math.max(...rows.map(r => (r[i] ?? '').length))) ?? []
  return rows.map(r => r.map((cell, i) => i === r.length - 1 ? cell : cell.padEnd(widths[i] ?? 0)).join('  ')).join('\n')
}

function sshTable (r: SshJobResult): string {
  const rows = [['HOST', 'RESULT', 'EXIT', 'TIME', 'DETAIL']]
  for (const h of r.hosts) {
    const lastErr = h.stderrTail.trim().split('\n').at(-1) ?? ''
    rows.push([
      h.host,
      h.ok ? 'ok' : (h.error?.code ?? 'failed'),
      h.exitCode != null ? String(h.exitCode) : (h.signal ?? '-'),
      `${(h.durationMs / 1000).toFixed(2)}s`,
      h.ok ? (h.stdoutTail.trim().split('\n').at(-1) ?? '') : (h.error?.message ?? lastErr)
    ])
  }
  return `${pad(rows)}\n${r.ok} ok, ${r.failed} failed (dc ${r.dc})`
}

function clusterText (v: ClusterView): string {
  const lines = [
    `cluster   ${v.name}`, `dc        ${v.dc}`, `status    ${v.status}`, `version   ${v.version ?? '-'}`, `server    ${v.serverUrl ?? '-'}`,
    `flannel   ${v.flannelIface}`, 'members:'
  ]
  for (const m of v.members) {
    const n = v.health?.nodes.find(x => x.name === m.nodeName)
    lines.push(`  ${m.host}  ${m.role}  node ${m.nodeName}  ${m.nodeIp}  ${n?.status ?? 'unknown'}`)
  }
  for (const f of v.failures) lines.push(`  failed: ${f.host}  ${f.code}  ${f.message}`)
  return lines.join('\n')
}

/** Prints the cluster a job left; exits 2 unless the job succeeded and the cluster is ready. */
function finishClusterJob (j: JobView, json: boolean): void {
  if (j.status !== 'succeeded') jobFailed(j)
  const v = j.result as ClusterView
  out(json, v, () => clusterText(v))
  if (v.status !== 'ready') process.exit(2)
}

export function registerSshCommands (program: Command): void {
  const ssh = program.command('ssh').description('commands and scripts on registered hosts, run by the SSH distributor of their datacenter')
  ssh.command('run [command...]')
    .description('run a command (after --) or a script (--file) on the hosts a selector picks; exit 0 only when every host succeeded')
    .addOption(dataDirOption())
    .requiredOption('--hosts <selector>', 'hosts by their facts: dc, status, hostname, arch, id, tag.<k> (e.g. dc=lab,tag.rack=r1)')
    .option('--dc <dc>', 'the datacenter (default: the dc=… term of --hosts)')
    .option('--file <script>', 'a script to upload and run on each host')
    .option('--interpreter <argv>', 'run the script as `ARGV SCRIPT` (e.g. /bin/bash)')
    .option('--upload <ref:path[:mode]>', 'put an artifact (name or CID) at an absolute path on every host first, e.g. tools/fio:/usr/local/bin/fio:0755 (repeatable)', collect)
    .option('--fail-fast', 'stop the other hosts after the first failure')
    .option('--mark-ready', 'hosts it succeeds on that are installed become ready (their setup is done)')
    .option('--timeout <s>', 'seconds a host\'s command may run', v => Number(v))
    .option('--concurrency <n>', 'hosts at once', v => Number(v))
    .option('--follow', 'print the hosts\' output live on stderr')
    .option('--json', 'machine output')
    .action(async (command: string[], opts) => {
      try {
        const c = client(opts)
        const dc = dcOf(opts, opts.hosts)
        if ((opts.file == null) === (command.length === 0)) throw err('BAD_REQUEST', 'give either --file SCRIPT or -- COMMAND…')
        const spec = {
          hosts: opts.hosts,
          ...(opts.file != null ? await scriptSpec(c, opts.file) : { command }),
          ...(opts.upload != null ? { uploads: (opts.upload as string[]).map(parseUpload) } : {}),
          ...(opts.interpreter != null ? { interpreter: String(opts.interpreter).split(' ').filter(Boolean) } : {}),
          ...(opts.timeout != null ? { timeoutMs: Math.round(opts.timeout * 1000) } : {}),
          ...(opts.concurrency != null ? { concurrency: opts.concurrency } : {}),
          ...(opts.failFast === true ? { failFast: true } : {}),
          ...(opts.markReady === true ? { markReady: true } : {})
        }
        const j = await runJob(c, 'ssh', dc, spec, opts.follow === true)
        if (j.status !== 'succeeded') jobFailed(j)
        const r = await fullResult(c, j.result as SshJobResult)
        out(opts.json === true, { job: j.id, ...r }, () => sshTable(r))
        process.exit(r.failed === 0 ? 0 : 2)
      } catch (e) { fail(e) }
    })

  const cluster = program.command('cluster').description('k3s clusters on registered hosts (workload distributor)')
  cluster.command('create <name>')
    .description('create a k3s cluster on the hosts a selector picks (k3s binary: artifact k3s/k3s; images: k3s/images.tar)')
    .addOption(dataDirOption())
    .requiredOption('--hosts <selector>', 'hosts by their facts (dc, status, hostname, id, tag.<k>)')
    .option('--dc <dc>', 'the datacenter (default: the dc=… term of --hosts)')
    .option('--servers <n>', 'how many of the hosts are servers (the first ones by id)', v => Number(v), 1)
    .option('--flannel-iface <if>', 'the interface flannel uses (the overlay\'s)', 'ctpf0')
    .option('--root <dir>', 'where k3s\'s files go on each host ({host} = the host id; for tests)', '/')
    .option('--init <mode>', 'auto (systemd where present) or detached', 'auto')
    .option('--node-ip-from <src>', 'iface: the flannel interface\'s IPv4 address (the overlay\'s) where it has one, else the registered address; address: always the registered one', 'iface')
    .option('--wait <s>', 'seconds a node may take to come up', v => Number(v), 120)
    .option('--follow', 'print progress live on stderr')
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const c = client(opts)
        const dc = dcOf(opts, opts.hosts)
        const j = await runJob(c, 'cluster-create', dc, {
          name, hosts: opts.hosts, servers: opts.servers, flannelIface: opts.flannelIface, root: opts.root, init: opts.init, waitSeconds: opts.wait, nodeIpFrom: opts.nodeIpFrom
        }, opts.follow === true)
        finishClusterJob(j, opts.json === true)
      } catch (e) { fail(e) }
    })

  cluster.command('ls')
    .description('the clusters of the mesh')
    .addOption(dataDirOption())
    .option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const list = await client(opts).request<ClusterView[]>('GET', '/clusters')
        out(opts.json === true, list, () => list.length === 0 ? '(no clusters)' : pad([
          ['NAME', 'DC', 'STATUS', 'VERSION', 'SERVERS', 'AGENTS', 'READY'],
          ...list.map(v => [v.name, v.dc, v.status, v.version ?? '-',
            String(v.members.filter(m => m.role === 'server').length), String(v.members.filter(m => m.role === 'agent').length),
            `${v.health?.nodes.filter(n => n.status === 'Ready').length ?? 0}/${v.members.length}`])
        ]))
      } catch (e) { fail(e) }
    })

  cluster.command('show <name>')
    .description('a cluster: members, version, health')
    .addOption(dataDirOption())
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const v = await client(opts).request<ClusterView>('GET', `/clusters/${encodeURIComponent(name)}`)
        out(opts.json === true, v, () => clusterText(v))
      } catch (e) { fail(e) }
    })

  cluster.command('kubeconfig <name>')
    .description('the cluster\'s kubeconfig, opened by this agent (an admin or an SSH agent of the cluster\'s dc)')
    .addOption(dataDirOption())
    .option('-o, --output <file>', 'write it to a file (mode 0600) instead of stdout')
    .action(async (name: string, opts) => {
      try {
        const { kubeconfig } = await client(opts).request<{ kubeconfig: string }>('GET', `/clusters/${encodeURIComponent(name)}/kubeconfig`)
        if (opts.output != null) await writeFile(opts.output, kubeconfig, { mode: 0o600 })
        else process.stdout.write(kubeconfig)
      } catch (e) { fail(e) }
    })

  const onCluster = async (c: ControlClient, name: string, opts: { dc?: string }): Promise<string> =>
    opts.dc ?? (await c.request<ClusterView>('GET', `/clusters/${encodeURIComponent(name)}`)).dc

  cluster.command('grow <name>')
    .description('more hosts join the cluster')
    .addOption(dataDirOption())
    .requiredOption('--hosts <selector>', 'hosts by their facts')
    .option('--role <role>', 'agent or server', 'agent')
    .option('--dc <dc>', 'the datacenter (default: the cluster\'s)')
    .option('--follow', 'print progress live on stderr')
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const c = client(opts)
        const j = await runJob(c, 'cluster-grow', await onCluster(c, name, opts), { name, hosts: opts.hosts, role: opts.role }, opts.follow === true)
        finishClusterJob(j, opts.json === true)
      } catch (e) { fail(e) }
    })

  cluster.command('remove-node <name> <host>')
    .description('drain and delete a node, then stop k3s on the host and remove its files')
    .addOption(dataDirOption())
    .option('--dc <dc>', 'the datacenter (default: the cluster\'s)')
    .option('--follow', 'print progress live on stderr')
    .option('--json', 'machine output')
    .action(async (name: string, host: string, opts) => {
      try {
        const c = client(opts)
        const j = await runJob(c, 'cluster-shrink', await onCluster(c, name, opts), { name, host }, opts.follow === true)
        if (j.status !== 'succeeded') jobFailed(j)
        const v = j.result as ClusterView & { removed: { host: string, drained: boolean, cleaned: boolean } }
        out(opts.json === true, v, () => `removed ${v.removed.host} (drained: ${v.removed.drained ? 'yes' : 'no'}, cleaned: ${v.removed.cleaned ? 'yes' : 'no'})\n${clusterText(v)}`)
        if (!v.removed.cleaned) process.exit(2)
      } catch (e) { fail(e) }
    })

  cluster.command('health <name>')
    .description('ask a server for the node list now')
    .addOption(dataDirOption())
    .option('--dc <dc>', 'the datacenter (default: the cluster\'s)')
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const c = client(opts)
        const j = await runJob(c, 'cluster-health', await onCluster(c, name, opts), { name }, false)
        if (j.status !== 'succeeded') jobFailed(j)
        const v = j.result as ClusterView
        out(opts.json === true, v, () => clusterText(v))
      } catch (e) { fail(e) }
    })

  cluster.command('delete <name>')
    .description('remove k3s from every node and forget the cluster')
    .addOption(dataDirOption())
    .option('--dc <dc>', 'the datacenter (default: the cluster\'s)')
    .option('--follow', 'print progress live on stderr')
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const c = client(opts)
        const j = await runJob(c, 'cluster-delete', await onCluster(c, name, opts), { name }, opts.follow === true)
        if (j.status !== 'succeeded') jobFailed(j)
        out(opts.json === true, j.result, () => `deleted ${name}`)
      } catch (e) { fail(e) }
    })

  // `ctpf host join`: under the provisioning commands' `host` when they are registered first
  const host = program.commands.find(cmd => cmd.name() === 'host') ?? program.command('host').description('the host inventory')
  host.command('join <host>')
    .description('install and start the ctpf agent on a host over SSH (artifact ctpf/agent) with an invite scoped to it; waits until it is a member')
    .addOption(dataDirOption())
    .option('--dc <dc>', 'the datacenter (default: the host\'s)')
    .option('--root <dir>', 'where the agent\'s files go on the host ({host} = the host id; for tests)', '/')
    .option('--node <path>', 'the Node.js executable on the host', 'node')
    .option('--listen <multiaddr>', 'the new agent\'s mesh listen address (repeatable; default /ip4/<host address>/tcp/4001)', collect)
    .option('--init <mode>', 'auto (systemd where present) or detached', 'auto')
    .option('--timeout <s>', 'seconds to wait for it to join', v => Number(v), 120)
    .option('--follow', 'print progress live on stderr')
    .option('--json', 'machine output')
    .action(async (id: string, opts) => {
      try {
        const c = client(opts)
        const dc = opts.dc ?? (await c.request<{ dc?: string }>('GET', `/hosts/${encodeURIComponent(id)}`)).dc
        if (dc == null) throw err('BAD_REQUEST', `host ${id} has no dc: give --dc`)
        const j = await runJob(c, 'host-join', dc, {
          host: id, root: opts.root, node: opts.node, init: opts.init, timeoutMs: Math.round(opts.timeout * 1000),
          ...(opts.listen != null ? { listen: opts.listen } : {})
        }, opts.follow === true)
        if (j.status !== 'succeeded') jobFailed(j)
        const r = j.result as { host: string, peerId: string, name: string }
        out(opts.json === true, r, () => `${r.host} joined the mesh as ${r.peerId} (name=${r.name})`)
      } catch (e) { fail(e) }
    })
}
