/** The `build` job spec: schema, defaults, and resolution against the recipe. */
import { CID } from 'multiformats/cid'
import { z } from 'zod'
import { BuildSpecError } from './errors.js'
import { RECIPE_NAMES, RECIPES } from './recipes/index.js'
import type { Recipe } from './recipes/index.js'
import { makeTarget, relativePath, varName, varValue } from './validate.js'

export const DEFAULT_TIMEOUT_MS = 30 * 60_000
export const MAX_TIMEOUT_MS = 24 * 3600_000

const cidString = z.string().max(256).refine(s => {
  try { CID.parse(s); return true } catch { return false }
}, 'not a CID')

export const buildLimitsSchema = z.object({
  cpuSeconds: z.number().int().min(1).max(7 * 86_400).optional(),
  memoryMiB: z.number().int().min(16).max(1_048_576).optional(),
  maxFiles: z.number().int().min(16).max(1_048_576).optional()
}).strict()

export const buildSpecSchema = z.object({
  recipe: z.enum(RECIPE_NAMES),
  /** CID of the source artifact: a directory tree, extracted to `<job>/src`. */
  source: cidString.optional(),
  /** make command-line variables (make-based recipes) and the build's environment. */
  vars: z.record(varName, varValue).default({}),
  targets: z.array(makeTarget).max(64).optional(),
  /** Files to collect, relative to the job dir (e.g. `src/hello`). Defaults come from the recipe. */
  outputs: z.array(relativePath).min(1).max(256).refine(a => new Set(a).size === a.length, 'outputs must not repeat').optional(),
  /** Recipe-specific parameters, validated by the recipe (e.g. ipxe's `endpoints`). */
  params: z.record(z.string(), z.unknown()).optional(),
  timeoutMs: z.number().int().min(1).max(MAX_TIMEOUT_MS).default(DEFAULT_TIMEOUT_MS),
  limits: buildLimitsSchema.optional()
}).strict()

export type BuildSpec = z.input<typeof buildSpecSchema>

/** A spec with the recipe's defaults applied: what the builder runs and what the cache key covers. */
export interface ResolvedBuildSpec {
  recipe: Recipe<unknown>
  source: string | undefined
  vars: Readonly<Record<string, string>>
  targets: readonly string[]
  outputs: readonly string[]
  params: unknown
  timeoutMs: number
  limits: z.output<typeof buildLimitsSchema> | undefined
}

function issuesOf (error: z.ZodError, prefix = ''): string[] {
  return error.issues.map(i => `${prefix}${i.path.map(String).join('.') || '(spec)'}: ${i.message}`)
}

/** Validate and resolve a spec; throws `BuildSpecError` listing every problem. */
export function parseBuildSpec (input: unknown): ResolvedBuildSpec {
  const parsed = buildSpecSchema.safeParse(input)
  if (!parsed.success) {
    const issues = issuesOf(parsed.error)
    throw new BuildSpecError(`invalid build spec: ${issues.join('; ')}`, issues)
  }
  const spec = parsed.data
  const recipe = RECIPES[spec.recipe] as Recipe<unknown>
  const params = recipe.params.safeParse(spec.params ?? {})
  const issues: string[] = []
  if (!params.success) issues.push(...issuesOf(params.error, 'params.'))
  if (recipe.source === 'required' && spec.source === undefined) issues.push(`source: the ${recipe.name} recipe needs a source artifact`)
  if (recipe.source === 'none' && spec.source !== undefined) issues.push(`source: the ${recipe.name} recipe takes no source`)
  if (issues.length > 0 || !params.success) throw new BuildSpecError(`invalid build spec: ${issues.join('; ')}`, issues)
  const targets = spec.targets ?? recipe.defaultTargets(params.data)
  const outputs = spec.outputs ?? recipe.defaultOutputs(params.data, targets)
  if (outputs === undefined) {
    const why = [`outputs: the ${recipe.name} recipe needs the outputs to collect (paths relative to the job dir, e.g. src/hello)`]
    throw new BuildSpecError(`invalid build spec: ${why[0]}`, why)
  }
  return {
    recipe,
    source: spec.source,
    vars: Object.freeze({ ...spec.vars }),
    targets: Object.freeze([...targets]),
    outputs: Object.freeze([...outputs]),
    params: params.data,
    timeoutMs: spec.timeoutMs,
    limits: spec.limits
  }
}
