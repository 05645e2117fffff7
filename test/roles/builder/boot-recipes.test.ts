/** The grub and syslinux recipes, run for real in bubblewrap. */
import { createHash } from 'node:crypto'
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runBuild } from '../../../roles/builder/index.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { fakeComponents, type FakeComponents } from './fakes.js'

function output (c: FakeComponents, result: { outputs: Array<{ path: string, cid: string }> }, path: string): Buffer {
  const o = result.outputs.find(x => x.path === path)
  if (o === undefined) throw new Error(`no output ${path}`)
  return Buffer.from(c.stored.get(o.cid) as Uint8Array)
}

/** PE32+ header fields of an EFI image: machine and subsystem (10 = EFI application). */
function peHeader (b: Buffer): { machine: number, magic: number, subsystem: number } {
  expect(b.subarray(0, 2).toString('latin1')).toBe('MZ')
  const pe = b.readUInt32LE(0x3c)
  expect(b.subarray(pe, pe + 4)).toEqual(Buffer.from('PE\0\0', 'latin1'))
  const opt = pe + 24
  return { machine: b.readUInt16LE(pe + 4), magic: b.readUInt16LE(opt), subsystem: b.readUInt16LE(opt + 68) }
}

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

describePrivileged('builder: boot loader recipes', ['bwrap', 'grub-mkstandalone'], () => {
  let root: string
  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ctpf-bld-boot-'))
    mkdirSync(join(root, 'work'))
  })
  afterAll(() => { rmSync(root, { recursive: true, force: true }) })

  it('grub: BIOS core.img, El Torito image, PXE image and an EFI application with the embedded config', async () => {
    const c = fakeComponents()
    const marker = `ctpf-test-menu-${process.pid}`
    const config = `set timeout=1\nmenuentry "${marker}" { reboot }\n`
    const t0 = Date.now()
    const result = await runBuild({ recipe: 'grub', params: { config, platforms: ['i386-pc', 'i386-pc-eltorito', 'i386-pc-pxe', 'x86_64-efi'] } },
      c, { isolation: 'bwrap', workDir: join(root, 'work') })
    console.log(`grub recipe: ${Date.now() - t0} ms`)
    expect(result.outputs.map(o => o.path).sort()).toEqual([
      'out/grub/i386-pc/boot.img', 'out/grub/i386-pc/core.0', 'out/grub/i386-pc/core.img', 'out/grub/i386-pc/eltorito.img', 'out/grub/x86_64-efi/grubx64.efi'
    ])
    const lib = '/usr/lib/grub/i386-pc'
    // each BIOS image starts with the matching GRUB first stage
    const core = output(c, result, 'out/grub/i386-pc/core.img')
    expect(core.subarray(0, 0x100)).toEqual(readFileSync(join(lib, 'diskboot.img')).subarray(0, 0x100))
    expect(output(c, result, 'out/grub/i386-pc/eltorito.img').subarray(0, 0x100)).toEqual(readFileSync(join(lib, 'cdboot.img')).subarray(0, 0x100))
    expect(output(c, result, 'out/grub/i386-pc/core.0').subarray(0, 0x100)).toEqual(readFileSync(join(lib, 'pxeboot.img')).subarray(0, 0x100))
    expect(output(c, result, 'out/grub/i386-pc/boot.img')).toEqual(readFileSync(join(lib, 'boot.img')))
    expect(core.length).toBeGreaterThan(20_000)
    const efi = output(c, result, 'out/grub/x86_64-efi/grubx64.efi')
    expect(peHeader(efi)).toEqual({ machine: 0x8664, magic: 0x20b, subsystem: 10 }) // x86-64, PE32+, EFI application
    // the config is inside the memdisk (an uncompressed tar in the EFI image)
    expect(efi.includes(Buffer.from(marker))).toBe(true)
    expect(efi.includes(Buffer.from('boot/grub/grub.cfg'))).toBe(true)
  })

  it('grub: an unknown module fails the build and stores nothing', async () => {
    const c = fakeComponents()
    const err = await runBuild({ recipe: 'grub', params: { platforms: ['x86_64-efi'], modules: ['no_such_module'] } },
      c, { isolation: 'bwrap', workDir: join(root, 'work') }).catch(e => e)
    expect(err.code).toBe('ERR_BUILD_FAILED')
    expect(c.calls.store + c.calls.put).toBe(0)
  })

  it('syslinux: the BIOS and ISO loader files, byte for byte', async () => {
    const c = fakeComponents()
    const result = await runBuild({ recipe: 'syslinux', params: { modules: ['vesainfo.c32'] } }, c, { isolation: 'bwrap', workDir: join(root, 'work') })
    const byName = new Map(result.outputs.map(o => [o.path.split('/').pop() as string, o]))
    for (const n of ['isolinux.bin', 'isohdpfx.bin', 'ldlinux.c32', 'libcom32.c32', 'libutil.c32', 'menu.c32', 'mbr.bin', 'gptmbr.bin', 'vesainfo.c32']) {
      expect(byName.has(n), n).toBe(true)
    }
    expect(sha(output(c, result, 'out/syslinux/isolinux.bin'))).toBe(sha(readFileSync('/usr/lib/ISOLINUX/isolinux.bin')))
    expect(byName.get('isohdpfx.bin')?.size).toBe(432)
    expect(byName.get('mbr.bin')?.size).toBe(440)
    const ldlinux = output(c, result, 'out/syslinux/ldlinux.c32')
    expect(ldlinux.subarray(0, 4)).toEqual(Buffer.from([0x7f, 0x45, 0x4c, 0x46])) // ELF

    // warm: the same request is answered from the cache
    const warm = await runBuild({ recipe: 'syslinux', params: { modules: ['vesainfo.c32'] } }, c, { isolation: 'bwrap', workDir: join(root, 'work') })
    expect(warm.cached).toBe(true)
    expect(warm.outputs).toEqual(result.outputs)
  })
})
