/**
 * The packager's media, built for real (xorriso, mtools, syslinux) from Debian's iPXE and
 * inspected with the same tools: layout, embedded scripts, errors, atomic output, timings.
 */
import { execFile } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chainloadScript } from '../../../protocols/boot/ipxe-script.js'
import {
  InvalidPackageOptionsError, MissingInputError, MissingToolError, OutputExistsError, PackagingAbortedError,
  PXE_SET_NAMES, packageImg, packageIso, packagePxeSet
} from '../../../roles/packager/index.js'

const run = promisify(execFile)
const IPXE = '/usr/lib/ipxe'
const BIOS = { lkrn: join(IPXE, 'ipxe.lkrn'), efiX64: join(IPXE, 'ipxe.efi') }
const SCRIPT = chainloadScript(['http://10.9.9.9:8080/boot.ipxe', 'http://10.9.9.10/'])

async function sh (cmd: string, args: string[]): Promise<string> { return (await run(cmd, args, { maxBuffer: 16 * 1024 * 1024 })).stdout }
/** A file inside a FAT image. */
async function mtype (img: string, path: string): Promise<string> { return await sh('mtype', ['-i', img, `::/${path}`]) }
async function fatList (img: string): Promise<string> { return await sh('mdir', ['-i', img, '-/', '-a', '-b', '::/']) }

