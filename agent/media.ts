/**
 * Wires the builder and packager roles as job kinds: `build` (role builder) runs a recipe on a
 * source artifact with the mesh-wide build cache in state (`buildcache/<key>`); `package`
 * (role packager) makes an .iso, an .img or a PXE set from iPXE artifacts with the chainload
 * script of the given endpoints, and stores the media as named artifacts.
 *
 * @example
 * await startMediaRoles({ tags, jobs, state, artifacts, dataDir, log })
 */
import { execFile } from 'node:child_process'
import { createReadStream, createWriteStream } from 'node:fs'
import { mkdir, mkdtemp, readdir, rm } from 'node:fs/promises'
import { join } from 'node:path'
import { pipeline } from 'node:stream/promises'
import { promisify } from 'node:util'
import { z } from 'zod'
import { chainloadScript } from '../protocols/boot/ipxe-script.js'
import { removeStaleJobDirs, runBuild } from '../roles/builder/index.js'
import { packageImg, packageIso, packagePxeSet } from '../roles/packager/index.js'
import type { Artifacts } from '../protocols/artifacts/index.js'
import type { JobRunner } from '../protocols/jobs/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { BuildComponents, BuildResult } from '../roles/builder/index.js'
import type { Logger } from 'pino'
import { hasRole } from './roles.js'

const run = promisify(execFile)

const FINAL_BUILD_ERRORS = new Set(['ERR_BUILD_SPEC', 'ERR_BUILD_FAILED', 'ERR_BUILD_OUTPUT_MISSING', 'ERR_BUILD_OUTPUT_INVALID', 'ERR_BUILD_TOOL_MISSING'])


export interface MediaInit {
  tags: Record<string, string>
  jobs: JobRunner
  state: StateService
  artifacts: Artifacts
  dataDir: string
  log: Logger
}

/** An artifact name, else a CID. */
function resolveRef (artifacts: Artifacts, ref: string): string {
  try { return artifacts.resolveName(ref) } catch { return ref }
}

async function saveArtifact (artifacts: Artifacts, ref: string, path: string, signal: AbortSignal): Promise<void> {
  const { body } = await artifacts.cat(resolveRef(artifacts, ref), { signal })
  await pipeline(body, createWriteStream(path, { mode: 0o644 }), { signal })
}

export async function startMediaRoles (init: MediaInit): Promise<void> {
  if (hasRole(init.tags, 'builder')) await startBuilder(init)
  if (hasRole(init.tags, 'packager')) startPackager(init)
}

async function startBuilder ({ jobs, state, artifacts, dataDir, log }: MediaInit): Promise<void> {
  const workDir = join(dataDir, 'builds')
  await mkdir(workDir, { recursive: true, mode: 0o700 })
  // a build killed with the agent leaves its directory: nothing in it was stored
  const stale = await removeStaleJobDirs(workDir)
  if (stale > 0) log.info({ dirs: stale }, 'removed the directories of builds an earlier run left')
  const components: BuildComponents = {
    fetchSource: async (cid, dir, { signal }) => {
      const tar = join(workDir, `.source-${Date.now()}-${Math.random().toString(36).slice(2)}.tar`)
      try {
        await saveArtifact(artifacts, cid, tar, signal)
        // GNU tar drops leading / and refuses members with .. by default
        await run('tar', ['-xf', tar, '-C', dir, '--no-same-owner', '--no-same-permissions'], { signal })
      } finally {
        await rm(tar, { force: true })
      }
    },
    storeOutput: async (path, { signal }) => await artifacts.add(createReadStream(path), { signal, pin: true }),
    cache: {
      get: async key => state.store.get<BuildResult>(`buildcache/${key}`),
      put: async (key, result) => { await state.write(`buildcache/${key}`, result) }
    },
    logger: log.child({ component: 'role:builder' })
  }
  jobs.register('build', async ({ spec, signal, log: jobLog }) => {
    try {
      return await runBuild(spec, components, { signal, workDir, onLog: l => { jobLog(`${l.stream}: ${l.line}`) } })
    } catch (err) {
      // the same spec on the same toolchain fails the same way: no retry
      if (FINAL_BUILD_ERRORS.has((err as { code?: string }).code ?? '')) Object.assign(err as object, { retryable: false })
      throw err
    }
  }, { capacity: 2 })
}

