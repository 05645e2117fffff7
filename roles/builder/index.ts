/**
 * Builder role core: runs one `build` (GNU make or a recipe's own tool) on a source artifact
 * in a fresh per-job directory, isolated with bubblewrap where it works (no network, new pid
 * namespace, read-only system, only the job dir writable), with a timeout, resource limits
 * (prlimit) and cancellation that kills the whole process tree. Outputs are stored as
 * artifacts; results are cached under a key over source, recipe, variables and toolchain.
 *
 * @example
 * ```ts
 * import { runBuild } from './roles/builder/index.js'
 *
 * const result = await runBuild(
 *   { recipe: 'make', source: 'bafy…', vars: { CFLAGS: '-O2' }, targets: ['hello'], outputs: ['src/hello'] },
 *   {
 *     fetchSource: async (cid, dir, { signal }) => { await artifacts.extract(cid, dir, { signal }) },
 *     storeOutput: async (path, { signal }) => await artifacts.addFile(path, { signal }),
 *     cache: { get: async (key) => cache.get(key), put: async (key, r) => { await cache.put(key, r) } },
 *     logger
 *   },
 *   { signal, onLog: ({ stream, line }) => log(`${stream}: ${line}`) }
 * )
 * // result: { cacheKey: 'sha256:…', outputs: [{ path: 'src/hello', cid, size }], durationMs, cached }
 * ```
 */
export { runBuild, cacheKeyOf } from './build.js'
export type { BuildComponents, BuildOutput, BuildResult, RunBuildOptions } from './build.js'
export { parseBuildSpec, buildSpecSchema, buildLimitsSchema, DEFAULT_TIMEOUT_MS, MAX_TIMEOUT_MS } from './spec.js'
export type { BuildSpec, ResolvedBuildSpec } from './spec.js'
export { buildCacheKey, canonicalJson, CACHE_KEY_VERSION } from './cache-key.js'
export type { CacheKeyInput } from './cache-key.js'
export { probeBwrap, resolveIsolation, bwrapArgs, prlimitArgs, SANDBOX_JOB_DIR } from './sandbox.js'
export type { Isolation, LogLine, ResourceLimits } from './sandbox.js'
export { removeStaleJobDirs, JOB_DIR_PREFIX } from './job-dirs.js'
export { importDistributionIpxe, DISTRIBUTION_IPXE_DIRS } from './import-ipxe.js'
export type { DistributionIpxeFile } from './import-ipxe.js'
export * from './recipes/index.js'
export * from './errors.js'
