/**
 * One build: validate the spec, look the cache up, otherwise fetch the source into a fresh
 * job directory, run the recipe's commands isolated, store the outputs, then record the
 * result in the cache. Only a build that succeeded stores outputs, and the cache entry is
 * written last.
 */
import { execFile } from 'node:child_process'
import { lstat, mkdir, mkdtemp, realpath, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join, posix, sep } from 'node:path'
import type { Logger } from 'pino'
import { buildCacheKey } from './cache-key.js'
import {
  BuildCancelledError, BuildFailedError, BuildOutputInvalidError, BuildOutputMissingError, BuildSourceError,
  BuildTimeoutError, BuildToolMissingError
} from './errors.js'
import { JOB_DIR_PREFIX } from './job-dirs.js'
import type { RecipeContext } from './recipes/index.js'
import { runCommand, resolveIsolation, SANDBOX_JOB_DIR } from './sandbox.js'
import type { Isolation, LogLine } from './sandbox.js'
import { parseBuildSpec } from './spec.js'
import type { ResolvedBuildSpec } from './spec.js'

export interface BuildOutput {
  /** Path relative to the job dir, as in the spec. */
  path: string
  cid: string
  size: number
}

export interface BuildResult {
  cacheKey: string
  outputs: BuildOutput[]
  durationMs: number
  /** True when the outputs came from the cache and nothing ran. */
  cached: boolean
}

/** What the builder needs from the agent (artifacts and the mesh-wide cache). */
export interface BuildComponents {
  /** Extract the source artifact `cid` (a directory tree) into the existing empty directory `dir`. */
  fetchSource: (cid: string, dir: string, options: { signal: AbortSignal }) => Promise<void>
  /** Store the file at `path` (host path) as an artifact. `name` is its path relative to the job dir. */
  storeOutput: (path: string, options: { signal: AbortSignal, name: string }) => Promise<{ cid: string, size: number }>
  cache: {
    get: (key: string) => Promise<BuildResult | undefined>
    put: (key: string, result: BuildResult) => Promise<void>
  }
  logger?: Logger
}

export interface RunBuildOptions {
  signal?: AbortSignal
  /** Each line the build prints, live. */
  onLog?: (line: LogLine) => void
  /** Where job directories are made (default: the OS temp dir). */
  workDir?: string
  /** Default `auto`: bwrap when usable, else unisolated with a warning logged once. */
  isolation?: Isolation
  /** Keep the job directory after the build (debugging); it is removed by default. */
  keepJobDir?: boolean
}

/** Lines of output kept for the error message of a failed command. */
const TAIL_LINES = 20

const BASE_PATH = '/usr/local/bin:/usr/bin:/bin:/usr/local/sbin:/usr/sbin:/sbin'

function isAborted (signal: AbortSignal | undefined): boolean {
  return signal?.aborted === true
}

let tools: Map<string, Promise<boolean>> | undefined

async function hasTool (tool: string): Promise<boolean> {
  tools ??= new Map()
  let p = tools.get(tool)
  if (p === undefined) {
    p = new Promise(resolve => {
      execFile('sh', ['-c', 'command -v "$1"', 'sh', tool], { env: { PATH: BASE_PATH } }, err => resolve(err == null))
    })
    tools.set(tool, p)
  }
  return await p
}

/** The cache key of a spec on this agent (validates the spec; computes the toolchain fingerprint once per process). */
export async function cacheKeyOf (spec: unknown): Promise<string> {
  return await keyOf(parseBuildSpec(spec))
}

async function keyOf (spec: ResolvedBuildSpec): Promise<string> {
  const toolchain = await spec.recipe.toolchain()
  return buildCacheKey({
    source: spec.source ?? null,
    recipe: { name: spec.recipe.name, version: spec.recipe.version },
    vars: spec.vars,
    targets: spec.targets,
    params: spec.params,
    outputs: spec.outputs,
    toolchain
  })
}

/**
 * Run one build (or answer it from the cache).
 *
 * Throws `BuildSpecError` (bad spec), `BuildToolMissingError`, `SandboxUnavailableError`
 * (isolation `bwrap` required), `BuildSourceError`, `BuildFailedError`, `BuildTimeoutError`,
 * `BuildCancelledError`, `BuildOutputMissingError`, `BuildOutputInvalidError`.
 */