const inputsSchema = z.object({
  lkrn: z.string().max(200).optional(),
  efiX64: z.string().max(200).optional(),
  efiArm64: z.string().max(200).optional(),
  undionly: z.string().max(200).optional(),
  ipxeEfi: z.string().max(200).optional(),
  snponly: z.string().max(200).optional()
}).strict()

export const packageSpecSchema = z.object({
  medium: z.enum(['iso', 'img', 'pxe']),
  endpoints: z.array(z.string().max(2000)).min(1).max(16),
  name: z.string().regex(/^[A-Za-z0-9._/-]{1,200}$/).optional(),
  inputs: inputsSchema.default({})
}).strict()

/** The distribution's binaries, as `ctpf ipxe import` names them. */
const DEFAULT_INPUTS = { lkrn: 'ipxe/ipxe.lkrn', efiX64: 'ipxe/ipxe.efi', undionly: 'ipxe/undionly.kpxe', ipxeEfi: 'ipxe/ipxe.efi', snponly: 'ipxe/snponly.efi' } as const

function startPackager ({ jobs, artifacts, dataDir, log }: MediaInit): void {
  const workDir = join(dataDir, 'packages')
  jobs.register('package', async ({ spec: raw, signal, log: jobLog }) => {
    const parsed = packageSpecSchema.safeParse(raw)
    if (!parsed.success) throw Object.assign(new Error(`package spec: ${parsed.error.issues.map(i => `${i.path.join('.')}: ${i.message}`).join('; ')}`), { code: 'PACKAGE_SPEC', retryable: false })
    const spec = parsed.data
    await mkdir(workDir, { recursive: true, mode: 0o700 })
    const dir = await mkdtemp(join(workDir, 'job-'))
    try {
      const inputs: Record<string, string> = { ...DEFAULT_INPUTS, ...spec.inputs }
      const wanted = spec.medium === 'pxe' ? ['undionly', 'ipxeEfi', 'snponly', 'efiArm64'] : ['lkrn', 'efiX64', 'efiArm64']
      const files: Record<string, string> = {}
      for (const key of wanted) {
        if (inputs[key] == null) continue
        files[key] = join(dir, `in-${key}`)
        await saveArtifact(artifacts, inputs[key], files[key], signal)
        jobLog(`input ${key}: ${inputs[key]}`)
      }
      const script = chainloadScript(spec.endpoints)
      const name = spec.name ?? `media/ctpf.${spec.medium}`
      if (spec.medium === 'pxe') {
        const out = join(dir, 'set')
        const r = await packagePxeSet({ files: { undionly: files.undionly, ipxeEfi: files.ipxeEfi, snponly: files.snponly, efiArm64: files.efiArm64 }, script, out }, { signal })
        const stored = []
        for (const f of await readdir(out)) {
          const a = await artifacts.add(createReadStream(join(out, f)), { signal, pin: true, name: `${name}/${f}` })
          stored.push({ name: `${name}/${f}`, cid: a.cid, size: a.size })
        }
        jobLog(`pxe set: ${stored.length} files in ${r.durationMs} ms`)
        return { medium: spec.medium, files: stored, durationMs: r.durationMs, steps: r.steps }
      }
      const out = join(dir, `out.${spec.medium}`)
      const pack = spec.medium === 'iso' ? packageIso : packageImg
      const r = await pack({ files: { lkrn: files.lkrn, efiX64: files.efiX64, efiArm64: files.efiArm64 } as { lkrn: string, efiX64: string }, script, out }, { signal })
      const a = await artifacts.add(createReadStream(out), { signal, pin: true, name })
      jobLog(`${spec.medium}: ${r.bytes} bytes in ${r.durationMs} ms`)
      return { medium: spec.medium, name, cid: a.cid, size: a.size, durationMs: r.durationMs, steps: r.steps }
    } finally {
      await rm(dir, { recursive: true, force: true })
    }
  }, { capacity: 2 })
  log.child({ component: 'role:packager' }).debug('package jobs on')
}
