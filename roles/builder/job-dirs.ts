/** Job directories: `<workDir>/ctpf-build-XXXXXX`, removed after each build; leftovers of a crashed agent are removed at start. */
import { readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'

export const JOB_DIR_PREFIX = 'ctpf-build-'

/**
 * Remove job directories left in `workDir` by an agent that died mid-build. Call once at
 * start, before any build runs in that `workDir`. Returns how many were removed.
 */
export async function removeStaleJobDirs (workDir: string): Promise<number> {
  let names: string[]
  try { names = await readdir(workDir) } catch { return 0 }
  const stale = names.filter(n => n.startsWith(JOB_DIR_PREFIX))
  for (const n of stale) await rm(join(workDir, n), { recursive: true, force: true })
  return stale.length
}
