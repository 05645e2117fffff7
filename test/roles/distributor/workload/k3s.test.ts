/**
 * What the workload distributor writes for k3s (config.yaml, unit, parsing of k3s's output),
 * and the stand-in's own strictness: it must refuse what real k3s would refuse, or the
 * cluster tests could pass on a wrong interface.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  k3sPaths, parseNodes, parseVersion, renderConfig, renderUnit, rewriteKubeconfig, serverUrl
} from '../../../../roles/distributor/workload/index.js'
import { K3sStandin } from '../../../helpers/k3s-standin.js'

const run = promisify(execFile)

describe('k3s files and output', () => {
  it('config.yaml for an agent names the server and token and nothing only servers take', () => {
    const text = renderConfig({ role: 'agent', token: 'T0k"en', server: 'https://10.0.0.1:6443', nodeIp: '10.0.0.2', nodeName: 'n2', flannelIface: 'ctpf0', paths: k3sPaths('/') })
    expect(text).toContain('token: "T0k\\"en"')
    expect(text).toContain('server: "https://10.0.0.1:6443"')
    expect(text).toContain('flannel-iface: "ctpf0"')
    expect(text).not.toContain('write-kubeconfig')
    expect(text).not.toContain('data-dir')
    expect(text).not.toContain('cluster-init')
  })

  it('config.yaml for a first server of several sets cluster-init; a moved root moves data-dir and the kubeconfig', () => {
    const text = renderConfig({ role: 'server', token: 't', nodeIp: '10.0.0.1', nodeName: 'n1', flannelIface: 'ctpf0', clusterInit: true, paths: k3sPaths('/srv/h1') })
    expect(text).toContain('cluster-init: true')
    expect(text).toContain('write-kubeconfig-mode: "0600"')
    expect(text).toContain('data-dir: "/srv/h1/var/lib/rancher/k3s"')
    expect(text).toContain('write-kubeconfig: "/srv/h1/etc/rancher/k3s/k3s.yaml"')
    expect(renderUnit('server', k3sPaths('/'))).toContain('ExecStart=/usr/local/bin/k3s server --config /etc/rancher/k3s/config.yaml')
  })

  it('reads node lists, versions and points the kubeconfig at the server', () => {
    expect(parseNodes('n1   Ready    control-plane,master   5m   v1.31.4+k3s1\nn2 NotReady <none> 1m v1.31.4+k3s1\n\n')).toEqual([
      { name: 'n1', status: 'Ready', roles: 'control-plane,master', version: 'v1.31.4+k3s1' },
      { name: 'n2', status: 'NotReady', roles: '<none>', version: 'v1.31.4+k3s1' }
    ])
    expect(parseVersion('ctpf-k3s-version: k3s version v1.31.4+k3s1 (abc)\nk3s server started')).toBe('v1.31.4+k3s1')
    expect(rewriteKubeconfig('    server: https://127.0.0.1:6443\n', serverUrl('fd00::1'))).toBe('    server: https://[fd00::1]:6443\n')
  })
})

describe('the k3s stand-in refuses what k3s would refuse', () => {
  let k3s: K3sStandin
  let dir: string
  beforeAll(async () => {
    k3s = await K3sStandin.create()
    dir = await mkdtemp(join(tmpdir(), 'ctpf-k3s-unit-'))
  })
  afterAll(async () => {
    await k3s.destroy()
    await rm(dir, { recursive: true, force: true })
  })
  const standin = async (args: string[], env: Record<string, string> = {}): Promise<{ code: number, stderr: string }> => {
    try {
      await run(k3s.binary, args, { env: { PATH: process.env.PATH ?? '', ...env }, timeout: 20_000 })
      return { code: 0, stderr: '' }
    } catch (err) {
      const e = err as { code?: number, stderr?: string }
      return { code: e.code ?? -1, stderr: e.stderr ?? '' }
    }
  }
  const config = async (name: string, lines: string[]): Promise<string> => {
    const p = join(dir, name)
    await writeFile(p, lines.join('\n') + '\n')
    return p
  }

  it('answers --version and refuses unknown subcommands and flags', async () => {
    expect(await standin(['--version'])).toEqual({ code: 0, stderr: '' })
    expect((await standin(['serve'])).code).toBe(64)
    const c = await config('ok.yaml', ['token: "t"', 'node-ip: "127.0.0.1"'])
    expect((await standin(['agent', '--config', c, '--no-such-flag'])).stderr).toContain('unsupported flag --no-such-flag')
  })

  it('refuses unknown config keys, agents without a token or server, malformed server URLs and missing interfaces', async () => {
    expect((await standin(['server', '--config', await config('k.yaml', ['token: "t"', 'tokn: "x"'])])).stderr).toContain('unknown key tokn')
    expect((await standin(['agent', '--config', await config('a1.yaml', ['server: "https://127.0.0.1:6443"'])])).stderr).toContain('no token')
    expect((await standin(['agent', '--config', await config('a2.yaml', ['token: "t"'])])).stderr).toContain('no server')
    expect((await standin(['agent', '--config', await config('a3.yaml', ['token: "t"', 'server: "http://127.0.0.1:6443"'])])).stderr).toContain('https://HOST:PORT')
    expect((await standin(['agent', '--config', await config('a4.yaml', ['token: "t"', 'server: "https://127.0.0.1:6443"', 'flannel-iface: "nosuch0"'])])).stderr).toContain('no such interface')
    expect((await standin(['server', '--config', await config('s1.yaml', ['token: "t"', 'node-ip: "192.0.2.77"'])])).stderr).toContain('not an address of this host')
    expect((await standin(['agent', '--config', await config('a5.yaml', ['token: "t"', 'write-kubeconfig-mode: "0644"', 'server: "https://127.0.0.1:6443"'])])).stderr).toContain('unknown key write-kubeconfig-mode')
    expect((await standin(['kubectl', 'get', 'pods'], { KUBECONFIG: join(dir, 'none.yaml') })).stderr).toContain('cannot read kubeconfig')
  })
})
