/**
 * The workload distributor against real sshd hosts in network namespaces, with the k3s
 * stand-in (test/helpers/k3s-standin.ts) as the k3s binary. Each host keeps its k3s files
 * under its own root (the hosts share one filesystem).
 */
import { createReadStream } from 'node:fs'
import { readFile, stat } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { generateKeyPair, type SshKeyPair } from '../../../../roles/distributor/ssh/index.js'
import {
  createCluster, growCluster, k3sPaths, removeNode, ServerNotReadyError, type WorkloadComponents, type WorkloadHost
} from '../../../../roles/distributor/workload/index.js'
import { K3sStandin } from '../../../helpers/k3s-standin.js'
import { ip } from '../../../helpers/netns.js'
import { describePrivileged } from '../../../helpers/privileged.js'
import { SshLan, type SshdHost } from '../../../helpers/sshd.js'

describePrivileged('workload distributor: k3s clusters over SSH (stand-in k3s)', ['/usr/sbin/sshd', 'ssh-keygen', 'ip', 'setsid'], () => {
  let lan: SshLan
  let key: SshKeyPair
  let k3s: K3sStandin
  let roots: string
  let hosts: WorkloadHost[]
  let c: WorkloadComponents
  const token = 'ctpfk3s-test-token-' + Math.random().toString(36).slice(2)

  const wh = (h: SshdHost, n: number): WorkloadHost => ({
    id: `host-${n}`, address: h.address, port: h.port, user: 'root', hostKey: h.hostKeyLine,
    nodeIp: h.address, nodeName: `node-${n}`, root: join(roots, `host-${n}`)
  })

  beforeAll(async () => {
    key = generateKeyPair()
    lan = await SshLan.create()
    k3s = await K3sStandin.create()
    roots = await lan.tempDir()
    const sshd: SshdHost[] = []
    for (let i = 0; i < 4; i++) {
      const h = await lan.addHost({ authorizedKeys: [key.publicKey] })
      // the overlay's interface, as flannel-iface names it
      await ip('-n', h.ns, 'tuntap', 'add', 'dev', 'ctpf0', 'mode', 'tun')
      sshd.push(h)
    }
    hosts = sshd.map((h, i) => wh(h, i + 1))
    c = { privateKey: key.privateKey, binary: () => createReadStream(k3s.binary) }
  }, 120_000)

  afterAll(async () => {
    // stop the detached stand-ins before the namespaces go
    for (const h of hosts ?? []) await removeNode({ host: h, role: 'agent' }, c).catch(() => {})
    await lan?.destroy()
    await k3s?.destroy()
  }, 120_000)

  it('a server that cannot start fails the creation with ERR_WORKLOAD_SERVER_NOT_READY', async () => {
    const err = await createCluster({ hosts: [hosts[0] as WorkloadHost], servers: 1, token }, c, { flannelIface: 'nosuchif0', init: 'detached', waitSeconds: 5 }).catch(e => e)
    expect(err).toBeInstanceOf(ServerNotReadyError)
    expect((err as ServerNotReadyError).code).toBe('ERR_WORKLOAD_SERVER_NOT_READY')
    expect((err as Error).message).toContain('flannel-iface nosuchif0')
  }, 60_000)

  it('creates a cluster of one server and two agents, grows it and removes a node', async () => {
    const steps: string[] = []
    const output: string[] = []
    const [h1, h2, h3, h4] = hosts as [WorkloadHost, WorkloadHost, WorkloadHost, WorkloadHost]
    const made = await createCluster({ hosts: [h1, h2, h3], servers: 1, token }, c, {
      init: 'detached', waitSeconds: 20, onStep: l => steps.push(l), onOutput: l => output.push(`${l.host}: ${l.line}`)
    })
    expect(made.nodes.map(n => [n.host, n.role, n.ok])).toEqual([['host-1', 'server', true], ['host-2', 'agent', true], ['host-3', 'agent', true]])
    expect(made.version).toBe('v1.31.4+k3s1')
    expect(made.serverUrl).toBe(`https://${h1.address}:6443`)
    expect(made.kubeconfig).toContain(`server: https://${h1.address}:6443`)
    expect(made.health.map(n => [n.name, n.status])).toEqual([['node-1', 'Ready'], ['node-2', 'Ready'], ['node-3', 'Ready']])
    expect((await k3s.nodes(h1.address)).map(n => n.name)).toEqual(['node-1', 'node-2', 'node-3'])
    // the token went in config.yaml (0600), never on a command line or into the output
    const p = k3sPaths(h2.root)
    expect((await stat(p.config)).mode & 0o777).toBe(0o600)
    expect(await readFile(p.config, 'utf8')).toContain(`server: "https://${h1.address}:6443"`)
    expect((await stat(k3sPaths(h1.root).kubeconfig)).mode & 0o777).toBe(0o600)
    expect(await k3s.calls()).not.toContain(token)
    expect(output.join('\n')).not.toContain(token)
    expect(output.join('\n')).not.toContain('client-key-data')

    const grown = await growCluster({ server: h1, hosts: [h4], token }, c, { init: 'detached', waitSeconds: 20 })
    expect(grown.nodes[0]?.ok).toBe(true)
    expect(grown.health.map(n => n.name)).toContain('node-4')

    const removed = await removeNode({ server: h1, host: h3, role: 'agent' }, c, { init: 'detached' })
    expect(removed).toMatchObject({ drained: true, removed: true })
    expect((await k3s.nodes(h1.address)).map(n => n.name)).toEqual(['node-1', 'node-2', 'node-4'])
    await expect(stat(k3sPaths(h3.root).config)).rejects.toThrow()
  }, 180_000)

  it('an agent with the wrong token is refused and reported on its host only', async () => {
    const [h1, , h3] = hosts as [WorkloadHost, WorkloadHost, WorkloadHost]
    const grown = await growCluster({ server: h1, hosts: [h3], token: 'not-the-token' }, c, { init: 'detached', waitSeconds: 5 })
    expect(grown.nodes[0]).toMatchObject({ host: 'host-3', ok: false, error: { code: 'ERR_WORKLOAD_INSTALL' } })
    expect(grown.nodes[0]?.error?.message).toContain('refused the token')
  }, 60_000)
})
