/**
 * Real DHCP clients (busybox udhcpc, ISC dhclient) against the server, each side in its own
 * network namespace joined by a veth pair. Ports are the real 67/68: the namespaces are ours.
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describePrivileged } from '../../helpers/privileged.js'
import { Namespaces, Proc, ServerProcess, ip as ipCmd, removeCompiled, uniqueTag, vethPair, waitForFile } from './dhcp-netns.js'

const UDHCPC_SCRIPT = `#!/bin/sh
# logs every event and applies the address like the default script does
echo "$1 ip=$ip subnet=$subnet router=$router lease=$lease serverid=$serverid hostname=$hostname" >> "$(dirname "$0")/events.log"
case "$1" in
  deconfig) ip -4 addr flush dev "$interface" ;;
  bound|renew) ip -4 addr flush dev "$interface"; ip addr add "$ip/$subnet" dev "$interface" ;;
esac
exit 0
`

const DHCLIENT_SCRIPT = `#!/bin/sh
echo "$reason ip=$new_ip_address mask=$new_subnet_mask router=$new_routers old=$old_ip_address" >> "$(dirname "$0")/dhclient.log"
case "$reason" in
  BOUND|RENEW|REBIND|REBOOT) ip -4 addr flush dev "$interface"; ip addr add "$new_ip_address/$new_subnet_mask" dev "$interface" ;;
  RELEASE|EXPIRE|STOP) ip -4 addr flush dev "$interface" ;;
esac
exit 0
`

describePrivileged('DHCP server with real clients in network namespaces', ['ip', 'udhcpc', 'dhclient'], () => {
  const tag = uniqueTag()
  const net = `10.233.${Math.floor(Math.random() * 200) + 20}`
  const nss = new Namespaces()
  const srvNs = `ctpf-ds-${tag}`
  const cliNs = `ctpf-dc-${tag}`
  const cliIf = `dc${tag}`
  const cliMac = '52:54:00:7a:00:01'
  let dir = ''
  let server: ServerProcess | undefined
  const procs: Proc[] = []

  const config = {
    serverAddress: `${net}.1`,
    authoritative: true,
    subnets: [{
      network: `${net}.0`,
      netmask: '255.255.255.0',
      range: { start: `${net}.100`, end: `${net}.199` },
      router: `${net}.1`,
      dnsServers: [`${net}.1`],
      leaseTime: 120,
      reservations: [{ mac: '52:54:00:7a:00:99', ip: `${net}.42`, hostname: 'reserved-node' }]
    }],
    dc: 'ns-test'
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ctpf-dhcp-clients-'))
    await writeFile(join(dir, 'udhcpc.sh'), UDHCPC_SCRIPT)
    await writeFile(join(dir, 'dhclient.sh'), DHCLIENT_SCRIPT)
    await chmod(join(dir, 'udhcpc.sh'), 0o755)
    await chmod(join(dir, 'dhclient.sh'), 0o755)
    await nss.add(srvNs)
    await nss.add(cliNs)
    await vethPair({ ns: srvNs, name: `ds${tag}`, cidr: `${net}.1/24` }, { ns: cliNs, name: cliIf, mac: cliMac })
  })

  afterAll(async () => {
    for (const p of procs) await p.stop().catch(() => {})
    await server?.stop().catch(() => {})
    await nss.destroy()
    await removeCompiled()
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  async function startServer (): Promise<ServerProcess> {
    server = await ServerProcess.start({ ns: srvNs, config, leasePath: join(dir, 'leases') })
    expect(server.startError).toBeUndefined()
    return server
  }

  function udhcpc (...extra: string[]): Proc {
    const p = Proc.spawn(['ip', 'netns', 'exec', cliNs, 'udhcpc', '-f', '-i', cliIf, '-s', join(dir, 'udhcpc.sh'), '-t', '10', '-T', '1', '-A', '1', ...extra])
    procs.push(p)
    return p
  }

  const events = async (pred: (t: string) => boolean): Promise<string> => await waitForFile(join(dir, 'events.log'), pred, 20_000)
  const bound = (t: string): RegExpMatchArray[] => [...t.matchAll(/^bound ip=(\S+) subnet=(\S+) router=(\S*) lease=(\d+) serverid=(\S+) hostname=(\S*)$/gm)]

  it('udhcpc obtains a lease, renews it on SIGUSR1 and releases it on SIGUSR2', async () => {
    const s = await startServer()
    const client = udhcpc('-x', 'hostname:udhcpc-node', '-r', `${net}.150`)
    const log = await events(t => bound(t).length > 0)
    const [, ip, subnet, router, lease, serverid] = bound(log)[0] ?? []
    expect({ ip, subnet, router, lease, serverid }).toEqual({ ip: `${net}.150`, subnet: '255.255.255.0', router: `${net}.1`, lease: '120', serverid: `${net}.1` })
    await s.waitFor(l => l.event === 'host:sighted' && l.data.ip === `${net}.150`)
    expect(s.events('host:sighted')[0]).toEqual({ mac: cliMac, arch: 'unknown', ip: `${net}.150`, dc: 'ns-test', hostname: 'udhcpc-node' })
    const first = (await s.waitForState(l => (l.leases ?? []).length === 1)).leases?.[0]
    expect(first).toMatchObject({ ip: `${net}.150`, mac: cliMac, state: 'bound' })

    client.signal('SIGUSR1')
    await events(t => /^renew ip=/m.test(t))
    const renewed = await s.waitForState(l => (l.metrics?.acks ?? 0) >= 2)
    expect(renewed.leases?.[0]?.expiresAt).toBeGreaterThan(first?.expiresAt ?? Infinity)
    // the renewal was unicast: no NAK, no new offer
    expect(renewed.metrics).toMatchObject({ offers: 1, naks: 0 })

    client.signal('SIGUSR2')
    await s.waitFor(l => l.event === 'lease:released')
    expect(s.events('lease:released')[0]).toMatchObject({ ip: `${net}.150`, mac: cliMac, state: 'released' })
    await client.stop()
  })

  it('a reservation gives udhcpc the reserved address and hostname', async () => {
    await server?.stop()
    await rm(join(dir, 'events.log'), { force: true })
    await ipCmd('-n', cliNs, 'link', 'set', cliIf, 'address', '52:54:00:7a:00:99')
    try {
      const s = await startServer()
      const client = udhcpc()
      const [, ip, , , , , hostname] = bound(await events(t => bound(t).length > 0))[0] ?? []
      expect(ip).toBe(`${net}.42`)
      expect(hostname).toBe('reserved-node')
      await s.waitFor(l => l.event === 'lease:granted' && l.data.ip === `${net}.42`)
      await client.stop()
    } finally {
      await ipCmd('-n', cliNs, 'link', 'set', cliIf, 'address', cliMac)
    }
  })

  it('a restarted server keeps its leases: the client gets its address back, a stranger does not', async () => {
    await server?.stop()
    const setMac = async (mac: string): Promise<void> => { await ipCmd('-n', cliNs, 'link', 'set', cliIf, 'address', mac) }
    const lease = async (...extra: string[]): Promise<string | undefined> => {
      await rm(join(dir, 'events.log'), { force: true })
      const client = udhcpc(...extra)
      const ip = bound(await events(t => bound(t).length > 0))[0]?.[1]
      await client.stop() // no -R: the lease stays bound
      return ip
    }
    try {
      await setMac('52:54:00:7a:00:03')
      let s = await startServer()
      expect(await lease('-r', `${net}.160`)).toBe(`${net}.160`)
      await s.stop()

      s = await startServer()
      const state = await s.waitForState(() => true)
      expect(state.leases?.find(l => l.ip === `${net}.160`)).toMatchObject({ mac: '52:54:00:7a:00:03', state: 'bound' })
      await setMac('52:54:00:7a:00:04')
      const strangers = await lease('-r', `${net}.160`)
      expect(strangers).not.toBe(`${net}.160`)
      // the first client, without a hint: the server remembers it (a fresh pool would hand out .100)
      await setMac('52:54:00:7a:00:03')
      expect(await lease()).toBe(`${net}.160`)
    } finally {
      await setMac(cliMac)
    }
  })

  it('dhclient obtains a lease, reboots into it after a server restart, and releases it', async () => {
    await server?.stop()
    const s1 = await startServer()
    const lf = join(dir, 'dhclient.leases')
    const pf = join(dir, 'dhclient.pid')
    const dhclient = (...extra: string[]): Proc => {
      const p = Proc.spawn(['ip', 'netns', 'exec', cliNs, 'dhclient', '-d', '-v', '-4', '-sf', join(dir, 'dhclient.sh'), '-lf', lf, '-pf', pf, ...extra, cliIf])
      procs.push(p)
      return p
    }
    let d = dhclient()
    const log = join(dir, 'dhclient.log')
    const first = /^BOUND ip=(\S+) mask=255\.255\.255\.0 router=(\S+)/m.exec(await waitForFile(log, t => /^BOUND /m.test(t), 30_000))
    expect(first?.[2]).toBe(`${net}.1`)
    const ip = first?.[1] ?? ''
    expect(ip).toMatch(new RegExp(`^${net.replace(/\./g, '\\.')}\\.1\\d\\d$`))
    await d.stop()
    await s1.stop()

    // restart: dhclient starts in INIT-REBOOT with the address from its lease file
    const s2 = await startServer()
    d = dhclient()
    await waitForFile(log, t => /^REBOOT ip=/m.test(t), 30_000)
    expect(/^REBOOT ip=(\S+)/m.exec(await waitForFile(log, () => true))?.[1]).toBe(ip)
    expect((await s2.waitForState(() => true)).metrics).toMatchObject({ naks: 0, offers: 0 })
    await d.stop()

    const release = dhclient('-r')
    await release.exited
    await s2.waitFor(l => l.event === 'lease:released' && l.data.ip === ip)
  })
})
