/**
 * e2e:ssh — the SSH distributor roles through the CLI, with real agents and real sshd hosts.
 *
 * Agent A founds the mesh (admin); agent B joins it tagged dc=lab,role=ssh (and admin, so it
 * can mint invites for hosts). Both run in the root namespace, where every sshd host of the
 * LAN (test/helpers/sshd.ts, one network namespace each) is reachable; B also listens on the
 * LAN so that a host brought into the mesh can dial it. The hosts are registered with
 * `ctpf host add` (host keys pinned), `ctpf dc key lab` makes the general key, whose public
 * half goes into the hosts' authorized_keys. k3s is the stand-in (test/helpers/k3s-standin.ts);
 * each host keeps k3s's and the agent's files under its own root (`--root DIR/{host}`)
 * because the namespaces share one filesystem.
 *
 * B's config carries the mesh's overlay range (its own overlay disabled: A and B share the root
 * namespace with C, the agent of another datacenter whose overlay runs there), so the host B
 * joins gets it too; C then reaches that host over the overlay.
 *
 * Runs from a bundle: CTPF_CLI (default dist/ctpf.mjs).
 */
import { existsSync } from 'node:fs'
import { mkdir, readdir, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { execFile } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { CLI, invite, runCli, startAgent, tempDir, waitFor, type RunningAgent } from '../helpers/agents.js'
import { K3sStandin } from '../helpers/k3s-standin.js'
import { ip } from '../helpers/netns.js'
import { describePrivileged } from '../helpers/privileged.js'
import { SshLan, type SshdHost } from '../helpers/sshd.js'

const mac = (n: number): string => `52:54:00:6b:33:${n.toString(16).padStart(2, '0')}`
const hostIdOf = (n: number): string => mac(n).replace(/:/g, '-')
/** Overlay addresses of the cluster's hosts (inside their own namespaces only). */
const OVERLAY_NET = '100.64.77'
/** The mesh's overlay range (the agents' real overlay: the joined host and the agent of dc=far). */
const MESH_RANGE = '100.79.0.0/16'

/** Runs a program (in a namespace when `ns` is given); never throws. */
async function run (argv: string[], ns?: string, timeoutMs = 30_000): Promise<{ code: number | null, stdout: string, stderr: string }> {
  const [cmd, ...args] = ns != null ? ['ip', 'netns', 'exec', ns, ...argv] : argv
  return await new Promise(resolve => {
    execFile(cmd as string, args, { timeout: timeoutMs }, (err, stdout, stderr) => {
      resolve({ code: err == null ? 0 : typeof (err as { code?: unknown }).code === 'number' ? (err as { code: number }).code : null, stdout: String(stdout), stderr: String(stderr) })
    })
  })
}
describePrivileged('e2e:ssh — scripts on hosts, k3s clusters, hosts into the mesh', ['/usr/sbin/sshd', 'ssh-keygen', 'ip', 'setsid', 'busybox', 'dig'], () => {
  let lan: SshLan
  let a: RunningAgent
  let b: RunningAgent
  let c: RunningAgent | undefined
  let joinedPeer: string | undefined
  let k3s: K3sStandin
  let roots: string
  const hosts: SshdHost[] = []
  const timings: Record<string, number> = {}

  /** `ctpf ARGS --data-dir <agent>`; throws unless it exits with `expectCode`. */
  async function ctpf (agent: RunningAgent, args: string[], expectCode = 0): Promise<string> {
    const r = await runCli([...args, '--data-dir', agent.dir])
    if (r.code !== expectCode) throw new Error(`ctpf ${args.join(' ')} exited ${String(r.code)} (expected ${expectCode})\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
    return r.stdout
  }
  const timed = async <T>(what: string, fn: () => Promise<T>): Promise<T> => {
    const t0 = Date.now()
    try { return await fn() } finally { timings[what] = Date.now() - t0 }
  }

  beforeAll(async () => {
    lan = await SshLan.create()
    k3s = await K3sStandin.create()
    roots = await lan.tempDir()
    a = await startAgent({ args: ['--tag', 'name=a'] })
    const bDir = tempDir('ctpf-on-')
    writeFileSync(join(bDir, 'config.json'), JSON.stringify({ overlay: { enabled: false, range: MESH_RANGE } }))
    b = await startAgent({
      dir: bDir,
      joinToken: await invite(a, { tags: { dc: 'lab', role: 'ssh', name: 'b' }, caps: ['admin'] }),
      args: ['--listen', `/ip4/${lan.segment.serverAddress}/tcp/0`]
    })
    const peerB = (await b.status()).peerId
    // A knows B's sealing key and job kinds before the dc key is made and jobs are sent
    await waitFor(async () => {
      const keys = (await a.api('GET', '/state?prefix=sealkeys/')).body as Array<{ key: string }>
      const agents = (await a.api('GET', '/state?prefix=agents/')).body as Array<{ key: string }>
      return keys.some(k => k.key === `sealkeys/${peerB}`) && agents.some(k => k.key === `agents/${peerB}`)
    }, { timeoutMs: 30_000, what: 'B\'s sealing key and job kinds at A' })
    const key = JSON.parse(await ctpf(a, ['dc', 'key', 'lab', '--json'])) as { publicKey: string, recipients: string[] }
    expect(key.recipients).toEqual([peerB])
    // five sshd hosts that accept the dc's general key
    for (let n = 1; n <= 5; n++) {
      const h = await lan.addHost({ authorizedKeys: [key.publicKey] })
      await ip('-n', h.ns, 'tuntap', 'add', 'dev', 'ctpf0', 'mode', 'tun') // the overlay's interface, for flannel-iface
      // the cluster's hosts have an overlay address there: k3s must use it as node-ip
      if (n <= 3) await ip('-n', h.ns, 'addr', 'add', `${OVERLAY_NET}.${n}/32`, 'dev', 'ctpf0')
      hosts.push(h)
      const hk = join(roots, `host${n}.pub`)
      await writeFile(hk, h.hostKeyLine + '\n')
      const tags = n <= 4 ? ['--tag', 'group=fan'] : []
      if (n <= 3) tags.push('--tag', 'k3s=yes')
      await ctpf(a, ['host', 'add', mac(n), '--address', h.address, '--host-key', hk, '--dc', 'lab', '--user', 'root', '--port', '22',
        '--hostname', `lab-h${n}`, '--status', 'installed', ...tags])
    }
    // a host of the group whose host key was never recorded
    await ctpf(a, ['host', 'add', mac(9), '--address', `${lan.segment.net}.99`, '--dc', 'lab', '--hostname', 'lab-nokey', '--status', 'installed', '--tag', 'group=fan'])
    // B has the hosts and the key before anything runs
    await waitFor(async () => {
      const ks = (await b.api('GET', '/state?prefix=hosts/')).body as unknown[]
      const dk = (await b.api('GET', '/state?prefix=keys/dc/lab')).body as unknown[]
      return ks.length === 6 && dk.length === 1
    }, { timeoutMs: 30_000, what: 'the hosts and the dc key at B' })
  }, 180_000)

  afterAll(async () => {
    await c?.stop()
    await b?.stop()
    await a?.stop()
    for (const x of [a, b, c]) if (x != null) await rm(x.dir, { recursive: true, force: true })
    await lan?.destroy()
    await k3s?.destroy()
    console.info(`e2e:ssh timings (ms): ${JSON.stringify(timings)}`)
  }, 120_000)

  it('a script fans out to the dc\'s hosts: per-host output and exit codes; a changed host key and a missing one are refused while the others run', async () => {
    // host 4 was reinstalled: its host key is no longer the recorded one
    await (hosts[3] as SshdHost).rotateHostKey()
    const script = join(roots, 'fan.sh')
    const failing = (hosts[2] as SshdHost).address
    await writeFile(script, [
      '#!/bin/sh',
      'me=$(ip -o -4 addr show | awk \'$2 != "lo" && $2 != "ctpf0" { sub(/\\/.*/, "", $4); print $4 }\')',
      'echo "hello from $me"',
      `if [ "$me" = "${failing}" ]; then echo "disk on fire" >&2; exit 3; fi`,
      ''
    ].join('\n'))
    const r = await timed('ssh-run', async () => await runCli(['ssh', 'run', '--hosts', 'dc=lab,tag.group=fan', '--file', script, '--json', '--data-dir', a.dir]))
    expect(r.code, r.stderr).toBe(2) // not every host succeeded
    const res = JSON.parse(r.stdout) as { job: string, ok: number, failed: number, hosts: Array<{ host: string, ok: boolean, exitCode?: number, error?: { code: string }, stdoutTail: string, stderrTail: string }> }
    const by = new Map(res.hosts.map(h => [h.host, h]))
    expect(res.hosts.map(h => h.host)).toEqual([1, 2, 3, 4, 9].map(hostIdOf))
    for (const n of [1, 2]) {
      expect(by.get(hostIdOf(n))).toMatchObject({ ok: true, exitCode: 0 })
      expect(by.get(hostIdOf(n))?.stdoutTail).toContain(`hello from ${(hosts[n - 1] as SshdHost).address}`)
    }
    expect(by.get(hostIdOf(3))).toMatchObject({ ok: false, exitCode: 3, error: { code: 'ERR_SSH_COMMAND_FAILED' } })
    expect(by.get(hostIdOf(3))?.stderrTail).toContain('disk on fire')
    expect(by.get(hostIdOf(4))).toMatchObject({ ok: false, error: { code: 'ERR_SSH_HOST_KEY_MISMATCH' } })
    expect(by.get(hostIdOf(4))?.stdoutTail).toBe('')
    expect(by.get(hostIdOf(9))).toMatchObject({ ok: false, error: { code: 'ERR_SSH_NO_HOST_KEY' } })
    expect(res).toMatchObject({ ok: 2, failed: 3 })
    // the live output went into the job's log, each line under its host
    const logs = await runCli(['job', 'logs', res.job, '--json', '--data-dir', a.dir])
    const lines = logs.stdout.split('\n').filter(Boolean).map(l => (JSON.parse(l) as { line: string }).line)
    expect(lines).toContain(`[${hostIdOf(1)}] hello from ${(hosts[0] as SshdHost).address}`)
    expect(lines).toContain(`[${hostIdOf(3)}] (stderr) disk on fire`)
    // the human table, and a command after --
    const t = await runCli(['ssh', 'run', '--data-dir', a.dir, '--hosts', 'dc=lab,tag.k3s=yes', '--', 'echo', 'it\'s "quoted"; $HOME'])
    expect(t.code, t.stderr).toBe(0)
    expect(t.stdout).toMatch(/3 ok, 0 failed/)
    expect(t.stdout).toContain('it\'s "quoted"; $HOME')
    // a hung command ends as a per-host timeout
    const hung = await runCli(['ssh', 'run', '--data-dir', a.dir, '--hosts', 'dc=lab,tag.k3s=yes', '--timeout', '1', '--json', '--', 'sleep', '30'])
    expect(hung.code, hung.stderr).toBe(2)
    const hres = JSON.parse(hung.stdout) as { hosts: Array<{ ok: boolean, error?: { code: string }, durationMs: number }> }
    expect(hres.hosts.map(h => h.error?.code)).toEqual(['ERR_SSH_TIMEOUT', 'ERR_SSH_TIMEOUT', 'ERR_SSH_TIMEOUT'])
    for (const h of hres.hosts) expect(h.durationMs).toBeLessThan(15_000)
  }, 120_000)

  it('a large script travels as an artifact, and per-host results too large for the job record come back from one', async () => {
    const script = join(roots, 'big.sh')
    await writeFile(script, [
      '#!/bin/sh',
      ...Array.from({ length: 400 }, (_, i) => `# padding line ${i}: the script is larger than a job record may hold`),
      'head -c 5000 /dev/zero | tr "\\000" o; echo',
      'head -c 5000 /dev/zero | tr "\\000" e >&2; echo >&2',
      ''
    ].join('\n'))
    const r = await runCli(['ssh', 'run', '--hosts', 'dc=lab,tag.k3s=yes', '--file', script, '--json', '--data-dir', a.dir])
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout) as { resultCid?: string, ok: number, hosts: Array<{ host: string, stdoutTail: string, stderrTail: string }> }
    expect(res.resultCid).toMatch(/^b/)
    expect(res.ok).toBe(3)
    expect(res.hosts.map(h => h.host)).toEqual([1, 2, 3].map(hostIdOf))
    for (const h of res.hosts) {
      expect(h.stdoutTail).toBe('o'.repeat(3999) + '\n')
      expect(h.stderrTail).toBe('e'.repeat(3999) + '\n')
    }
  }, 120_000)

  it('artifacts are uploaded to every host before the command runs; --mark-ready makes the hosts it set up ready', async () => {
    const file = join(roots, 'payload.bin')
    await writeFile(file, Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7919) % 251)))
    const { cid } = JSON.parse(await ctpf(a, ['artifact', 'add', file, '--name', 'test/payload', '--json'])) as { cid: string }
    const target = join(roots, 'uploaded', 'payload.bin')
    await mkdir(join(roots, 'uploaded'))
    const statuses = async (): Promise<string[]> => (JSON.parse(await ctpf(a, ['host', 'ls', '--json'])) as Array<{ status: string, tags: Record<string, string> }>).filter(h => h.tags.k3s === 'yes').map(h => h.status)
    expect(await statuses()).toEqual(['installed', 'installed', 'installed'])
    const r = await runCli(['ssh', 'run', '--data-dir', a.dir, '--hosts', 'dc=lab,tag.k3s=yes', '--upload', `test/payload:${target}:0750`, '--mark-ready', '--json', '--', 'sha256sum', target])
    expect(r.code, r.stderr).toBe(0)
    const res = JSON.parse(r.stdout) as { hosts: Array<{ ok: boolean, stdoutTail: string }> }
    const { createHash } = await import('node:crypto')
    const sum = createHash('sha256').update(await readFile(file)).digest('hex')
    expect(res.hosts.map(h => h.stdoutTail.split(' ')[0])).toEqual([sum, sum, sum])
    expect((await stat(target)).mode & 0o777).toBe(0o750)
    expect(cid).toMatch(/^b/)
    await waitFor(async () => (await statuses()).every(st => st === 'ready'), { what: 'the three hosts ready' })
  }, 120_000)

  it('a k3s cluster is created on three hosts, its kubeconfig retrieved, one node removed, then the cluster deleted', async () => {
    await ctpf(a, ['artifact', 'add', k3s.binary, '--name', 'k3s/k3s'])
    const created = JSON.parse(await timed('cluster-create', async () => await ctpf(a, [
      'cluster', 'create', 'lab1', '--hosts', 'dc=lab,tag.k3s=yes', '--servers', '1', '--root', `${roots}/{host}`, '--init', 'detached', '--wait', '30', '--json'
    ]))) as { status: string, serverUrl: string, members: Array<{ host: string, role: string, nodeName: string, nodeIp: string }>, version: string, health: { nodes: Array<{ name: string, status: string }> } }
    expect(created.status).toBe('ready')
    expect(created.members.map(m => [m.nodeName, m.role, m.nodeIp])).toEqual([['lab-h1', 'server', `${OVERLAY_NET}.1`], ['lab-h2', 'agent', `${OVERLAY_NET}.2`], ['lab-h3', 'agent', `${OVERLAY_NET}.3`]])
    // the nodes talk over the overlay: node-ip and the server URL are overlay addresses
    expect(created.serverUrl).toBe(`https://${OVERLAY_NET}.1:6443`)
    expect(created.version).toBe('v1.31.4+k3s1')
    expect(created.health.nodes.map(n => `${n.name}:${n.status}`)).toEqual(['lab-h1:Ready', 'lab-h2:Ready', 'lab-h3:Ready'])
    const server = `${OVERLAY_NET}.1`
    expect(await readFile(join(roots, hostIdOf(2), 'etc/rancher/k3s/config.yaml'), 'utf8')).toContain(`server: "https://${server}:6443"`)
    expect((await k3s.nodes(server)).map(n => n.name)).toEqual(['lab-h1', 'lab-h2', 'lab-h3'])

    const ls = JSON.parse(await ctpf(a, ['cluster', 'ls', '--json'])) as Array<{ name: string, dc: string, status: string, hasKubeconfig: boolean, token?: unknown }>
    expect(ls).toMatchObject([{ name: 'lab1', dc: 'lab', status: 'ready', hasKubeconfig: true }])
    expect(ls[0]?.token).toBeUndefined()
    const kubeconfig = await ctpf(a, ['cluster', 'kubeconfig', 'lab1'])
    expect(kubeconfig).toContain(`server: https://${server}:6443`)
    expect(kubeconfig).toContain('client-key-data')
    // what was written on the server host, pointed at its address
    const onHost = await readFile(join(roots, hostIdOf(1), 'etc/rancher/k3s/k3s.yaml'), 'utf8')
    expect(kubeconfig).toBe(onHost.replace('https://127.0.0.1:6443', `https://${server}:6443`))
    // neither the token nor the kubeconfig is in the job logs or in any k3s command line
    const token = (await readFile(join(roots, hostIdOf(1), 'var/lib/rancher/k3s/server/token'), 'utf8')).trim()
    expect(token).toMatch(/^[0-9a-f]{64}$/)
    const jobs = JSON.parse(await ctpf(a, ['job', 'ls', '--json'])) as Array<{ id: string, kind: string }>
    const createJob = jobs.find(j => j.kind === 'cluster-create') as { id: string }
    const log = (await runCli(['job', 'logs', createJob.id, '--json', '--data-dir', a.dir])).stdout
    expect(log).toContain('installing k3s agent')
    expect(log).not.toContain(token)
    expect(log).not.toContain('client-key-data')
    expect(await k3s.calls()).not.toContain(token)

    const removed = JSON.parse(await timed('cluster-remove-node', async () => await ctpf(a, ['cluster', 'remove-node', 'lab1', 'lab-h3', '--json']))) as { members: Array<{ nodeName: string }>, removed: { drained: boolean, cleaned: boolean } }
    expect(removed.removed).toEqual({ host: hostIdOf(3), drained: true, cleaned: true })
    expect(removed.members.map(m => m.nodeName)).toEqual(['lab-h1', 'lab-h2'])
    expect((await k3s.nodes(server)).map(n => n.name)).toEqual(['lab-h1', 'lab-h2'])
    const shown = JSON.parse(await ctpf(a, ['cluster', 'show', 'lab1', '--json'])) as { members: unknown[], health: { nodes: Array<{ name: string }> } }
    expect(shown.members).toHaveLength(2)
    expect(shown.health.nodes.map(n => n.name)).toEqual(['lab-h1', 'lab-h2'])

    // the removed host joins again (grow), and a server is asked for the node list (health)
    const grown = JSON.parse(await timed('cluster-grow', async () => await ctpf(a, ['cluster', 'grow', 'lab1', '--hosts', 'dc=lab,hostname=lab-h3', '--json']))) as { status: string, members: Array<{ nodeName: string, role: string }> }
    expect(grown.status).toBe('ready')
    expect(grown.members.map(m => `${m.nodeName}:${m.role}`)).toEqual(['lab-h1:server', 'lab-h2:agent', 'lab-h3:agent'])
    const health = JSON.parse(await ctpf(a, ['cluster', 'health', 'lab1', '--json'])) as { health: { nodes: Array<{ name: string, status: string }> } }
    expect(health.health.nodes.map(n => `${n.name}:${n.status}`)).toEqual(['lab-h1:Ready', 'lab-h2:Ready', 'lab-h3:Ready'])
    // the last server cannot be removed: delete the cluster instead
    const last = await runCli(['cluster', 'remove-node', 'lab1', 'lab-h1', '--data-dir', a.dir])
    expect(last.code).toBe(1)
    expect(last.stderr).toContain('ERR_WORKLOAD_LAST_SERVER')

    await timed('cluster-delete', async () => await ctpf(a, ['cluster', 'delete', 'lab1']))
    // k3s stopped on every node (the stand-in marks its node NotReady when it is stopped) and its files are gone
    expect((await k3s.nodes(server)).map(n => `${n.name}:${n.status}`)).toEqual(['lab-h1:NotReady', 'lab-h2:NotReady', 'lab-h3:NotReady'])
    for (const n of [1, 2, 3]) expect(existsSync(join(roots, hostIdOf(n), 'etc/rancher/k3s/config.yaml'))).toBe(false)
    expect(JSON.parse(await ctpf(a, ['cluster', 'ls', '--json']))).toEqual([])
  }, 240_000)

  it('a host is brought into the mesh as an agent over SSH, with an invite scoped to it', async () => {
    await ctpf(a, ['artifact', 'add', resolve(CLI), '--name', 'ctpf/agent'])
    // the bundle's two external packages (classic-level, ssh2) next to it on the host
    await mkdir(join(roots, hostIdOf(5), 'opt/ctpf'), { recursive: true })
    await symlink(resolve('node_modules'), join(roots, hostIdOf(5), 'opt/ctpf/node_modules'))
    const joined = JSON.parse(await timed('host-join', async () => await ctpf(a, [
      'host', 'join', hostIdOf(5), '--root', `${roots}/{host}`, '--node', process.execPath, '--init', 'detached', '--timeout', '90', '--json'
    ]))) as { host: string, peerId: string, name: string }
    expect(joined).toMatchObject({ host: hostIdOf(5), name: 'lab-h5' })
    joinedPeer = joined.peerId
    const members = JSON.parse(await ctpf(a, ['member', 'ls', '--json'])) as Array<{ peerId: string, tags: Record<string, string>, caps: string[] }>
    const m = members.find(x => x.peerId === joined.peerId)
    expect(m?.tags).toMatchObject({ dc: 'lab', name: 'lab-h5' })
    expect(m?.caps).toEqual([])
    // the token was a 0600 file, never an argument
    const tokenFile = join(roots, hostIdOf(5), 'etc/ctpf/join.token')
    expect((await stat(tokenFile)).mode & 0o777).toBe(0o600)
    const token = (await readFile(tokenFile, 'utf8')).trim()
    for (const pid of (await readdir('/proc')).filter(p => /^\d+$/.test(p))) {
      const cmd = await readFile(`/proc/${pid}/cmdline`, 'utf8').catch(() => '')
      expect(cmd.includes(token)).toBe(false)
    }
  }, 180_000)

  it('the joined host is in the overlay and is reached over it from another datacenter (ping, overlay names over UDP and TCP)', async () => {
    expect(joinedPeer, 'the host-join test ran').toBeDefined()
    const h5 = hosts[4] as SshdHost
    // the host's agent got the mesh's overlay range from B and runs its overlay in the host's namespace
    const config = JSON.parse(await readFile(join(roots, hostIdOf(5), 'var/lib/ctpf/config.json'), 'utf8')) as unknown
    expect(config).toEqual({ overlay: { range: MESH_RANGE } })
    const hostDataDir = join(roots, hostIdOf(5), 'var/lib/ctpf')
    const hostStatus = await waitFor(async () => {
      const r = await run([process.execPath, CLI, 'net', 'status', '--json', '--data-dir', hostDataDir], h5.ns)
      const st = JSON.parse(r.stdout) as { enabled: boolean, address?: string, name?: string }
      return st.enabled && st.address != null ? st : undefined
    }, { what: 'the joined host\'s overlay up', timeoutMs: 30_000, intervalMs: 500 })
    expect(hostStatus.name).toBe('lab-h5.lab.ctpf.internal')

    // an agent of another datacenter, with its overlay on
    const cDir = tempDir('ctpf-on-')
    writeFileSync(join(cDir, 'config.json'), JSON.stringify({ overlay: { range: MESH_RANGE, tunName: 'ctpfon0' } }))
    c = await startAgent({
      dir: cDir,
      joinToken: await invite(a, { tags: { dc: 'far', name: 'c' } }),
      args: ['--listen', `/ip4/${lan.segment.serverAddress}/tcp/0`]
    })
    const t0 = Date.now()
    const address = await waitFor(async () => {
      const st = (await c?.api('GET', '/net/status'))?.body as { peers?: Array<{ peer: string, address?: string }> }
      return st.peers?.find(p => p.peer === joinedPeer)?.address
    }, { what: 'the joined host\'s overlay address at C', timeoutMs: 30_000, intervalMs: 500 })
    expect(address).toBe(hostStatus.address)
    // the kernel's ping from C's side, through C's TUN, to the host's TUN in its namespace
    await waitFor(async () => (await run(['busybox', 'ping', '-c', '1', '-W', '2', address])).code === 0, { what: `ping ${address} over the overlay`, timeoutMs: 30_000, intervalMs: 500 })
    timings['overlay-reach'] = Date.now() - t0
    const p = await run(['busybox', 'ping', '-c', '3', '-W', '2', address])
    expect(p.code, p.stdout + p.stderr).toBe(0)
    const peer = ((await c.api('GET', '/net/status')).body as { peers: Array<{ peer: string, path?: string, bytesIn: number, name?: string }> }).peers.find(x => x.peer === joinedPeer)
    expect(peer).toMatchObject({ path: 'direct', name: 'lab-h5.lab.ctpf.internal' })
    expect(peer?.bytesIn).toBeGreaterThan(0)
    // the host's agent serves overlay names on its overlay address: UDP, and TCP across the overlay
    const cAddress = ((await c.api('GET', '/net/status')).body as { address: string }).address
    for (const tcp of [[], ['+tcp']]) {
      const d = await run(['dig', `@${address}`, 'lab-h5.lab.ctpf.internal', 'A', '+short', '+time=2', '+tries=2', ...tcp])
      expect(d.stdout.trim(), d.stderr).toBe(address)
    }
    const far = await waitFor(async () => {
      const d = await run(['dig', `@${address}`, 'c.far.ctpf.internal', 'A', '+short', '+time=2', '+tries=2'])
      return d.stdout.trim() === cAddress ? d.stdout.trim() : undefined
    }, { what: 'C\'s name at the joined host', timeoutMs: 10_000, intervalMs: 500 })
    expect(far).toBe(cAddress)
  }, 120_000)
})
