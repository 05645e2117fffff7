/**
 * proxyDHCP beside a real site DHCP server: dnsmasq hands out addresses, our server only
 * adds boot information for PXE clients. Three namespaces on one bridge:
 *   site (dnsmasq + bridge) ─┬─ srv (our proxy)
 *                            └─ cli (udhcpc, then a PXE-speaking client script)
 */
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describePrivileged } from '../../helpers/privileged.js'
import { Namespaces, Proc, ServerProcess, compiledDhcp, ip, removeCompiled, uniqueTag, vethPair, waitForFile } from './dhcp-netns.js'

/**
 * A PXE ROM's conversation, with the real codec. A ROM reads frames from a raw socket; this
 * script uses a UDP socket, so its interface carries a placeholder address (.250) for the
 * kernel to accept subnet-broadcast replies. The DHCP messages are what a ROM sends.
 */
const PXE_CLIENT = `
import { createSocket } from 'node:dgram'
import { execFileSync } from 'node:child_process'
import { MessageType, decode, decodePxeVendorOptions, encode } from './protocols/dhcp/index.js'

const a = JSON.parse(process.argv[2])
const sock = createSocket({ type: 'udp4', reuseAddr: true })
await new Promise(resolve => sock.bind(68, '0.0.0.0', resolve))
sock.setBroadcast(true)
const inbox = []
sock.on('message', (b, r) => { try { inbox.push({ from: r.address, m: decode(b) }) } catch (e) { inbox.push({ from: r.address, error: e.code }) } })
const chaddr = Uint8Array.from(a.mac.split(':').map(h => parseInt(h, 16)))
const pxe = { vendorClassId: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0], clientNdi: { type: 1, major: 2, minor: 1 }, clientUuid: a.uuid, paramRequestList: [1, 3, 6, 43, 54, 60, 66, 67, 97, 128, 129, 130] }
const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))
const send = (m, port, addr) => new Promise((resolve, reject) => sock.send(encode(m), port, addr, err => err ? reject(err) : resolve()))
const replies = xid => inbox.filter(x => x.m?.xid === xid)
// dnsmasq pings an address before offering it: allow it a few seconds
const collect = async (xid, want, ms) => { for (let t = 0; t < ms && replies(xid).length < want; t += 50) await sleep(50); await sleep(300) }
const summary = x => x && ({ from: x.from, type: x.m.options.messageType, yiaddr: x.m.yiaddr, siaddr: x.m.siaddr, file: x.m.file,
  serverId: x.m.options.serverId, leaseTime: x.m.options.leaseTime, vendorClassId: x.m.options.vendorClassId, uuid: x.m.options.clientUuid,
  bootfileName: x.m.options.bootfileName, pxe: x.m.options.vendorSpecific && decodePxeVendorOptions(x.m.options.vendorSpecific) })
const out = {}

await send({ op: 1, xid: 101, chaddr, flags: 0x8000, options: { messageType: MessageType.DISCOVER, ...pxe } }, 67, '255.255.255.255')
await collect(101, 2, 8000)
out.offers = replies(101).map(summary)
const real = replies(101).find(x => x.m.yiaddr !== '0.0.0.0')
const proxy = replies(101).find(x => x.m.yiaddr === '0.0.0.0')
if (real) {
  await send({ op: 1, xid: 102, chaddr, flags: 0x8000, options: { messageType: MessageType.REQUEST, serverId: real.m.options.serverId, requestedIp: real.m.yiaddr, ...pxe } }, 67, '255.255.255.255')
  await collect(102, 1, 5000)
  const ack = replies(102).find(x => x.m.options.messageType === MessageType.ACK)
  out.ack = summary(ack)
  if (ack && proxy) {
    execFileSync('ip', ['addr', 'add', ack.m.yiaddr + '/24', 'dev', a.iface])
    await send({ op: 1, xid: 103, chaddr, ciaddr: ack.m.yiaddr, options: { messageType: MessageType.REQUEST, ...pxe } }, a.pxePort, proxy.m.options.serverId)
    await collect(103, 1, 3000)
    out.bootAck = summary(replies(103)[0])
  }
}
await send({ op: 1, xid: 104, chaddr, flags: 0x8000, options: { messageType: MessageType.DISCOVER, ...pxe, userClass: ['iPXE'] } }, 67, '255.255.255.255')
await collect(104, 2, 8000)
out.ipxeOffers = replies(104).map(summary)
out.undecodable = inbox.filter(x => x.error).length
process.stdout.write(JSON.stringify(out) + '\\n')
sock.close()
`

