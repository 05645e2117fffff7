/**
 * Proves the network-boot harness (test/helpers/qemu.ts, netns.ts) with real machines against
 * a stand-in boot server: Debian's dnsmasq (DHCP + TFTP) and a small Node HTTP server serving
 * the iPXE script and the fixtures built by scripts/boot-fixtures.sh. Each machine ends in
 * iPXE, fetches the script over HTTP, boots the kernel and busybox initramfs, prints
 * `CTPF-BOOT-OK` and powers off.
 *
 * radvd on the segment answers iPXE's IPv6 router solicitation: without it, the 2019 iPXE in
 * Debian sits ~14 s per iPXE network setup (autoboot's `ifconf`, before any script runs, so a
 * script's `ifconf -c dhcp` cannot avoid it) waiting for one. OVMF's own PXE does not wait.
 * CTPF_PXE_RADVD=0 runs the file without radvd; CTPF_PXE_TIMELINE=1 prints each serial line
 * with its time. Serial logs stay in .cache/e2e-logs/.
 *
 * Measured 2026-11-22 (TCG, 2 vCPU, ms after QEMU start to CTPF-BOOT-OK; first figure on a
 * quiet machine, second with load average ~26 from other benchmarks):
 *   direct kernel (no firmware)           5.0 / 13.3 s   (+ udhcpc on e1000: 3.7–4.2 s)
 *   BIOS, NIC ROM iPXE → script          10.4–14.1 / 15.4 s   (iPXE DHCP done at 5.4 s)
 *   BIOS, NIC ROM → undionly.kpxe        21.6–26.4 / 28.3 s   (the UNDI path fetches 8 MiB slowly)
 *   BIOS, ipxe.iso as CD-ROM / disk      11.2–14.4 / 14.9 s, 13.1–15.7 / 13.1 s
 *   UEFI, ipxe.efi on a FAT disk         23.7 s (loaded)
 *   UEFI, OVMF PXE → ipxe.efi over TFTP  25.5–30.9 / 34.9 s   (OVMF loading ipxe.efi ~5 s, Ctrl-B 2 s)
 *   without radvd: +14 s per iPXE stage (BIOS ROM 27.3 s, undionly 50.3 s, OVMF → ipxe.efi 44.9 s)
 * Whole file: ~100 s quiet, ~150 s loaded.
 */