export async function runBuild (specInput: unknown, components: BuildComponents, options: RunBuildOptions = {}): Promise<BuildResult> {
  const started = performance.now()
  const spec = parseBuildSpec(specInput)
  const log = components.logger?.child({ component: 'role:builder' })
  const outer = options.signal
  if (outer?.aborted === true) throw new BuildCancelledError({ cause: outer.reason })

  const cacheKey = await keyOf(spec)
  const hit = await components.cache.get(cacheKey)
  if (hit !== undefined) {
    log?.info({ cacheKey, recipe: spec.recipe.name }, 'build cache hit')
    return { cacheKey, outputs: hit.outputs.map(o => ({ ...o })), durationMs: Math.round(performance.now() - started), cached: true }
  }

  const needed = [...spec.recipe.requiredTools(spec.params), ...(spec.limits !== undefined ? ['prlimit'] : [])]
  for (const tool of needed) {
    if (!(await hasTool(tool))) throw new BuildToolMissingError(tool)
  }

  // one signal for the whole build: the caller's cancellation or the deadline
  const controller = new AbortController()
  const signal = controller.signal
  const timer = setTimeout(() => controller.abort(new BuildTimeoutError(spec.timeoutMs)), spec.timeoutMs)
  const onOuterAbort = (): void => controller.abort(new BuildCancelledError({ cause: outer?.reason }))
  outer?.addEventListener('abort', onOuterAbort, { once: true })
  if (isAborted(outer)) onOuterAbort() // while the cache was asked
  const stopped = (): Error => signal.reason instanceof Error ? signal.reason : new BuildCancelledError({ cause: signal.reason })

  let hostJobDir: string | undefined
  try {
    const isolation = await resolveIsolation(options.isolation ?? 'auto', log)
    hostJobDir = await realpath(await mkdtemp(join(options.workDir ?? tmpdir(), JOB_DIR_PREFIX)))
    for (const d of ['src', 'out', '.ctpf', '.tmp']) await mkdir(join(hostJobDir, d))
    const jobDir = isolation === 'bwrap' ? SANDBOX_JOB_DIR : hostJobDir
    log?.info({ cacheKey, recipe: spec.recipe.name, source: spec.source, isolation, jobDir: hostJobDir }, 'build started')

    if (spec.source !== undefined) {
      try {
        await components.fetchSource(spec.source, join(hostJobDir, 'src'), { signal })
      } catch (e) {
        if (signal.aborted) throw stopped()
        throw new BuildSourceError(spec.source, { cause: e })
      }
    }
    if (signal.aborted) throw stopped()

    const ctx: RecipeContext<unknown> = {
      jobDir,
      hostJobDir,
      srcDir: posix.join(jobDir, 'src'),
      vars: spec.vars,
      targets: spec.targets,
      params: spec.params,
      outputs: spec.outputs
    }
    const steps = await spec.recipe.prepare(ctx)
    const env: Record<string, string> = {
      ...spec.vars,
      PATH: BASE_PATH,
      HOME: jobDir,
      TMPDIR: posix.join(jobDir, '.tmp'),
      LC_ALL: 'C.UTF-8',
      LANG: 'C.UTF-8',
      TZ: 'UTC'
    }

    for (const step of steps) {
      if (signal.aborted) throw stopped()
      const tail: string[] = []
      const onLine = (l: LogLine): void => {
        tail.push(l.line)
        if (tail.length > TAIL_LINES) tail.shift()
        options.onLog?.(l)
      }
      log?.debug({ argv: step.argv }, 'build step')
      const result = await runCommand({ argv: step.argv, hostJobDir, cwd: step.cwd ?? jobDir, env, limits: spec.limits }, isolation, onLine, signal)
      if (signal.aborted) throw stopped()
      if (result.exitCode !== 0) throw new BuildFailedError(step.argv[0], result.exitCode, result.signal, tail)
    }

    // collect: regular files inside the job dir only (a symlink must not smuggle a host file out)
    const files: Array<{ path: string, host: string }> = []
    for (const path of spec.outputs) {
      const host = join(hostJobDir, ...path.split('/'))
      let real: string
      try {
        real = await realpath(host)
      } catch {
        throw new BuildOutputMissingError(path)
      }
      if (!real.startsWith(hostJobDir + sep)) throw new BuildOutputInvalidError(path, 'points outside the job directory')
      const st = await lstat(real)
      if (!st.isFile()) throw new BuildOutputInvalidError(path, 'is not a regular file')
      files.push({ path, host: real })
    }
    const outputs: BuildOutput[] = []
    for (const f of files) {
      if (signal.aborted) throw stopped()
      const stored = await components.storeOutput(f.host, { signal, name: f.path })
      outputs.push({ path: f.path, cid: stored.cid, size: stored.size })
    }
    if (signal.aborted) throw stopped()
    const result: BuildResult = { cacheKey, outputs, durationMs: Math.round(performance.now() - started), cached: false }
    try {
      await components.cache.put(cacheKey, { ...result, outputs: outputs.map(o => ({ ...o })) })
    } catch (e) {
      // the outputs are good; only later identical builds will not find them
      log?.warn({ cacheKey, err: e }, 'build succeeded but its cache entry could not be written')
    }
    log?.info({ cacheKey, recipe: spec.recipe.name, durationMs: result.durationMs, outputs: outputs.length }, 'build succeeded')
    return result
  } catch (e) {
    const err = signal.aborted ? stopped() : e
    log?.warn({ cacheKey, recipe: spec.recipe.name, code: (err as { code?: string }).code, err }, 'build failed')
    throw err
  } finally {
    clearTimeout(timer)
    outer?.removeEventListener('abort', onOuterAbort)
    if (hostJobDir !== undefined && options.keepJobDir !== true) await rm(hostJobDir, { recursive: true, force: true }).catch(() => {})
  }
}
