/**
 * The generic recipe: `make -C <src>/<dir> [-j N] <targets…> VAR=value…` on a source artifact.
 * Variables are make command-line variables (they override the Makefile) and are also in the
 * environment. `outputs` must be given (paths relative to the job dir, e.g. `src/hello`).
 */
import { posix } from 'node:path'
import { z } from 'zod'
import { memoFingerprint, toolVersion } from '../toolchain.js'
import { relativeDir } from '../validate.js'
import type { Recipe } from './types.js'

export const makeParams = z.object({
  /** Directory of the Makefile, relative to the source root. */
  dir: relativeDir.default('.'),
  /** Parallel jobs (`-j`). */
  jobs: z.number().int().min(1).max(64).default(1)
}).strict()

export type MakeParams = z.output<typeof makeParams>

/** `make` argv for a directory, targets and variables (shared with the ipxe recipe). */
export function makeArgv (dir: string, jobs: number, targets: readonly string[], vars: Readonly<Record<string, string>>): string[] {
  return ['make', '-C', dir, ...(jobs > 1 ? [`-j${jobs}`] : []), ...targets, ...Object.keys(vars).sort().map(k => `${k}=${vars[k]}`)]
}

export const makeRecipe: Recipe<MakeParams> = {
  name: 'make',
  version: '1',
  source: 'required',
  params: makeParams,
  requiredTools: () => ['make'],
  defaultTargets: () => [],
  defaultOutputs: () => undefined,
  toolchain: async () => await memoFingerprint('make', async () => {
    const [make, cc, ld, ar] = await Promise.all([toolVersion('make'), toolVersion('cc'), toolVersion('ld'), toolVersion('ar')])
    return { make, cc, ld, ar }
  }),
  prepare: async (ctx) => [{ argv: makeArgv(posix.join(ctx.srcDir, ctx.params.dir), ctx.params.jobs, ctx.targets, ctx.vars) }]
}
