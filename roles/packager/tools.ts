/**
 * Running the external programs (argument arrays, never a shell), with the caller's signal
 * and a time limit; turns spawn failures into the packager's errors.
 */
import { execFile } from 'node:child_process'
import { stat } from 'node:fs/promises'
import { MissingInputError, MissingToolError, PackagingAbortedError, ToolFailedError } from './errors.js'
import type { PackageRunOptions, PackagerLoaders, PackagerTools } from './types.js'

/** Which Debian package provides each program. */
const PACKAGE_OF: Record<keyof PackagerTools, string> = {
  xorriso: 'xorriso', mformat: 'mtools', mmd: 'mtools', mcopy: 'mtools', syslinux: 'syslinux'
}

export const DEFAULT_LOADERS: Required<PackagerLoaders> = {
  isolinuxBin: '/usr/lib/ISOLINUX/isolinux.bin',
  isohdpfx: '/usr/lib/ISOLINUX/isohdpfx.bin',
  ldlinuxC32: '/usr/lib/syslinux/modules/bios/ldlinux.c32'
}
const LOADER_PACKAGE: Record<keyof PackagerLoaders, string> = { isolinuxBin: 'isolinux', isohdpfx: 'isolinux', ldlinuxC32: 'syslinux-common' }

export function throwIfAborted (signal: AbortSignal | undefined): void {
  if (signal?.aborted === true) throw new PackagingAbortedError('packaging aborted', { cause: signal.reason })
}

/** Runs `tool` with `args`; resolves to stdout. */
export async function runTool (tool: keyof PackagerTools, args: string[], opts: PackageRunOptions): Promise<string> {
  throwIfAborted(opts.signal)
  const path = opts.tools?.[tool] ?? tool
  return await new Promise((resolve, reject) => {
    execFile(path, args, { signal: opts.signal, timeout: opts.toolTimeoutMs ?? 120_000, killSignal: 'SIGKILL', maxBuffer: 4 * 1024 * 1024, encoding: 'utf8' },
      (err, stdout, stderr) => {
        if (err === null) { resolve(stdout); return }
        const e = err as NodeJS.ErrnoException & { killed?: boolean, code?: string | number | null }
        if (opts.signal?.aborted === true || e.name === 'AbortError') reject(new PackagingAbortedError(`packaging aborted while ${tool} ran`, { cause: err }))
        else if (e.code === 'ENOENT' || e.code === 'EACCES') reject(new MissingToolError(tool, path, PACKAGE_OF[tool], { cause: err }))
        else reject(new ToolFailedError(tool, typeof e.code === 'number' ? e.code : null, `${e.killed === true ? '(killed: time limit) ' : ''}${stderr}`, { cause: err }))
      })
  })
}

/** Size of `path`, which must be a regular file (following symlinks); MissingInputError otherwise. */
export async function inputSize (role: string, path: string): Promise<number> {
  try {
    const s = await stat(path)
    if (s.isFile()) return s.size
  } catch (err) {
    throw new MissingInputError(role, path, { cause: err })
  }
  throw new MissingInputError(role, path)
}

/** The loader files, checked: a missing one means its package is not installed. */
export async function loaderPaths (opts: PackageRunOptions, which: Array<keyof PackagerLoaders>): Promise<Required<PackagerLoaders>> {
  const paths = { ...DEFAULT_LOADERS, ...opts.loaders }
  for (const k of which) {
    try {
      await inputSize(`loaders.${k}`, paths[k])
    } catch (err) {
      throw new MissingToolError(k, paths[k], LOADER_PACKAGE[k], { cause: err })
    }
  }
  return paths
}
