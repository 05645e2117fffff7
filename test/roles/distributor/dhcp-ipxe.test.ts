/**
 * A real network boot ROM against the server: QEMU (TCG) with its built-in iPXE NIC ROM,
 * attached by a tap device. iPXE sends user-class `iPXE`, so the server must hand it the HTTP
 * script URL; a test passes when iPXE fetches that script. First as the only DHCP server,
 * then as proxyDHCP beside dnsmasq (iPXE then asks us on port 4011).
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { describePrivileged } from '../../helpers/privileged.js'
import { Namespaces, Proc, ServerProcess, ip, removeCompiled, uniqueTag, vethPair } from './dhcp-netns.js'

const HTTP_SERVER = `
const http = require('node:http')
http.createServer((req, res) => {
  process.stdout.write(JSON.stringify({ method: req.method, url: req.url, from: req.socket.remoteAddress, ua: req.headers['user-agent'] }) + '\\n')
  res.end('#!ipxe\\necho ctpf script loaded\\nsleep 300\\n')
}).listen(8080, process.argv[1])
`

function qemu (ns: string, tap: string, mac: string): Proc {
  return Proc.spawn(['ip', 'netns', 'exec', ns, 'qemu-system-x86_64', '-accel', 'tcg', '-m', '128', '-display', 'none', '-serial', 'null', '-monitor', 'none',
    '-netdev', `tap,id=n0,ifname=${tap},script=no,downscript=no`, '-device', `e1000,netdev=n0,mac=${mac}`, '-boot', 'n', '-no-reboot'])
}

async function scriptFetched (web: Proc, vm: Proc, server: ServerProcess, ms = 50_000): Promise<{ method: string, url: string, from: string, ua: string }> {
  const deadline = Date.now() + ms
  while (!/boot\.ipxe/.test(web.text)) {
    if (Date.now() > deadline) throw new Error(`no script fetch; qemu: ${vm.text}\nweb: ${web.text}\nserver: ${server.stderr.join('')}`)
    if (vm.child.exitCode !== null) throw new Error(`qemu exited: ${vm.text}`)
    await new Promise(resolve => setTimeout(resolve, 200))
  }
  return JSON.parse(web.text.trim().split('\n')[0] ?? '{}')
}

describePrivileged('DHCP server with a real iPXE ROM in QEMU', ['ip', 'qemu-system-x86_64', 'dnsmasq'], () => {
  const tag = uniqueTag()
  const net = `10.236.${Math.floor(Math.random() * 200) + 20}`
  const nss = new Namespaces()
  const ns = `ctpf-qi-${tag}`
  const tap = `tq${tag}`
  const mac = '52:54:00:1e:00:01'
  let server: ServerProcess | undefined
  const procs: Proc[] = []

  beforeAll(async () => {
    await nss.add(ns)
    await ip('-n', ns, 'tuntap', 'add', 'dev', tap, 'mode', 'tap')
    await ip('-n', ns, 'addr', 'add', `${net}.1/24`, 'dev', tap)
    await ip('-n', ns, 'link', 'set', tap, 'up')
  })

  afterAll(async () => {
    for (const p of procs) await p.stop().catch(() => {})
    await server?.stop().catch(() => {})
    await nss.destroy()
    await removeCompiled()
  })

  it('iPXE takes our offer and fetches the HTTP script named in the ACK', async () => {
    server = await ServerProcess.start({
      ns,
      config: {
        serverAddress: `${net}.1`,
        authoritative: true,
        subnets: [{ network: `${net}.0`, netmask: '255.255.255.0', range: { start: `${net}.100`, end: `${net}.120` }, router: `${net}.1`, dnsServers: [`${net}.1`] }],
        boot: { files: { bios: 'undionly.kpxe' }, ipxeScriptUrl: `http://${net}.1:8080/boot.ipxe` },
        dc: 'qemu'
      }
    })
    expect(server.startError).toBeUndefined()
    const web = Proc.spawn(['ip', 'netns', 'exec', ns, process.execPath, '-e', HTTP_SERVER, `${net}.1`])
    procs.push(web)
    const vm = qemu(ns, tap, mac)
    procs.push(vm)
    const fetch = await scriptFetched(web, vm, server)
    await vm.stop()
    const granted = server.events('lease:granted').find(l => l.mac === mac)
    expect(granted?.ip).toMatch(new RegExp(`^${net.replace(/\./g, '\\.')}\\.1[0-2]\\d$`))
    expect(fetch).toMatchObject({ method: 'GET', url: '/boot.ipxe', from: granted?.ip })
    expect(fetch.ua).toMatch(/iPXE/)
    expect(server.events('host:sighted')).toContainEqual(expect.objectContaining({ mac, arch: 'x86-bios', ip: granted?.ip, dc: 'qemu' }))
  }, 60_000)

  it('as proxyDHCP beside dnsmasq, iPXE takes its address from dnsmasq and its script from us', async () => {
    const site = await nss.add(`ctpf-qs-${tag}`)
    const srv = await nss.add(`ctpf-qp-${tag}`)
    const pnet = `10.237.${Math.floor(Math.random() * 200) + 20}`
    const bridge = `bq${tag}`
    const ptap = `tp${tag}`
    const pmac = '52:54:00:1e:00:02'
    await ip('-n', site, 'link', 'add', bridge, 'type', 'bridge')
    await ip('-n', site, 'addr', 'add', `${pnet}.1/24`, 'dev', bridge)
    await ip('-n', site, 'link', 'set', bridge, 'up')
    await ip('-n', site, 'tuntap', 'add', 'dev', ptap, 'mode', 'tap')
    await ip('-n', site, 'link', 'set', ptap, 'master', bridge)
    await ip('-n', site, 'link', 'set', ptap, 'up')
    await vethPair({ ns: srv, name: `qp${tag}`, cidr: `${pnet}.2/24` }, { ns: site, name: `qb${tag}` })
    await ip('-n', site, 'link', 'set', `qb${tag}`, 'master', bridge)

    const dir = await mkdtemp(join(tmpdir(), 'ctpf-dhcp-ipxe-'))
    try {
      const conf = join(dir, 'dnsmasq.conf')
      await writeFile(conf, ['port=0', `interface=${bridge}`, 'bind-interfaces', `dhcp-range=${pnet}.100,${pnet}.150,255.255.255.0,10m`, 'no-ping',
        `dhcp-leasefile=${join(dir, 'leases')}`, `pid-file=${join(dir, 'pid')}`, 'log-dhcp', 'user=root', 'group=root', ''].join('\n'))
      const dnsmasq = Proc.spawn(['ip', 'netns', 'exec', site, 'dnsmasq', '--no-daemon', `--conf-file=${conf}`])
      procs.push(dnsmasq)
      const proxy = await ServerProcess.start({
        ns: srv,
        config: {
          mode: 'proxy',
          serverAddress: `${pnet}.2`,
          subnets: [{ network: `${pnet}.0`, netmask: '255.255.255.0' }],
          boot: { files: { bios: 'undionly.kpxe' }, ipxeScriptUrl: `http://${pnet}.2:8080/boot.ipxe` },
          dc: 'qemu-proxy'
        }
      })
      expect(proxy.startError).toBeUndefined()
      const web = Proc.spawn(['ip', 'netns', 'exec', srv, process.execPath, '-e', HTTP_SERVER, `${pnet}.2`])
      procs.push(web)
      const vm = qemu(site, ptap, pmac)
      procs.push(vm)
      let fetch
      try {
        fetch = await scriptFetched(web, vm, proxy)
      } finally {
        await vm.stop()
        await proxy.stop()
      }
      const leased = /DHCPACK\(\S+\) (\S+) 52:54:00:1e:00:02/.exec(dnsmasq.text)?.[1]
      expect(leased, dnsmasq.text).toMatch(/\.1[0-5]\d$/)
      expect(fetch).toMatchObject({ method: 'GET', url: '/boot.ipxe', from: leased })
      const m = proxy.lines.findLast(l => l.metrics !== undefined)
      expect(m?.metrics).toMatchObject({ offers: 0, acks: 0, naks: 0 })
      expect((m?.metrics?.proxyOffers ?? 0) + (m?.metrics?.proxyAcks ?? 0)).toBeGreaterThan(0)
      expect(m?.leases).toEqual([])
      expect(proxy.events('host:sighted')).toContainEqual(expect.objectContaining({ mac: pmac, arch: 'x86-bios', dc: 'qemu-proxy' }))
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, 60_000)
})
