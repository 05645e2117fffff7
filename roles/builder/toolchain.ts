/**
 * Toolchain fingerprints: what the tools a recipe uses are, so that a cache entry made with
 * one compiler is not served for another. Each recipe's fingerprint is computed once per
 * process (tools do not change under a running agent; restart it after an upgrade).
 */
import { execFile } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readdir, readFile } from 'node:fs/promises'
import { join } from 'node:path'

/** A missing tool's entry in the fingerprint. */
export const MISSING = 'missing'

/** First line of `<tool> --version` (or the given args), or `missing`. Runs with a clean env. */
export async function toolVersion (tool: string, args: readonly string[] = ['--version']): Promise<string> {
  return await new Promise(resolve => {
    execFile(tool, [...args], { env: { PATH: '/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin', LC_ALL: 'C' }, timeout: 15_000 }, (err, stdout, stderr) => {
      const text = `${stdout}${stderr}`.trim()
      if (err != null && ((err as NodeJS.ErrnoException).code === 'ENOENT' || text === '')) resolve(MISSING)
      else resolve(text.split('\n')[0].trim())
    })
  })
}

/** sha256 over the names and contents of the given files (sorted), `missing` for absent ones. */
export async function filesHash (paths: readonly string[]): Promise<string> {
  const h = createHash('sha256')
  for (const p of [...paths].sort()) {
    h.update(p).update('\0')
    try { h.update(await readFile(p)) } catch { h.update(MISSING) }
    h.update('\0')
  }
  return h.digest('hex')
}

/** sha256 over every regular file directly in `dir` (names and contents), `missing` when absent. */
export async function directoryHash (dir: string): Promise<string> {
  let names: string[]
  try {
    names = (await readdir(dir, { withFileTypes: true })).filter(e => e.isFile()).map(e => e.name)
  } catch {
    return MISSING
  }
  return await filesHash(names.map(n => join(dir, n)))
}

const memo = new Map<string, Promise<Record<string, string>>>()

/** Memoise `compute` under `id` for the life of the process. A failed computation is retried next time. */
export async function memoFingerprint (id: string, compute: () => Promise<Record<string, string>>): Promise<Record<string, string>> {
  let p = memo.get(id)
  if (p === undefined) {
    p = compute().then(fp => ({ arch: process.arch, platform: process.platform, ...fp }))
    memo.set(id, p)
    p.catch(() => memo.delete(id))
  }
  return await p
}
