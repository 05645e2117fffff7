/**
 * The PXE set: the iPXE loaders and the chainload script as plain files in one directory, the
 * names the PXE distributors (DHCP filename / TFTP / HTTP) serve them by.
 */
import { copyFile, mkdir, stat, writeFile } from 'node:fs/promises'
import { join, resolve } from 'node:path'
import { InvalidPackageOptionsError, OutputExistsError } from './errors.js'
import { PackagingRun, buildAtomically, resolveScripts } from './staging.js'
import { inputSize, throwIfAborted } from './tools.js'
import type { MediaScript, PackageResult, PackageRunOptions } from './types.js'

/** File names inside a PXE set. */
export const PXE_SET_NAMES = {
  undionly: 'undionly.kpxe',
  ipxeEfi: 'ipxe.efi',
  snponly: 'snponly.efi',
  efiArm64: 'ipxe-arm64.efi',
  /** The script (BIOS, and every platform without a script of its own). */
  script: 'chain.ipxe',
  scriptX64Efi: 'chain-x64-efi.ipxe',
  scriptArm64Efi: 'chain-arm64-efi.ipxe'
} as const

export interface PxeSetInit {
  files: {
    /** BIOS PXE ROMs chain this (keeps the ROM's UNDI driver). */
    undionly: string
    /** x86_64 UEFI with iPXE's own drivers. */
    ipxeEfi: string
    /** x86_64 UEFI through the firmware's SNP driver. */
    snponly: string
    /** arm64 UEFI, optional. */
    efiArm64?: string
  }
  script: MediaScript
  /** The directory to create; it must not exist (a directory cannot be replaced atomically). */
  out: string
}

export interface PxeSetResult extends PackageResult {
  /** Every file of the set, by name, with its size. */
  files: Array<{ name: string, bytes: number }>
}

export async function packagePxeSet (init: PxeSetInit, opts: PackageRunOptions = {}): Promise<PxeSetResult> {
  const run = new PackagingRun(opts.signal)
  if (init?.files === undefined || typeof init.out !== 'string' || init.out === '') throw new InvalidPackageOptionsError('packagePxeSet needs files and out')
  const scripts = resolveScripts(init.script)
  const bins: Array<[string, string, string]> = [
    ['files.undionly', init.files.undionly, PXE_SET_NAMES.undionly],
    ['files.ipxeEfi', init.files.ipxeEfi, PXE_SET_NAMES.ipxeEfi],
    ['files.snponly', init.files.snponly, PXE_SET_NAMES.snponly]
  ]
  if (init.files.efiArm64 !== undefined) bins.push(['files.efiArm64', init.files.efiArm64, PXE_SET_NAMES.efiArm64])
  const texts: Array<[string, string]> = [[PXE_SET_NAMES.script, scripts.bios]]
  if (typeof init.script !== 'string' && init.script.x64Efi !== undefined) texts.push([PXE_SET_NAMES.scriptX64Efi, scripts.x64Efi])
  if (typeof init.script !== 'string' && init.script.arm64Efi !== undefined) texts.push([PXE_SET_NAMES.scriptArm64Efi, scripts.arm64Efi])
  await run.step('inputs', async () => {
    for (const [role, path] of bins) await inputSize(role, path)
    const exists = await stat(resolve(init.out)).then(() => true, () => false)
    if (exists) throw new OutputExistsError(resolve(init.out))
  })
  const files: Array<{ name: string, bytes: number }> = []
  await buildAtomically(init.out, run, async (_staging, partial) => {
    await run.step('copy', async () => {
      await mkdir(partial)
      for (const [, src, name] of bins) {
        throwIfAborted(opts.signal)
        await copyFile(src, join(partial, name))
        files.push({ name, bytes: (await stat(join(partial, name))).size })
      }
      for (const [name, text] of texts) {
        await writeFile(join(partial, name), text)
        files.push({ name, bytes: Buffer.byteLength(text) })
      }
    })
  })
  return { ...run.result(init.out, files.reduce((n, f) => n + f.bytes, 0)), files }
}
