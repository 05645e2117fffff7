/** What a recipe is: how to turn a validated spec into build commands, and what its tools are. */
import type { z } from 'zod'

export interface RecipeContext<P> {
  /** The job directory as the build commands see it (`/build` inside the sandbox). */
  jobDir: string
  /** The same directory on the host: for files the recipe writes before the build (configs, scripts). */
  hostJobDir: string
  /** `<jobDir>/src`: where the source artifact was extracted (empty without a source). */
  srcDir: string
  vars: Readonly<Record<string, string>>
  targets: readonly string[]
  params: P
  outputs: readonly string[]
}

/** One command of a build, run in order; the first that fails ends the build. */
export interface BuildStep {
  argv: string[]
  /** Working directory as the command sees it; the job directory by default. */
  cwd?: string
}

export interface Recipe<P = unknown> {
  name: string
  /** Bump when the commands a recipe runs change: the version is part of the cache key. */
  version: string
  /** `required`: a spec without `source` is refused; `none`: a source is refused. */
  source: 'required' | 'optional' | 'none'
  /** Schema of `spec.params` (defaults applied here become part of the cache key). */
  params: z.ZodType<P>
  /** Tools that must be installed to build (checked on a cache miss only). */
  requiredTools: (params: P) => string[]
  defaultTargets: (params: P) => string[]
  /** Outputs when the spec names none; `undefined` makes `outputs` mandatory. */
  defaultOutputs: (params: P, targets: readonly string[]) => string[] | undefined
  /** The fingerprint of the tools this recipe uses; memoised per process by the caller. */
  toolchain: () => Promise<Record<string, string>>
  /** Write what the commands need into the host job dir and return the commands. */
  prepare: (ctx: RecipeContext<P>) => Promise<BuildStep[]>
}
