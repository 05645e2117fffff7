/**
 * Real clients in a network namespace, routed to the server through a second "router"
 * namespace whose kernel drops 3% of forwarded UDP datagrams each way (iptables `statistic`
 * match in FORWARD; this kernel has no sch_netem, and dropping in OUTPUT would make the
 * client's sendto fail with EPERM instead of losing the packet). Transfers must complete intact.
 */
import { execFileSync } from 'node:child_process'
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import type { TftpServer } from '../../../roles/distributor/tftp/index.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { directory, makeTree, run, sha256, startServer, type Tree } from './tftp-helpers.js'

const id = process.pid % 100000
const ns = `ctpf-tftp-c-${id}` // the client
const router = `ctpf-tftp-r-${id}`
const hostIf = `ctft${id}h`
const hostIp = '10.213.77.1' // host ↔ router: 10.213.77.0/30
const clientNet = '10.213.78.0/30' // router ↔ client

function sh (...argv: string[]): void {
  execFileSync(argv[0] as string, argv.slice(1), { stdio: 'pipe' })
}

/** Datagrams the router has dropped so far. */
function dropped (): number {
  const out = execFileSync('ip', ['netns', 'exec', router, 'iptables', '-nvxL', 'FORWARD'], { encoding: 'utf8' })
  const line = out.split('\n').find(l => l.includes('DROP') && l.includes('statistic'))
  return Number(line?.trim().split(/\s+/)[0] ?? 0)
}

describePrivileged('TFTP over a lossy veth link (3% kernel drops each way)', ['ip', 'iptables', 'tftp', 'curl'], () => {
  let tree: Tree
  let server: TftpServer
  let port: number

  beforeAll(async () => {
    tree = await makeTree({ 'lossy.bin': 256 * 1024 + 11, 'lossy2.bin': 1024 * 1024 + 3 })
    sh('ip', 'netns', 'add', router)
    sh('ip', 'netns', 'add', ns)
    sh('ip', 'link', 'add', hostIf, 'type', 'veth', 'peer', 'name', 'up0', 'netns', router)
    sh('ip', 'addr', 'add', `${hostIp}/30`, 'dev', hostIf)
    sh('ip', 'link', 'set', hostIf, 'up')
    sh('ip', '-n', router, 'link', 'add', 'down0', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', ns)
    sh('ip', '-n', router, 'addr', 'add', '10.213.77.2/30', 'dev', 'up0')
    sh('ip', '-n', router, 'addr', 'add', '10.213.78.1/30', 'dev', 'down0')
    sh('ip', '-n', router, 'link', 'set', 'up0', 'up')
    sh('ip', '-n', router, 'link', 'set', 'down0', 'up')
    sh('ip', 'netns', 'exec', router, 'sysctl', '-qw', 'net.ipv4.ip_forward=1')
    sh('ip', 'netns', 'exec', router, 'iptables', '-A', 'FORWARD', '-p', 'udp', '-m', 'statistic', '--mode', 'random', '--probability', '0.03', '-j', 'DROP')
    sh('ip', '-n', ns, 'addr', 'add', '10.213.78.2/30', 'dev', 'eth0')
    sh('ip', '-n', ns, 'link', 'set', 'eth0', 'up')
    sh('ip', '-n', ns, 'link', 'set', 'lo', 'up')
    sh('ip', '-n', ns, 'route', 'add', 'default', 'via', '10.213.78.1')
    sh('ip', 'route', 'add', clientNet, 'via', '10.213.77.2', 'dev', hostIf) // goes away with the link
    ;({ server, port } = await startServer({ address: hostIp, timeoutMs: 100, maxRetries: 20, allowClientTimeout: false }, directory(tree.root)))
  })

  afterAll(async () => {
    await server?.stop()
    for (const n of [ns, router]) {
      try { sh('ip', 'netns', 'del', n) } catch {} // removes the veth pairs with them
    }
    try { sh('ip', 'link', 'del', hostIf) } catch {}
    await tree?.cleanup()
  })

  it('tftp-hpa fetches a file intact', async () => {
    const out = join(tree.root, '..', 'ns-hpa.out')
    const r = await run('ip', ['netns', 'exec', ns, 'tftp', '-m', 'binary', hostIp, String(port)], { input: `rexmt 1\nget lossy.bin ${out}\nquit\n`, timeoutMs: 120_000 })
    expect(r.stderr).toBe('')
    expect(sha256(await readFile(out))).toBe(sha256(tree.files['lossy.bin'] as Buffer))
    expect(dropped()).toBeGreaterThan(3)
  }, 120_000)

  it('curl fetches a file intact with blksize 1468', async () => {
    const out = join(tree.root, '..', 'ns-curl.out')
    const r = await run('ip', ['netns', 'exec', ns, 'curl', '-sS', '--tftp-blksize', '1468', '-o', out, `tftp://${hostIp}:${port}/lossy2.bin`], { timeoutMs: 120_000 })
    expect(r.code).toBe(0)
    expect(sha256(await readFile(out))).toBe(sha256(tree.files['lossy2.bin'] as Buffer))
    expect(server.metrics.retransmittedPackets).toBeGreaterThan(0)
    expect(dropped()).toBeGreaterThan(10)
  }, 120_000)
})
