/**
 * The scripts run by a real iPXE under QEMU with user-mode networking (no namespaces): Debian's
 * ipxe.lkrn on SeaBIOS (pcbios), and QEMU's iPXE NIC ROM on OVMF (efi). An error script returns
 * to the calling script, which asks again; the boot script then loads the kernel and initrd by
 * name, sets the rendered command line, and boots the fixture initramfs (scripts/boot-fixtures.sh),
 * which prints the command line it got.
 */
import { createReadStream, existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { bootAnswer, errorScript, parseProfile, validateGroups } from '../../../roles/scripts/index.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { bootMachine } from '../../helpers/qemu.js'

const ROOT = new URL('../../../', import.meta.url).pathname
const CACHE = process.env.CTPF_BOOT_CACHE ?? join(ROOT, '.cache/boot')
const LKRN = '/usr/lib/ipxe/ipxe.lkrn'
const MAC = '52:54:00:5c:00:01'

describePrivileged('boot and error scripts on a real iPXE', ['qemu-system-x86_64'], () => {
  let server: Server
  let dir: string
  const requests: URLSearchParams[] = []
  const served = new Map([['vmlinuz', join(CACHE, 'vmlinuz')], ['initrd.img', join(CACHE, 'initrd.img')]])
  const profile = parseProfile({
    name: 'fixture',
    kernel: 'vmlinuz',
    initrd: ['initrd.img'],
    cmdline: 'console=ttyS0 ctpf.mac={{ host.mac }} ctpf.arch={{ host.arch }} ctpf.rack={{ host.tags.rack | default("none") }} quiet'
  })
  const groups = validateGroups([{ name: 'all-x86', profile: 'fixture', selector: { arch: 'x86_64' } }])

  beforeAll(async () => {
    if (!existsSync(join(CACHE, 'vmlinuz')) || !existsSync(join(CACHE, 'initrd.img')) || !existsSync(LKRN)) {
      throw new Error(`boot fixtures missing in ${CACHE} or ${LKRN}: run scripts/boot-fixtures.sh and scripts/install-test-deps.sh`)
    }
    dir = await mkdtemp(join(tmpdir(), 'ctpf-scripts-qemu-'))
    server = createServer((req, res) => {
      const url = new URL(req.url ?? '/', 'http://x')
      if (url.pathname === '/boot.ipxe') {
        requests.push(url.searchParams)
        const script = requests.length === 1
          ? errorScript('first answer fails on purpose', 1)
          : bootAnswer({
            groups, profile: n => n === profile.name ? profile : undefined,
            host: { mac: url.searchParams.get('mac') ?? undefined },
            arch: url.searchParams.get('arch') ?? '', platform: url.searchParams.get('platform') ?? '',
            artifactUrl: ref => `http://10.0.2.2:${port()}/files/${ref}`
          }).script
        res.writeHead(200, { 'content-type': 'text/plain' }).end(script)
        return
      }
      const file = served.get(url.pathname.replace(/^\/files\//, ''))
      if (file != null) {
        createReadStream(file).pipe(res)
        return
      }
      res.writeHead(404).end()
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
  })

  afterAll(async () => {
    await new Promise<void>(resolve => server?.close(() => { resolve() }) ?? resolve())
    if (dir != null) await rm(dir, { recursive: true, force: true })
  })

  const port = (): number => (server.address() as { port: number }).port

  it('BIOS (ipxe.lkrn): retries after the error script, then boots the kernel with the rendered command line', async () => {
    const embedded = join(dir, 'embedded.ipxe')
    await writeFile(embedded, [
      '#!ipxe',
      'ifconf -c dhcp || dhcp',
      ':again',
      `chain http://10.0.2.2:${port()}/boot.ipxe?mac=\${mac:hexhyp}&arch=\${buildarch}&platform=\${platform} || goto again`,
      ''
    ].join('\n'))
    const vm = await bootMachine({
      boot: { kernel: LKRN, initrd: embedded, append: '' },
      serialLog: join(dir, 'serial.log'),
      extraArgs: ['-netdev', 'user,id=n0', '-device', `e1000,netdev=n0,mac=${MAC},romfile=`],
      timeoutMs: 150_000
    })
    try {
      await vm.waitFor(/cannot boot this machine: first answer fails on purpose/, 60_000)
      await vm.waitFor(/boots profile fixture/, 60_000)
      const ok = await vm.waitFor(/CTPF-BOOT-OK[\s\S]*?ctpf\.mac=(\S+) ctpf\.arch=(\S+) ctpf\.rack=(\S+)/, 90_000)
      expect([ok[1], ok[2], ok[3]]).toEqual([MAC, 'x86_64', 'none'])
      expect(requests.length).toBe(2)
      expect(Object.fromEntries(requests[1])).toEqual({ mac: MAC.replaceAll(':', '-'), arch: 'i386', platform: 'pcbios' })
    } finally {
      if (process.env.CTPF_SCRIPTS_SERIAL != null) await writeFile(process.env.CTPF_SCRIPTS_SERIAL, vm.log)
      await vm.kill()
    }
  }, 200_000)

  it('UEFI (QEMU\'s iPXE NIC ROM under OVMF): the EFI stub finds the initrd named on the command line', async () => {
    requests.length = 0
    const embedded = join(dir, 'efi.ipxe')
    await writeFile(embedded, [
      '#!ipxe',
      ':again',
      `chain http://10.0.2.2:${port()}/boot.ipxe?mac=\${mac:hexhyp}&arch=\${buildarch}&platform=\${platform} || goto again`,
      ''
    ].join('\n'))
    served.set('efi.ipxe', embedded)
    // an empty disk first in the boot order, so OVMF falls through to the NIC
    const disk = join(dir, 'empty.img')
    await writeFile(disk, Buffer.alloc(1024 * 1024))
    const vm = await bootMachine({
      firmware: 'uefi',
      boot: { disk },
      serialLog: join(dir, 'serial-efi.log'),
      extraArgs: ['-netdev', `user,id=n0,bootfile=http://10.0.2.2:${port()}/files/efi.ipxe`, '-device', `e1000,netdev=n0,mac=${MAC},bootindex=2`],
      timeoutMs: 180_000
    })
    try {
      await vm.waitFor(/cannot boot this machine: first answer fails on purpose/, 90_000)
      await vm.waitFor(/boots profile fixture/, 60_000)
      const ok = await vm.waitFor(/CTPF-BOOT-OK[\s\S]*?CTPF-CMDLINE: (.*)/, 90_000)
      // iPXE's EFI loader puts the image name first in the load options, as EFI shells do
      expect(ok[1]).toBe('kernel initrd=initrd.img console=ttyS0 ctpf.mac=52:54:00:5c:00:01 ctpf.arch=x86_64 ctpf.rack=none quiet')
      expect(Object.fromEntries(requests[1])).toEqual({ mac: MAC.replaceAll(':', '-'), arch: 'x86_64', platform: 'efi' })
    } finally {
      if (process.env.CTPF_SCRIPTS_SERIAL != null) await writeFile(`${process.env.CTPF_SCRIPTS_SERIAL}.efi`, vm.log)
      await vm.kill()
    }
  }, 240_000)
})
