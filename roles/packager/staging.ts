/**
 * One packaging run: a private staging directory (ctpf-pkg-* under the system temp dir), step
 * timings, and the commit that makes the output appear under its name only when complete.
 * The output is built under a hidden temp name beside `out` (same filesystem) and renamed at
 * the end; on any error or abort the temp name and the staging directory are removed, so a
 * failed or cancelled run never leaves a partial file under the output name.
 */
import { randomBytes } from 'node:crypto'
import { mkdir, mkdtemp, rename, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { basename, dirname, join, resolve } from 'node:path'
import { performance } from 'node:perf_hooks'
import { InvalidPackageOptionsError } from './errors.js'
import { throwIfAborted } from './tools.js'
import type { MediaScript, MediaScripts, PackageResult } from './types.js'

export class PackagingRun {
  readonly steps: Array<{ step: string, durationMs: number }> = []
  private readonly started = performance.now()
  constructor (private readonly signal: AbortSignal | undefined) {}

  /** Runs one named step and records its wall time; checks the signal before it starts. */
  async step<T> (name: string, fn: () => Promise<T>): Promise<T> {
    throwIfAborted(this.signal)
    const t0 = performance.now()
    try {
      return await fn()
    } finally {
      this.steps.push({ step: name, durationMs: Math.round((performance.now() - t0) * 1000) / 1000 })
    }
  }

  result (path: string, bytes: number): PackageResult {
    return { path, bytes, durationMs: Math.round((performance.now() - this.started) * 1000) / 1000, steps: this.steps }
  }
}

/**
 * Runs `build(staging, partial)` and renames `partial` to `out` when it resolves. `partial`
 * is a temp name in `out`'s directory (created if needed). Cleans up whatever happens.
 */
export async function buildAtomically<T> (out: string, run: PackagingRun, build: (staging: string, partial: string) => Promise<T>): Promise<T> {
  const target = resolve(out)
  await mkdir(dirname(target), { recursive: true })
  const partial = join(dirname(target), `.${basename(target)}.ctpf-pkg-${randomBytes(6).toString('hex')}.part`)
  const staging = await mkdtemp(join(tmpdir(), 'ctpf-pkg-'))
  let committed = false
  try {
    const value = await build(staging, partial)
    await run.step('commit', async () => { await rename(partial, target) })
    committed = true
    return value
  } finally {
    if (!committed) await rm(partial, { recursive: true, force: true }).catch(() => {})
    await rm(staging, { recursive: true, force: true }).catch(() => {})
  }
}

const MAX_SCRIPT_BYTES = 64 * 1024

function checkScript (where: string, text: unknown): string {
  if (typeof text !== 'string') throw new InvalidPackageOptionsError(`${where}: the script must be a string`)
  if (!text.startsWith('#!ipxe')) throw new InvalidPackageOptionsError(`${where}: an iPXE script starts with "#!ipxe"`)
  if (Buffer.byteLength(text) > MAX_SCRIPT_BYTES) throw new InvalidPackageOptionsError(`${where}: the script is larger than ${MAX_SCRIPT_BYTES} bytes`)
  if (text.includes('\0')) throw new InvalidPackageOptionsError(`${where}: the script contains NUL`)
  return text.endsWith('\n') ? text : `${text}\n`
}

/** Every platform's script, validated; platforms not given fall back to the BIOS one. */
export function resolveScripts (script: MediaScript): Required<MediaScripts> {
  if (typeof script === 'string') {
    const s = checkScript('script', script)
    return { bios: s, x64Efi: s, arm64Efi: s }
  }
  if (script === null || typeof script !== 'object') throw new InvalidPackageOptionsError('script: a string or { bios, x64Efi?, arm64Efi? }')
  const bios = checkScript('script.bios', script.bios)
  return {
    bios,
    x64Efi: script.x64Efi === undefined ? bios : checkScript('script.x64Efi', script.x64Efi),
    arm64Efi: script.arm64Efi === undefined ? bios : checkScript('script.arm64Efi', script.arm64Efi)
  }
}

/** Writes `text` into the staging directory and returns its path. */
export async function stageText (staging: string, name: string, text: string): Promise<string> {
  const p = join(staging, name)
  await mkdir(dirname(p), { recursive: true })
  await writeFile(p, text)
  return p
}