import { existsSync } from 'node:fs'
import { mkdir, symlink, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { Segment, sh, type NsProcess } from '../helpers/netns.js'
import { describePrivileged } from '../helpers/privileged.js'
import { bootMachine, type BootOptions, type Machine } from '../helpers/qemu.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const CACHE = process.env.CTPF_BOOT_CACHE ?? join(ROOT, '.cache/boot')
const LOGS = join(ROOT, '.cache/e2e-logs')
const IPXE_DIR = '/usr/lib/ipxe'
const HTTP_PORT = 8080
const RADVD = process.env.CTPF_PXE_RADVD !== '0'

/**
 * The stand-in's HTTP side, one JSON line per request on stdout.
 *   /boot.ipxe?tag=T[&url=1]  kernel + initrd (+ ctpf.url= pointing at /phone-home.sh)
 *   /chain.ipxe               unless already running as undionly: chain undionly.kpxe over TFTP
 *   /phone-home.sh            run by the initramfs: reports back to /phone-home
 *   /vmlinuz, /initrd.img     the fixtures
 */
const HTTP_SERVER = `
const http = require('node:http')
const fs = require('node:fs')
const path = require('node:path')
const [addr, port, dir] = process.argv.slice(1)
const base = 'http://' + addr + ':' + port
const files = { '/vmlinuz': 'vmlinuz', '/initrd.img': 'initrd.img' }
const scripts = {
  '/boot.ipxe': q => ['#!ipxe', 'echo ctpf: script for ' + q.get('tag') + ' (chip \${net0/chip})',
    'kernel ' + base + '/vmlinuz initrd=initrd.img console=ttyS0 quiet panic=-1 ctpf.tag=' + q.get('tag') +
      (q.get('url') === '1' ? ' ctpf.url=' + base + '/phone-home.sh' : ''),
    'initrd ' + base + '/initrd.img', 'boot'],
  '/chain.ipxe': q => ['#!ipxe', 'iseq \${net0/chip} undionly && goto undi ||',
    'echo ctpf: \${net0/chip} chainloads undionly.kpxe', 'chain tftp://\${next-server}/undionly.kpxe', ':undi',
    'chain ' + base + '/boot.ipxe?tag=undionly'],
  '/phone-home.sh': q => ['#!/bin/sh', 'echo "phone-home: $(cat /sys/class/net/eth0/address)"',
    'wget -q -O - "' + base + '/phone-home?mac=$(cat /sys/class/net/eth0/address)&tag=$(sed -n "s/.*ctpf.tag=\\\\([^ ]*\\\\).*/\\\\1/p" /proc/cmdline)"', 'exit 7']
}
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  process.stdout.write(JSON.stringify({ method: req.method, path: url.pathname, query: url.search, from: req.socket.remoteAddress, ua: req.headers['user-agent'] }) + '\\n')
  const script = scripts[url.pathname]
  if (script !== undefined) { res.setHeader('content-type', 'text/plain'); res.end(script(url.searchParams).join('\\n') + '\\n'); return }
  if (url.pathname === '/phone-home') { res.end('welcome ' + url.searchParams.get('mac') + '\\n'); return }
  const f = files[url.pathname]
  if (f === undefined) { res.statusCode = 404; res.end(); return }
  const p = path.join(dir, f)
  res.setHeader('content-length', fs.statSync(p).size)
  fs.createReadStream(p).pipe(res)
}).listen(Number(port), addr, () => process.stdout.write(JSON.stringify({ listening: true }) + '\\n'))
`

interface StandIn { dnsmasq: NsProcess, http: NsProcess }

/**
 * dnsmasq as DHCP + TFTP only (`port=0`: no DNS). A PXE client that is not iPXE gets a first
 * stage over TFTP by architecture (option 93): undionly.kpxe for BIOS, ipxe.efi for x64 UEFI.
 * iPXE (user-class `iPXE`) gets the HTTP script URL instead, which breaks the chainload loop.
 * QEMU's BIOS NIC ROMs are iPXE themselves, so a machine in `macs.chain` is sent /chain.ipxe,
 * which makes the ROM chainload undionly.kpxe over TFTP as a plain PXE ROM would. A machine in
 * `macs.phoneHome` gets a script whose kernel command line has `ctpf.url=…/phone-home.sh`.
 */
async function startStandIn (seg: Segment, macs: { chain: string[], phoneHome: string[] }): Promise<StandIn> {
  const dir = await seg.tempDir('ctpf-pxe-')
  const tftpRoot = join(dir, 'tftp')
  await mkdir(tftpRoot)
  for (const f of ['undionly.kpxe', 'ipxe.efi']) await symlink(join(IPXE_DIR, f), join(tftpRoot, f))
  const http = `http://${seg.serverAddress}:${HTTP_PORT}`
  const conf = join(dir, 'dnsmasq.conf')
  await writeFile(conf, [
    'port=0', `interface=${seg.serverIf}`, 'bind-interfaces', 'no-resolv', 'no-hosts', 'log-dhcp', 'no-ping',
    `dhcp-range=${seg.net}.100,${seg.net}.150,255.255.255.0,10m`,
    `dhcp-leasefile=${join(dir, 'leases')}`, `pid-file=${join(dir, 'pid')}`, 'user=root', 'group=root',
    'enable-tftp', `tftp-root=${tftpRoot}`,
    'dhcp-userclass=set:ipxe,iPXE',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    ...macs.chain.map(m => `dhcp-host=${m},set:chain`),
    ...macs.phoneHome.map(m => `dhcp-host=${m},set:phone`),
    `dhcp-boot=tag:ipxe,tag:chain,${http}/chain.ipxe`,
    `dhcp-boot=tag:ipxe,tag:phone,${http}/boot.ipxe?tag=phone&url=1`,
    `dhcp-boot=tag:ipxe,tag:!chain,tag:!phone,${http}/boot.ipxe?tag=ipxe`,
    'dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi',
    'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
    ''
  ].join('\n'))
  const dnsmasq = seg.spawnServer(['dnsmasq', '--no-daemon', `--conf-file=${conf}`])
  await dnsmasq.waitForOutput(/DHCP, IP range/, 10_000)
  const web = seg.spawnServer([process.execPath, '-e', HTTP_SERVER, seg.serverAddress, String(HTTP_PORT), CACHE])
  await web.waitForOutput(/"listening":true/, 10_000)
  return { dnsmasq, http: web }
}

interface Request { method: string, path: string, query: string, from: string, ua?: string }
function requestsFrom (http: NsProcess, ip: string | undefined): Request[] {
  return http.text.split('\n').filter(l => l.startsWith('{"method"')).map(l => JSON.parse(l) as Request).filter(r => r.from === ip)
}

/** A FAT image (no partition table; OVMF reads it whole) with ipxe.efi as the removable-media loader. */
async function efiImage (dir: string): Promise<string> {
  const img = join(dir, 'efi.img')
  await sh('mformat', ['-i', img, '-C', '-T', '4096', '-h', '64', '-s', '32', '::'])
  await sh('mmd', ['-i', img, '::/EFI', '::/EFI/BOOT'])
  await sh('mcopy', ['-i', img, join(IPXE_DIR, 'ipxe.efi'), '::/EFI/BOOT/BOOTX64.EFI'])
  return img
}

describePrivileged('PXE harness: real QEMU machines network-boot from dnsmasq + HTTP', ['ip', 'qemu-system-x86_64', 'dnsmasq', 'radvd', 'mformat', 'mcopy', 'mmd'], () => {
  let seg: Segment | undefined
  let standIn: StandIn
  const machines: Machine[] = []
  const timings: Record<string, Record<string, number>> = {}
  const chainMac = '52:54:00:c7:02:01'
  const phoneMac = '52:54:00:c7:03:01'

  beforeAll(async () => {
    for (const f of ['vmlinuz', 'initrd.img']) {
      if (!existsSync(join(CACHE, f))) throw new Error(`boot fixture ${join(CACHE, f)} missing: run bash scripts/boot-fixtures.sh`)
    }
    await mkdir(LOGS, { recursive: true })
    seg = await Segment.create()
    if (RADVD) await seg.startRadvd()
    standIn = await startStandIn(seg, { chain: [chainMac], phoneHome: [phoneMac] })
  })

  afterEach(async () => {
    for (const m of machines.splice(0)) {
      await m.kill()
      if (process.env.CTPF_PXE_TIMELINE === '1') console.log(m.lines.map(l => `${String(l.atMs).padStart(6)} ${l.text.replace(/\x1b\[[0-9;=?]*[a-zA-Z]|\x1b.|\x08/g, '')}`).filter(l => !/^\s*\d+\s*$/.test(l)).join('\n'))
    }
  })

  afterAll(async () => {
    await seg?.destroy()
    console.log(`PXE boot timings, ms after QEMU start (radvd=${String(RADVD)}):\n${Object.entries(timings).map(([k, v]) => `  ${k}: ${JSON.stringify(v)}`).join('\n')}`)
  })

  async function boot (name: string, opts: Omit<BootOptions, 'segment' | 'serialLog'>): Promise<Machine> {
    if (seg === undefined) throw new Error('no segment')
    const m = await bootMachine({ segment: seg, serialLog: join(LOGS, `pxe-${name}.log`), timeoutMs: 120_000, ...opts })
    machines.push(m)
    return m
  }

  /** Waits for each named regex in turn, recording when it appeared. */
  async function phases (vm: Machine, name: string, steps: Array<[string, RegExp]>, ms = 75_000): Promise<Record<string, number>> {
    const t: Record<string, number> = {}
    timings[name] = t
    const deadline = Date.now() + ms
    for (const [label, re] of steps) t[label] = (await vm.waitFor(re, Math.max(1, deadline - Date.now()))).atMs
    return t
  }

  function leaseOf (mac: string): string | undefined {
    return new RegExp(`DHCPACK\\(\\S+\\) (\\S+) ${mac}`).exec(standIn.dnsmasq.text)?.[1]
  }

  it('the fixtures alone (direct kernel boot): the initramfs brings e1000 up with udhcpc, powers off, and waitFor then fails fast', async () => {
    const mac = '52:54:00:c7:00:01'
    const vm = await boot('direct-kernel', { mac, nic: 'e1000', romfile: '', boot: { kernel: join(CACHE, 'vmlinuz'), initrd: join(CACHE, 'initrd.img'), append: 'console=ttyS0 quiet ctpf.net=dhcp ctpf.tag=direct' } })
    const t = await phases(vm, 'direct-kernel', [['marker', /^CTPF-BOOT-OK$/m], ['netUp', /^CTPF-NET-UP ip=(\S+) /m]])
    expect((await vm.waitFor(/^CTPF-CMDLINE: (.*)$/m, 1000))[1]).toBe('console=ttyS0 quiet ctpf.net=dhcp ctpf.tag=direct')
    expect(vm.log).toContain(`CTPF-NET-UP ip=${String(leaseOf(mac))} router=${seg?.serverAddress ?? ''} serverid=${seg?.serverAddress ?? ''} mac=${mac}`)
    await vm.waitForExit(20_000)
    t.poweroff = vm.elapsed()
    const before = Date.now()
    await expect(vm.waitFor(/never printed/, 30_000)).rejects.toThrow(/machine exited/)
    expect(Date.now() - before).toBeLessThan(1000)
  }, 60_000)

  it('BIOS: QEMU\'s iPXE NIC ROM takes the script URL from DHCP and boots kernel + initrd over HTTP', async () => {
    const mac = '52:54:00:c7:01:01'
    const vm = await boot('bios-rom', { mac, nic: 'e1000', firmware: 'bios', boot: 'pxe' })
    const t = await phases(vm, 'bios-rom', [['dhcp', /Configuring \(net0 .*ok$/m], ['script', /ctpf: script for ipxe \(chip 82540em\)/], ['marker', /^CTPF-BOOT-OK$/m]])
    expect((await vm.waitFor(/^CTPF-CMDLINE: (.*)$/m, 10_000))[1]).toMatch(/ctpf\.tag=ipxe( |$)/)
    await vm.waitForExit(20_000)
    t.poweroff = vm.elapsed()
    const reqs = requestsFrom(standIn.http, leaseOf(mac))
    expect(reqs.map(r => r.path)).toEqual(['/boot.ipxe', '/vmlinuz', '/initrd.img'])
    expect(reqs[0]?.ua).toMatch(/^iPXE\//)
  }, 90_000)

  it('BIOS: the NIC ROM chainloads Debian\'s undionly.kpxe over TFTP, which boots the script', async () => {
    const vm = await boot('bios-undionly', { mac: chainMac, nic: 'e1000', firmware: 'bios', boot: 'pxe' })
    const t = await phases(vm, 'bios-undionly', [
      ['dhcp', /Configuring \(net0 .*ok$/m],
      ['undionly', /^tftp:\/\/\S+\/undionly\.kpxe\.\.\. ok$/m],
      ['undiDhcp', /using undionly on[\s\S]*Configuring \(net0 .*ok$/m],
      ['script', /ctpf: script for undionly \(chip undionly\)/],
      ['marker', /^CTPF-BOOT-OK$/m]
    ])
    expect((await vm.waitFor(/^CTPF-CMDLINE: (.*)$/m, 10_000))[1]).toMatch(/ctpf\.tag=undionly( |$)/)
    await vm.waitForExit(20_000)
    t.poweroff = vm.elapsed()
    expect(standIn.dnsmasq.text).toMatch(/dnsmasq-tftp: sent \S+\/undionly\.kpxe to /)
    expect(requestsFrom(standIn.http, leaseOf(chainMac)).map(r => r.path)).toEqual(['/chain.ipxe', '/chain.ipxe', '/boot.ipxe', '/vmlinuz', '/initrd.img'])
  }, 90_000)

  it('BIOS, no NIC ROM: iPXE from Debian\'s ipxe.iso on a CD-ROM drives the NIC itself and boots the script', async () => {
    const mac = '52:54:00:c7:04:01'
    const vm = await boot('bios-cdrom', { mac, nic: 'e1000', romfile: '', firmware: 'bios', boot: { cdrom: join(IPXE_DIR, 'ipxe.iso') } })
    const t = await phases(vm, 'bios-cdrom', [['dhcp', /Configuring \(net0 .*ok$/m], ['script', /ctpf: script for ipxe \(chip 82540em\)/], ['marker', /^CTPF-BOOT-OK$/m]])
    await vm.waitForExit(20_000)
    t.poweroff = vm.elapsed()
    expect(vm.log).not.toMatch(/iPXE \(PCI 00:03\.0\) starting execution/) // no ROM ran
  }, 90_000)

  it('BIOS, no NIC ROM: the same hybrid image as a hard disk (written to a snapshot, never to the file) boots too', async () => {
    const mac = '52:54:00:c7:05:01'
    const vm = await boot('bios-disk', { mac, nic: 'e1000', romfile: '', firmware: 'bios', boot: { disk: join(IPXE_DIR, 'ipxe.iso') } })
    const t = await phases(vm, 'bios-disk', [['disk', /Booting from Hard Disk/], ['dhcp', /Configuring \(net0 .*ok$/m], ['script', /ctpf: script for ipxe \(chip 82540em\)/], ['marker', /^CTPF-BOOT-OK$/m]])
    await vm.waitForExit(20_000)
    t.poweroff = vm.elapsed()
  }, 90_000)

  it('UEFI, no NIC ROM: ipxe.efi from a FAT disk image (EFI/BOOT/BOOTX64.EFI) boots the script', async () => {
    const mac = '52:54:00:c7:06:01'
    const img = await efiImage(await (seg as Segment).tempDir('ctpf-efi-'))
    const vm = await boot('uefi-disk', { mac, nic: 'virtio-net-pci', romfile: '', firmware: 'uefi', boot: { disk: img } })
    const t = await phases(vm, 'uefi-disk', [['ipxe', /^iPXE initialising devices/m], ['dhcp', /Configuring \(net0 .*ok$/m], ['script', /ctpf: script for ipxe/], ['marker', /^CTPF-BOOT-OK$/m]])
    await vm.waitForExit(20_000)
    t.poweroff = vm.elapsed()
    expect(vm.log).not.toMatch(/Start PXE over IPv4/)
  }, 90_000)

  it('UEFI: OVMF\'s own PXE fetches ipxe.efi over TFTP, which boots the script; the initramfs phones home', async () => {
    const mac = phoneMac
    // no NIC ROM: OVMF's VirtioNetDxe + PxeBcDxe are a PXE client that is not iPXE
    const vm = await boot('uefi-ipxe-efi', { mac, nic: 'virtio-net-pci', romfile: '', firmware: 'uefi', boot: 'pxe' })
    const t = await phases(vm, 'uefi-ipxe-efi', [
      ['pxe', /Start PXE over IPv4/],
      ['nbp', /NBP file downloaded successfully/],
      ['dhcp', /Configuring \(net0 .*ok$/m],
      ['script', /ctpf: script for phone/],
      ['marker', /^CTPF-BOOT-OK$/m],
      ['netUp', /^CTPF-NET-UP ip=\S+/m],
      ['phoneHome', /^CTPF-SCRIPT-EXIT rc=7$/m]
    ])
    await vm.waitForExit(20_000)
    t.poweroff = vm.elapsed()
    // the first DHCP exchange is OVMF's (x64 UEFI, no iPXE user class), answered with ipxe.efi
    const ovmf = new RegExp(`dnsmasq-dhcp: (\\d+) vendor class: PXEClient:Arch:00007:UNDI:003000\\n(?:dnsmasq-dhcp: \\1 .*\\n)*?dnsmasq-dhcp: \\1 DHCPDISCOVER\\(\\S+\\) ${mac}`).exec(standIn.dnsmasq.text)
    expect(ovmf, standIn.dnsmasq.text).not.toBeNull()
    expect(standIn.dnsmasq.text).not.toMatch(new RegExp(`dnsmasq-dhcp: ${ovmf?.[1] ?? 'none'} user class: iPXE`))
    expect(standIn.dnsmasq.text).toMatch(/dnsmasq-tftp: sent \S+\/ipxe\.efi to /)
    const ip = leaseOf(mac)
    expect(vm.log).toContain(`CTPF-NET-UP ip=${String(ip)} `)
    expect(requestsFrom(standIn.http, ip).map(r => r.path)).toEqual(['/boot.ipxe', '/vmlinuz', '/initrd.img', '/phone-home.sh', '/phone-home'])
    expect(requestsFrom(standIn.http, ip).at(-1)?.query).toBe(`?mac=${mac}&tag=phone`)
  }, 100_000)
})
