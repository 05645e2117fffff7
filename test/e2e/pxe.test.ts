/**
 * `npm run e2e:pxe`: real QEMU machines network-boot from a ctpf agent running the
 * distributor role in a network namespace — our DHCP, TFTP, HTTP boot and radvd — and reach
 * the busybox initramfs built by scripts/boot-fixtures.sh (marker `CTPF-BOOT-OK` on the
 * serial console). One run in proxyDHCP mode beside dnsmasq as the site's DHCP server.
 * Every boot is recorded as a sighting in the agent's replicated state.
 */
import { mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { Segment, sh } from '../helpers/netns.js'
import { BOOT_CACHE, agentApi, bootFiles, distributorConfig, startDistributorAgent } from '../helpers/distributor-agent.js'
import { describePrivileged } from '../helpers/privileged.js'
import { bootMachine } from '../helpers/qemu.js'
import type { BootOptions, Machine } from '../helpers/qemu.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const LOGS = join(ROOT, '.cache/e2e-logs')
const CMDLINE = 'console=ttyS0 quiet panic=-1'

describePrivileged('e2e:pxe — QEMU machines network-boot from a ctpf distributor', ['ip', 'qemu-system-x86_64', 'dnsmasq', 'radvd', 'curl'], () => {
  let seg: Segment | undefined
  const machines: Machine[] = []
  const timings: Record<string, number> = {}

  beforeAll(async () => {
    for (const f of ['vmlinuz', 'initrd.img']) {
      if (!existsSync(join(BOOT_CACHE, f))) throw new Error(`boot fixture ${join(BOOT_CACHE, f)} missing: run bash scripts/boot-fixtures.sh`)
    }
    await mkdir(LOGS, { recursive: true })
  })

  afterEach(async () => {
    for (const m of machines.splice(0)) await m.kill()
    await seg?.destroy()
    seg = undefined
  })

  afterAll(() => {
    console.log(`e2e:pxe, ms from QEMU start to CTPF-BOOT-OK: ${JSON.stringify(timings)}`)
  })

  async function boot (name: string, opts: Omit<BootOptions, 'segment' | 'serialLog'>): Promise<Machine> {
    if (seg === undefined) throw new Error('no segment')
    const m = await bootMachine({ segment: seg, serialLog: join(LOGS, `ctpf-${name}.log`), timeoutMs: 150_000, ...opts })
    machines.push(m)
    return m
  }



  it('BIOS: the iPXE NIC ROM gets the script URL from our DHCP and boots kernel + initrd from our HTTP', async () => {
    seg = await Segment.create()
    const agent = await startDistributorAgent(seg, distributorConfig(seg, await bootFiles(seg), { profile: 'e2e', cmdline: CMDLINE }))
    const mac = '52:54:00:c8:01:01'
    const vm = await boot('bios-rom', { mac, nic: 'e1000', firmware: 'bios', boot: 'pxe' })
    timings['bios-rom'] = (await vm.waitFor(/^CTPF-BOOT-OK$/m, 120_000)).atMs
    expect(vm.log).toContain(`ctpf: ${mac} (i386/pcbios) boots profile e2e`)
    const sightings = await agentApi(seg, agent, '/state?prefix=sightings/lab/')
    expect(sightings.map((s: { key: string }) => s.key)).toContain(`sightings/lab/${mac.replace(/:/g, '-')}`)
  }, 200_000)

  it('BIOS chainloading undionly.kpxe over our TFTP, which then boots the script over HTTP', async () => {
    seg = await Segment.create()
    const cfg = distributorConfig(seg, await bootFiles(seg), { profile: 'e2e', cmdline: CMDLINE })
    cfg.http = { port: 8080, chainUndionly: true }
    const agent = await startDistributorAgent(seg, cfg)
    const mac = '52:54:00:c8:04:01'
    const vm = await boot('bios-undionly', { mac, nic: 'e1000', firmware: 'bios', boot: 'pxe' })
    timings['bios-undionly'] = (await vm.waitFor(/^CTPF-BOOT-OK$/m, 140_000)).atMs
    expect(vm.log).toContain('chainloads undionly.kpxe')
    expect(vm.log).toContain('boots profile e2e')
    const m = await agentApi(seg, agent, '/metrics')
    expect(m.tftpFilesServed).toBeGreaterThanOrEqual(1)
  }, 200_000)

  it('UEFI: OVMF\'s own PXE fetches ipxe.efi over our TFTP, which then boots the script over HTTP', async () => {
    seg = await Segment.create()
    const agent = await startDistributorAgent(seg, distributorConfig(seg, await bootFiles(seg), { profile: 'e2e', cmdline: CMDLINE }))
    const mac = '52:54:00:c8:02:01'
    const vm = await boot('uefi-ipxe-efi', { mac, nic: 'virtio-net-pci', romfile: '', firmware: 'uefi', boot: 'pxe' })
    timings['uefi-ipxe-efi'] = (await vm.waitFor(/^CTPF-BOOT-OK$/m, 140_000)).atMs
    expect(vm.log).toMatch(/boots profile e2e/)
    const m = await agentApi(seg, agent, '/metrics')
    expect(m.tftpFilesServed).toBeGreaterThanOrEqual(1)
    expect(m.dhcpAcks).toBeGreaterThanOrEqual(2) // the firmware's PXE, then iPXE
  }, 200_000)

  it('proxyDHCP beside dnsmasq: the address comes from dnsmasq, the boot from us', async () => {
    seg = await Segment.create()
    const s = seg
    const siteDir = await s.tempDir('ctpf-site-dhcp-')
    // the site's DHCP server is another host on the segment: an address on the bridge in the LAN namespace
    await sh('ip', ['-n', s.ns, 'addr', 'add', `${s.net}.3/24`, 'dev', s.bridge])
    const dnsmasq = s.spawnLan(['dnsmasq', '--no-daemon', '--port=0', `--interface=${s.bridge}`, '--bind-interfaces', '--no-resolv', '--no-hosts', '--log-dhcp',
      `--dhcp-range=${s.net}.50,${s.net}.60,255.255.255.0,10m`, `--dhcp-leasefile=${join(siteDir, 'leases')}`, `--pid-file=${join(siteDir, 'pid')}`, '--user=root', '--group=root'])
    await dnsmasq.waitForOutput(/DHCP, IP range/, 10_000)
    await startDistributorAgent(s, distributorConfig(s, await bootFiles(s), { profile: 'e2e', cmdline: CMDLINE, dhcp: { mode: 'proxy', subnets: [{ network: `${s.net}.0`, netmask: '255.255.255.0' }] } }))
    const mac = '52:54:00:c8:03:01'
    const vm = await boot('bios-proxy', { mac, nic: 'e1000', firmware: 'bios', boot: 'pxe' })
    timings['bios-proxy'] = (await vm.waitFor(/^CTPF-BOOT-OK$/m, 120_000)).atMs
    expect(dnsmasq.text).toMatch(new RegExp(`DHCPACK\\(\\S+\\) ${s.net.replace(/\./g, '\\.')}\\.(5\\d|60) ${mac}`))
    expect(vm.log).toContain('boots profile e2e')
  }, 200_000)
})