describePrivileged('proxyDHCP beside dnsmasq', ['ip', 'dnsmasq', 'udhcpc'], () => {
  const tag = uniqueTag()
  const net = `10.234.${Math.floor(Math.random() * 200) + 20}`
  const nss = new Namespaces()
  const site = `ctpf-ps-${tag}`
  const srv = `ctpf-pp-${tag}`
  const cli = `ctpf-pc-${tag}`
  const bridge = `br${tag}`
  const cliIf = `pc${tag}`
  const uuid = '8e4b7c1a-0000-4000-8000-52540000c0de'
  let dir = ''
  let dnsmasq: Proc | undefined
  let proxy: ServerProcess | undefined
  const procs: Proc[] = []

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ctpf-dhcp-proxy-'))
    await nss.add(site)
    await nss.add(srv)
    await nss.add(cli)
    await ip('-n', site, 'link', 'add', bridge, 'type', 'bridge')
    await ip('-n', site, 'addr', 'add', `${net}.1/24`, 'dev', bridge)
    await ip('-n', site, 'link', 'set', bridge, 'up')
    await vethPair({ ns: srv, name: `pp${tag}`, cidr: `${net}.2/24` }, { ns: site, name: `pb${tag}a` })
    await vethPair({ ns: cli, name: cliIf, mac: '52:54:00:c0:de:01' }, { ns: site, name: `pb${tag}b` })
    for (const port of [`pb${tag}a`, `pb${tag}b`]) await ip('-n', site, 'link', 'set', port, 'master', bridge)

    const conf = join(dir, 'dnsmasq.conf')
    await writeFile(conf, [
      'port=0', `interface=${bridge}`, 'bind-interfaces', `dhcp-range=${net}.100,${net}.150,255.255.255.0,10m`,
      `dhcp-leasefile=${join(dir, 'dnsmasq.leases')}`, `pid-file=${join(dir, 'dnsmasq.pid')}`, 'log-dhcp', 'user=root', 'group=root', ''
    ].join('\n'))
    dnsmasq = Proc.spawn(['ip', 'netns', 'exec', site, 'dnsmasq', '--no-daemon', `--conf-file=${conf}`])
    const deadline = Date.now() + 10_000
    while (!/DHCP, IP range/.test(dnsmasq.text)) {
      if (Date.now() > deadline || dnsmasq.child.exitCode !== null) throw new Error(`dnsmasq did not start:\n${dnsmasq.text}`)
      await new Promise(resolve => setTimeout(resolve, 50))
    }

    proxy = await ServerProcess.start({
      ns: srv,
      config: {
        mode: 'proxy',
        serverAddress: `${net}.2`,
        subnets: [{ network: `${net}.0`, netmask: '255.255.255.0' }],
        boot: { files: { bios: 'undionly.kpxe', efiX64: 'ipxe.efi' }, ipxeScriptUrl: `http://${net}.2:8080/boot.ipxe` },
        dc: 'proxy-test'
      }
    })
    expect(proxy.startError).toBeUndefined()
  })

  afterAll(async () => {
    for (const p of procs) await p.stop().catch(() => {})
    await proxy?.stop().catch(() => {})
    await dnsmasq?.stop().catch(() => {})
    await nss.destroy()
    await removeCompiled()
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('leaves an ordinary client to dnsmasq and stays silent', async () => {
    const script = join(dir, 'udhcpc.sh')
    await writeFile(script, '#!/bin/sh\necho "$1 ip=$ip serverid=$serverid boot_file=$boot_file" >> "$(dirname "$0")/udhcpc.log"\nexit 0\n')
    await chmod(script, 0o755)
    const before = (await proxy!.waitForState(() => true)).metrics ?? {}
    const client = Proc.spawn(['ip', 'netns', 'exec', cli, 'udhcpc', '-f', '-q', '-i', cliIf, '-s', script, '-t', '10', '-T', '1'])
    procs.push(client)
    const log = await waitForFile(join(dir, 'udhcpc.log'), t => /^bound /m.test(t))
    expect(/^bound ip=(\S+) serverid=(\S+)/m.exec(log)?.slice(1)).toEqual([expect.stringMatching(new RegExp(`^${net.replace(/\./g, '\\.')}\\.1[0-5]\\d$`)), `${net}.1`])
    await client.exited
    const after = await proxy!.waitForState(l => (l.metrics?.ignored ?? 0) > (before.ignored ?? 0))
    expect(after.metrics).toMatchObject({ offers: 0, acks: 0, naks: 0, proxyOffers: 0 })
    expect(after.leases).toEqual([])
  })

  it('a PXE client gets its address from dnsmasq and its boot file from us', async () => {
    const dir2 = await compiledDhcp()
    const scriptPath = join(dir2, 'pxe-client.mjs')
    await writeFile(scriptPath, PXE_CLIENT)
    await ip('-n', cli, 'addr', 'flush', 'dev', cliIf)
    await ip('-n', cli, 'addr', 'add', `${net}.250/24`, 'dev', cliIf)
    // without a route the kernel refuses to send to 255.255.255.255 (a ROM has no such limit)
    await ip('-n', cli, 'route', 'add', 'default', 'dev', cliIf)
    const client = Proc.spawn(['ip', 'netns', 'exec', cli, process.execPath, scriptPath, JSON.stringify({ mac: '52:54:00:c0:de:02', uuid, iface: cliIf, pxePort: 4011 })])
    procs.push(client)
    expect(await client.exited, client.text).toBe(0)
    const out = JSON.parse(client.text.trim().split('\n').at(-1) ?? '{}')

    expect(out.undecodable).toBe(0)
    expect(out.offers, dnsmasq?.text).toHaveLength(2)
    const fromDnsmasq = out.offers.find((o: any) => o.serverId === `${net}.1`)
    const fromUs = out.offers.find((o: any) => o.serverId === `${net}.2`)
    expect(fromDnsmasq.yiaddr).toMatch(/\.1[0-5]\d$/)
    expect(fromDnsmasq.leaseTime).toBe(600)
    expect(fromUs).toMatchObject({ type: 2, yiaddr: '0.0.0.0', siaddr: `${net}.2`, file: 'undionly.kpxe', vendorClassId: 'PXEClient', uuid, bootfileName: 'undionly.kpxe' })
    expect(fromUs.leaseTime).toBeUndefined()
    expect(fromUs.pxe.discoveryControl).toBe(8)

    expect(out.ack).toMatchObject({ type: 5, from: `${net}.1`, serverId: `${net}.1`, yiaddr: fromDnsmasq.yiaddr })
    expect(out.bootAck).toMatchObject({ type: 5, from: `${net}.2`, file: 'undionly.kpxe', siaddr: `${net}.2`, vendorClassId: 'PXEClient' })
    expect(out.ipxeOffers.find((o: any) => o.serverId === `${net}.2`)?.file).toBe(`http://${net}.2:8080/boot.ipxe`)

    const state = await proxy!.waitForState(l => (l.metrics?.proxyAcks ?? 0) >= 1)
    expect(state.metrics).toMatchObject({ offers: 0, acks: 0, proxyOffers: 2, proxyAcks: 1 })
    expect(state.leases).toEqual([])
    expect(proxy!.events('host:sighted')).toContainEqual({ mac: '52:54:00:c0:de:02', arch: 'x86-bios', dc: 'proxy-test', uuid, ip: fromDnsmasq.yiaddr })
  })
})
