/**
 * The packager's media boot real QEMU machines (TCG, NIC option ROM disabled, so only the
 * medium's iPXE drives the NIC) and reach the script endpoint over HTTP.
 *
 * The segment's stand-in servers: dnsmasq for DHCP (and, for iPXE's user class, the filename
 * `…/dhcp-autoboot.ipxe` — what our distributor answers iPXE with) and a small Node HTTP
 * server. The embedded script is `chainloadScript([dead endpoint, live endpoint])`, so a
 * machine reaching `/boot.ipxe` also shows the endpoints are tried in order. Each served
 * script prints `CTPF-MEDIA-OK via=embedded|dhcp` on the console (SeaBIOS and OVMF both mirror
 * iPXE's console to the serial port).
 *
 * BIOS runs the embedded script. UEFI cannot with Debian's 2019 ipxe.efi (see
 * roles/packager/efi.ts): it reaches the endpoint through DHCP autoboot, asserted as such —
 * although the medium carries the script as autoexec.ipxe (root and EFI/BOOT/), which a newer
 * ipxe.efi would run; so these boots also show that this build ignores autoexec.ipxe.
 * Serial logs stay in .cache/e2e-logs/packager-*.log.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { chainloadScript } from '../../../protocols/boot/ipxe-script.js'
import { packageImg, packageIso, type PackageResult } from '../../../roles/packager/index.js'
import { Segment, type NsProcess } from '../../helpers/netns.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { bootMachine, type BootOptions, type Machine } from '../../helpers/qemu.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..')
const LOGS = join(ROOT, '.cache/e2e-logs')
const IPXE = '/usr/lib/ipxe'
const PORT = 8080

const HTTP_SERVER = `
const http = require('node:http')
const [addr, port] = process.argv.slice(1)
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  process.stdout.write(JSON.stringify({ path: url.pathname, query: url.search, from: req.socket.remoteAddress }) + '\\n')
  const via = url.pathname === '/boot.ipxe' ? 'embedded' : url.pathname === '/dhcp-autoboot.ipxe' ? 'dhcp' : undefined
  if (via === undefined) { res.statusCode = 404; res.end(); return }
  res.setHeader('content-type', 'text/plain')
  res.end(['#!ipxe', 'echo CTPF-MEDIA' + '-OK via=' + via + ' platform=\${platform}', 'sleep 600', ''].join('\\n'))
}).listen(Number(port), addr, () => process.stdout.write('{"listening":true}\\n'))
`

describePrivileged('packager media boot QEMU machines (BIOS + UEFI, no NIC ROM)', ['ip', 'qemu-system-x86_64', 'dnsmasq', 'radvd', 'xorriso', 'mformat', 'syslinux'], () => {
  let seg: Segment
  let web: NsProcess
  let dnsmasq: NsProcess
  let iso: PackageResult
  let img: PackageResult
  const machines: Machine[] = []
  const timings: Record<string, number> = {}

  beforeAll(async () => {
    await mkdir(LOGS, { recursive: true })
    seg = await Segment.create()
    // radvd: Debian's iPXE otherwise waits ~14 s for a Router Advertisement in DHCP autoboot
    await seg.startRadvd()
    const dir = await seg.tempDir('ctpf-pkg-boot-')
    const srv = `http://${seg.serverAddress}:${PORT}`
    await writeFile(join(dir, 'dnsmasq.conf'), [
      'port=0', `interface=${seg.serverIf}`, 'bind-interfaces', 'no-resolv', 'no-hosts', 'log-dhcp', 'no-ping',
      `dhcp-range=${seg.net}.100,${seg.net}.150,255.255.255.0,10m`, `dhcp-leasefile=${join(dir, 'leases')}`,
      `pid-file=${join(dir, 'pid')}`, 'user=root', 'group=root',
      'dhcp-userclass=set:ipxe,iPXE', `dhcp-boot=tag:ipxe,${srv}/dhcp-autoboot.ipxe`, ''
    ].join('\n'))
    dnsmasq = seg.spawnServer(['dnsmasq', '--no-daemon', `--conf-file=${join(dir, 'dnsmasq.conf')}`])
    await dnsmasq.waitForOutput(/DHCP, IP range/, 10_000)
    web = seg.spawnServer([process.execPath, '-e', HTTP_SERVER, seg.serverAddress, String(PORT)])
    await web.waitForOutput(/"listening":true/, 10_000)
    // the first endpoint refuses connections: the script must go on to the second
    const script = chainloadScript([`http://${seg.serverAddress}:${PORT + 1}/boot.ipxe`, `${srv}/boot.ipxe`], { retryDelaySeconds: 2 })
    const files = { lkrn: join(IPXE, 'ipxe.lkrn'), efiX64: join(IPXE, 'ipxe.efi') }
    iso = await packageIso({ files, script, out: join(dir, 'ctpf.iso') })
    img = await packageImg({ files, script, out: join(dir, 'ctpf.img') })
  }, 60_000)

  afterEach(async () => { for (const m of machines.splice(0)) await m.kill() })
  afterAll(async () => {
    await seg?.destroy()
    console.log(`packager media boots, ms from QEMU start to the endpoint's marker: ${JSON.stringify(timings)}; ` +
      `packaging ms: iso ${String(iso?.durationMs)}, img ${String(img?.durationMs)}`)
  })

  async function boot (name: string, opts: Omit<BootOptions, 'segment' | 'serialLog'>): Promise<Machine> {
    const m = await bootMachine({ segment: seg, serialLog: join(LOGS, `packager-${name}.log`), timeoutMs: 120_000, romfile: '', ...opts })
    machines.push(m)
    return m
  }

  function requestsFrom (mac: string): Array<{ path: string, query: string }> {
    const ip = new RegExp(`DHCPACK\\(\\S+\\) (\\S+) ${mac}`).exec(dnsmasq.text)?.[1]
    return web.text.split('\n').filter(l => l.startsWith('{"path"')).map(l => JSON.parse(l)).filter(r => r.from === ip)
  }

  /** BIOS: the embedded script runs, skips the dead endpoint and chains the live one. */
  async function expectEmbedded (name: string, vm: Machine, mac: string): Promise<void> {
    timings[name] = (await vm.waitFor(/^CTPF-MEDIA-OK via=(\S+) platform=(\S+)/m, 100_000)).atMs
    expect(vm.log).toMatch(/^CTPF-MEDIA-OK via=embedded platform=pcbios/m)
    expect(vm.log).toMatch(/ctpf: trying endpoint 1 of 2[\s\S]*ctpf: trying endpoint 2 of 2/)
    const reqs = requestsFrom(mac)
    expect(reqs.map(r => r.path)).toEqual(['/boot.ipxe'])
    const q = new URLSearchParams(reqs[0]?.query)
    expect(q.get('mac')).toBe(mac)
    expect(q.get('platform')).toBe('pcbios')
  }

  /** UEFI: Debian's 2019 ipxe.efi ignores the medium's script and autoboots from DHCP. */
  async function expectDhcpAutoboot (name: string, vm: Machine, mac: string): Promise<void> {
    timings[name] = (await vm.waitFor(/^CTPF-MEDIA-OK via=(\S+) platform=(\S+)/m, 100_000)).atMs
    expect(vm.log).toMatch(/^CTPF-MEDIA-OK via=dhcp platform=efi/m)
    expect(requestsFrom(mac).map(r => r.path)).toEqual(['/dhcp-autoboot.ipxe'])
  }

  it('the .iso as a CD-ROM on BIOS runs the embedded script and reaches the endpoint', async () => {
    const mac = '52:54:00:c9:01:01'
    await expectEmbedded('iso-bios-cdrom', await boot('iso-bios-cdrom', { mac, nic: 'e1000', firmware: 'bios', boot: { cdrom: iso.path } }), mac)
  }, 130_000)

  it('the same .iso as a USB stick / hard disk (isohybrid MBR) on BIOS runs the embedded script', async () => {
    const mac = '52:54:00:c9:01:02'
    await expectEmbedded('iso-bios-disk', await boot('iso-bios-disk', { mac, nic: 'e1000', firmware: 'bios', boot: { disk: iso.path } }), mac)
  }, 130_000)

  it('the .iso as a CD-ROM on UEFI starts ipxe.efi from the El Torito EFI image, which reaches the endpoint by DHCP autoboot', async () => {
    const mac = '52:54:00:c9:01:03'
    const vm = await boot('iso-uefi-cdrom', { mac, nic: 'virtio-net-pci', firmware: 'uefi', boot: { cdrom: iso.path } })
    await expectDhcpAutoboot('iso-uefi-cdrom', vm, mac)
    expect(vm.log).not.toMatch(/Start PXE over IPv4/)
  }, 130_000)

  it('the .img as a disk on BIOS boots SYSLINUX → ipxe.lkrn, which runs the embedded script', async () => {
    const mac = '52:54:00:c9:01:04'
    await expectEmbedded('img-bios-disk', await boot('img-bios-disk', { mac, nic: 'e1000', firmware: 'bios', boot: { disk: img.path } }), mac)
  }, 130_000)

  it('the .img as a disk on UEFI starts EFI/BOOT/BOOTX64.EFI, which reaches the endpoint by DHCP autoboot', async () => {
    const mac = '52:54:00:c9:01:05'
    const vm = await boot('img-uefi-disk', { mac, nic: 'virtio-net-pci', firmware: 'uefi', boot: { disk: img.path } })
    await expectDhcpAutoboot('img-uefi-disk', vm, mac)
    expect(vm.log).not.toMatch(/Start PXE over IPv4/)
  }, 130_000)
})