describe('packager media (xorriso, mtools, syslinux)', () => {
  let dir: string
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ctpf-pkg-test-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('an .iso is hybrid (MBR + GPT, El Torito BIOS and UEFI) with the script as ipxe.lkrn\'s initrd and in the EFI image', async () => {
    const out = join(dir, 'ctpf.iso')
    const r = await packageIso({ files: BIOS, script: SCRIPT, out })
    expect(r.path).toBe(out)
    expect(r.bytes).toBeGreaterThan(1024 * 1024)
    expect(r.durationMs).toBeGreaterThan(0)
    expect(r.steps.map(s => s.step)).toEqual(['inputs', 'stage', 'efiboot', 'xorriso', 'commit'])
    const report = await sh('xorriso', ['-indev', out, '-report_el_torito', 'plain', '-report_system_area', 'plain'])
    expect(report).toMatch(/El Torito boot img :\s+1\s+BIOS/)
    expect(report).toMatch(/El Torito boot img :\s+2\s+UEFI/)
    expect(report).toMatch(/MBR partition table/)
    expect(report).toMatch(/GPT/)
    const x = join(dir, 'iso-x')
    await sh('osirrox', ['-indev', out, '-extract', '/', x])
    expect(await readFile(join(x, 'ctpf/bios.ipxe'), 'utf8')).toBe(SCRIPT)
    expect(await readFile(join(x, 'isolinux/isolinux.cfg'), 'utf8')).toMatch(/KERNEL \/ipxe\.lkrn\n\s+INITRD \/ctpf\/bios\.ipxe/)
    expect((await readFile(join(x, 'ipxe.lkrn'))).equals(await readFile(BIOS.lkrn))).toBe(true)
    const efi = join(x, 'efiboot.img')
    expect(await fatList(efi)).toMatch(/EFI\/BOOT\/BOOTX64\.EFI/i)
    expect(await mtype(efi, 'autoexec.ipxe')).toBe(SCRIPT)
    await sh('mcopy', ['-i', efi, '::/EFI/BOOT/BOOTX64.EFI', join(dir, 'bootx64.efi')])
    expect((await readFile(join(dir, 'bootx64.efi'))).equals(await readFile(BIOS.efiX64))).toBe(true)
  })

  it('an .img is a FAT with SYSLINUX\'s boot sector, ipxe.lkrn + script, and the x64 and arm64 EFI loaders', async () => {
    const out = join(dir, 'ctpf.img')
    // an arm64 binary stands in for the test (Debian ships none for amd64 hosts): any file will do for the layout
    const arm64 = join(dir, 'fake-arm64.efi')
    await writeFile(arm64, 'MZ arm64 stand-in')
    const arm64Script = SCRIPT.replace('10.9.9.9', '10.9.9.64')
    const r = await packageImg({ files: { ...BIOS, efiArm64: arm64 }, script: { bios: SCRIPT, arm64Efi: arm64Script }, out })
    expect(r.steps.map(s => s.step)).toEqual(['inputs', 'stage', 'fat', 'syslinux', 'commit'])
    const list = await fatList(out)
    for (const f of ['ldlinux.sys', 'ldlinux.c32', 'syslinux.cfg', 'ipxe.lkrn', 'ctpf/bios.ipxe', 'EFI/BOOT/BOOTX64.EFI', 'EFI/BOOT/BOOTAA64.EFI', 'autoexec.ipxe']) {
      expect(list.toLowerCase()).toContain(f.toLowerCase())
    }
    expect(await mtype(out, 'ctpf/bios.ipxe')).toBe(SCRIPT)
    expect(await mtype(out, 'autoexec.ipxe')).toBe(SCRIPT)
    expect(await mtype(out, 'EFI/BOOT/autoexec-arm64.ipxe')).toBe(arm64Script)
    expect(await mtype(out, 'EFI/BOOT/BOOTAA64.EFI')).toBe('MZ arm64 stand-in')
    const boot = await readFile(out)
    expect(boot.readUInt16LE(510)).toBe(0xaa55)
    expect(boot.subarray(0, 512).toString('latin1')).toMatch(/SYSLINUX/)
  })

  it('a PXE set is a directory of the loaders and the script, by the names distributors serve', async () => {
    const out = join(dir, 'pxe')
    const r = await packagePxeSet({ files: { undionly: join(IPXE, 'undionly.kpxe'), ipxeEfi: join(IPXE, 'ipxe.efi'), snponly: join(IPXE, 'snponly.efi') }, script: SCRIPT, out })
    expect((await readdir(out)).sort()).toEqual(['chain.ipxe', 'ipxe.efi', 'snponly.efi', 'undionly.kpxe'])
    expect(r.files.map(f => f.name).sort()).toEqual((await readdir(out)).sort())
    expect(await readFile(join(out, PXE_SET_NAMES.script), 'utf8')).toBe(SCRIPT)
    expect((await readFile(join(out, 'undionly.kpxe'))).equals(await readFile(join(IPXE, 'undionly.kpxe')))).toBe(true)
    expect(r.bytes).toBe(r.files.reduce((n, f) => n + f.bytes, 0))
    await expect(packagePxeSet({ files: { undionly: join(IPXE, 'undionly.kpxe'), ipxeEfi: join(IPXE, 'ipxe.efi'), snponly: join(IPXE, 'snponly.efi') }, script: SCRIPT, out }))
      .rejects.toMatchObject({ code: OutputExistsError.code })
  })

  it('an .iso given an arm64 binary carries EFI/BOOT/BOOTAA64.EFI in its EFI image; per-platform scripts land where each platform looks', async () => {
    const out = join(dir, 'arm.iso')
    const arm64 = join(dir, 'fake-arm64-iso.efi')
    await writeFile(arm64, 'MZ arm64 stand-in')
    const x64Script = SCRIPT.replace('10.9.9.9', '10.9.9.86')
    await packageIso({ files: { ...BIOS, efiArm64: arm64 }, script: { bios: SCRIPT, x64Efi: x64Script }, out })
    const x = join(dir, 'arm-x')
    await sh('osirrox', ['-indev', out, '-extract', '/', x])
    const efi = join(x, 'efiboot.img')
    expect(await mtype(efi, 'EFI/BOOT/BOOTAA64.EFI')).toBe('MZ arm64 stand-in')
    expect(await mtype(efi, 'autoexec.ipxe')).toBe(x64Script)
    // no script of its own for arm64: it shares the BIOS one, kept beside its loader
    expect(await mtype(efi, 'EFI/BOOT/autoexec-arm64.ipxe')).toBe(SCRIPT)
    expect(await readFile(join(x, 'ctpf/bios.ipxe'), 'utf8')).toBe(SCRIPT)
    const set = join(dir, 'pxe-arch')
    const r = await packagePxeSet({ files: { undionly: join(IPXE, 'undionly.kpxe'), ipxeEfi: join(IPXE, 'ipxe.efi'), snponly: join(IPXE, 'snponly.efi'), efiArm64: arm64 }, script: { bios: SCRIPT, x64Efi: x64Script }, out: set })
    expect(r.files.map(f => f.name).sort()).toEqual(['chain-x64-efi.ipxe', 'chain.ipxe', 'ipxe-arm64.efi', 'ipxe.efi', 'snponly.efi', 'undionly.kpxe'])
    expect(await readFile(join(set, PXE_SET_NAMES.scriptX64Efi), 'utf8')).toBe(x64Script)
  })

  it('a missing input file, a missing program, a non-script fail with their codes and write nothing', async () => {
    const out = join(dir, 'err.iso')
    await expect(packageIso({ files: { ...BIOS, lkrn: join(dir, 'nope.lkrn') }, script: SCRIPT, out })).rejects.toMatchObject({ code: MissingInputError.code, role: 'files.lkrn' })
    await expect(packageIso({ files: BIOS, script: SCRIPT, out }, { tools: { xorriso: join(dir, 'no-xorriso') } })).rejects.toMatchObject({ code: MissingToolError.code, tool: 'xorriso', debianPackage: 'xorriso' })
    await expect(packageImg({ files: BIOS, script: SCRIPT, out: join(dir, 'err.img') }, { tools: { mformat: join(dir, 'no-mformat') } })).rejects.toMatchObject({ code: MissingToolError.code, debianPackage: 'mtools' })
    await expect(packageImg({ files: BIOS, script: SCRIPT, out: join(dir, 'err.img') }, { tools: { syslinux: join(dir, 'no-syslinux') } })).rejects.toMatchObject({ code: MissingToolError.code, debianPackage: 'syslinux' })
    await expect(packageIso({ files: BIOS, script: SCRIPT, out }, { loaders: { isolinuxBin: join(dir, 'no-isolinux.bin') } })).rejects.toMatchObject({ code: MissingToolError.code, debianPackage: 'isolinux' })
    await expect(packageIso({ files: BIOS, script: 'echo hi', out })).rejects.toMatchObject({ code: InvalidPackageOptionsError.code })
    await expect(packageImg({ files: {}, script: SCRIPT, out: join(dir, 'err.img') })).rejects.toMatchObject({ code: InvalidPackageOptionsError.code })
    expect(existsSync(out)).toBe(false)
    expect(existsSync(join(dir, 'err.img'))).toBe(false)
    expect((await readdir(dir)).filter(f => f.includes('.part'))).toEqual([])
  })

  it('a run aborted while xorriso works leaves neither the output nor a temp file, and an earlier output stays whole', async () => {
    const out = join(dir, 'abort.iso')
    await packageIso({ files: BIOS, script: SCRIPT, out })
    const before = await readFile(out)
    // a slow "xorriso" that the abort must kill: a shell that sleeps (the real one takes ~0.1 s)
    const slow = join(dir, 'slow-xorriso')
    await writeFile(slow, '#!/bin/sh\nfor a; do o=$a; done\nexec sleep 30\n', { mode: 0o755 })
    const ac = new AbortController()
    const p = packageIso({ files: BIOS, script: SCRIPT.replace('10.9.9.9', '10.1.1.1'), out }, { signal: ac.signal, tools: { xorriso: slow } })
    setTimeout(() => ac.abort(), 500)
    const t0 = Date.now()
    await expect(p).rejects.toMatchObject({ code: PackagingAbortedError.code })
    expect(Date.now() - t0).toBeLessThan(5000)
    expect((await readFile(out)).equals(before)).toBe(true) // byte comparison (toEqual on MiB buffers takes seconds)
    expect((await readdir(dir)).filter(f => f.includes('.part'))).toEqual([])
    const ac2 = new AbortController()
    ac2.abort()
    await expect(packageImg({ files: BIOS, script: SCRIPT, out: join(dir, 'never.img') }, { signal: ac2.signal })).rejects.toMatchObject({ code: PackagingAbortedError.code })
    expect(existsSync(join(dir, 'never.img'))).toBe(false)
  })
})
