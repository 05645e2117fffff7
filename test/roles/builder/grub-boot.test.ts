/**
 * The grub recipe's images boot: the El Torito image from an ISO on BIOS (SeaBIOS) and the EFI
 * application from a FAT disk on UEFI (OVMF), each running its embedded config, which prints a
 * marker on the serial console.
 */
import { execFileSync } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runBuild } from '../../../roles/builder/index.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { bootMachine } from '../../helpers/qemu.js'
import { fakeComponents, type FakeComponents } from './fakes.js'

function save (c: FakeComponents, outputs: Array<{ path: string, cid: string }>, path: string, to: string): string {
  const o = outputs.find(x => x.path === path)
  if (o === undefined) throw new Error(`no output ${path}`)
  writeFileSync(to, c.stored.get(o.cid) as Uint8Array)
  return to
}

describePrivileged('builder: grub images boot in QEMU', ['bwrap', 'grub-mkstandalone', 'qemu-system-x86_64', 'xorriso', 'mformat', 'mcopy'], () => {
  let root: string
  const c = fakeComponents()
  let outputs: Array<{ path: string, cid: string }> = []
  const marker = `CTPF-GRUB-${process.pid}`

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ctpf-bld-grubboot-'))
    mkdirSync(join(root, 'work'))
    const config = [
      'serial --unit=0 --speed=115200',
      'terminal_input serial console',
      'terminal_output serial console',
      `echo "${marker} on \${grub_platform}"`,
      'sleep 1',
      'halt',
      ''
    ].join('\n')
    const result = await runBuild({ recipe: 'grub', params: { config, platforms: ['i386-pc-eltorito', 'x86_64-efi'] } },
      c, { isolation: 'bwrap', workDir: join(root, 'work') })
    outputs = result.outputs
  })
  afterAll(() => { rmSync(root, { recursive: true, force: true }) })

  it('BIOS: the El Torito image boots from an ISO and runs the embedded config', async () => {
    const tree = join(root, 'iso')
    mkdirSync(join(tree, 'boot/grub'), { recursive: true })
    save(c, outputs, 'out/grub/i386-pc/eltorito.img', join(tree, 'boot/grub/eltorito.img'))
    const iso = join(root, 'grub.iso')
    execFileSync('xorriso', ['-as', 'mkisofs', '-quiet', '-R', '-b', 'boot/grub/eltorito.img', '-no-emul-boot', '-boot-load-size', '4', '-boot-info-table', '-o', iso, tree], { stdio: 'pipe' })
    const vm = await bootMachine({ boot: { cdrom: iso }, firmware: 'bios', serialLog: join(root, 'bios.log'), timeoutMs: 120_000 })
    try {
      const m = await vm.waitFor(new RegExp(`${marker} on (pc|efi)`), 90_000)
      expect(m[1]).toBe('pc')
    } finally {
      await vm.kill()
    }
  }, 150_000)

  it('UEFI: grubx64.efi boots from a FAT disk and runs the embedded config', async () => {
    const efi = save(c, outputs, 'out/grub/x86_64-efi/grubx64.efi', join(root, 'grubx64.efi'))
    const img = join(root, 'esp.img')
    execFileSync('dd', ['if=/dev/zero', `of=${img}`, 'bs=1M', 'count=16', 'status=none'])
    execFileSync('mformat', ['-i', img, '-C', '-T', '32768', '-h', '64', '-s', '32', '::'])
    execFileSync('mmd', ['-i', img, '::/EFI', '::/EFI/BOOT'])
    execFileSync('mcopy', ['-i', img, efi, '::/EFI/BOOT/BOOTX64.EFI'])
    const vm = await bootMachine({ boot: { disk: img }, firmware: 'uefi', serialLog: join(root, 'uefi.log'), timeoutMs: 120_000 })
    try {
      const m = await vm.waitFor(new RegExp(`${marker} on (pc|efi)`), 90_000)
      expect(m[1]).toBe('efi')
    } finally {
      await vm.kill()
    }
  }, 150_000)
})
