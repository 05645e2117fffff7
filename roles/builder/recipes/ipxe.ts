/**
 * iPXE from a source tree (the artifact holds the iPXE repository; its Makefile is in `src/`),
 * with the ctpf chainload script embedded (`EMBED=`). Targets of another architecture than
 * this agent's are built in their own `make` run with `CROSS=<prefix>`
 * (arm64: `aarch64-linux-gnu-` unless `params.cross.arm64` says otherwise).
 */
import { writeFile } from 'node:fs/promises'
import { posix } from 'node:path'
import { z } from 'zod'
import { chainloadScript, endpointUrl, CHAINLOAD_SCRIPT_VERSION } from '../../../protocols/boot/ipxe-script.js'
import { BuildSpecError } from '../errors.js'
import { memoFingerprint, toolVersion } from '../toolchain.js'
import { relativeDir } from '../validate.js'
import { makeArgv } from './make.js'
import type { BuildStep, Recipe, RecipeContext } from './types.js'

export const IPXE_DEFAULT_TARGETS = ['bin/undionly.kpxe', 'bin/ipxe.lkrn', 'bin-x86_64-efi/ipxe.efi', 'bin-arm64-efi/snp.efi'] as const

/** Where the embedded script is written, relative to the job dir. */
export const IPXE_EMBED_PATH = '.ctpf/embed.ipxe'

export type IpxeArch = 'x86' | 'arm64' | 'arm32' | 'loong64' | 'riscv64'

const CROSS_DEFAULTS: Record<IpxeArch, string> = {
  x86: 'x86_64-linux-gnu-',
  arm64: 'aarch64-linux-gnu-',
  arm32: 'arm-linux-gnueabihf-',
  loong64: 'loongarch64-linux-gnu-',
  riscv64: 'riscv64-linux-gnu-'
}

const endpoint = z.string().superRefine((e, ctx) => {
  try { endpointUrl(e) } catch (err) { ctx.addIssue({ code: 'custom', message: (err as Error).message }) }
})

export const ipxeParams = z.object({
  /** Boot endpoints the embedded script tries in order (`http(s)://…/boot.ipxe`). */
  endpoints: z.array(endpoint).min(1).max(16),
  /** Directory of iPXE's Makefile inside the source tree. */
  dir: relativeDir.default('src'),
  jobs: z.number().int().min(1).max(64).default(1),
  /** Cross-compiler prefixes per architecture, for targets not of this agent's architecture. */
  cross: z.partialRecord(z.enum(['x86', 'arm64', 'arm32', 'loong64', 'riscv64']), z.string().regex(/^[A-Za-z0-9_.-]*$/)).optional(),
  dhcpAttempts: z.number().int().min(1).max(20).default(3),
  retryDelaySeconds: z.number().int().min(0).max(3600).default(10)
}).strict()

export type IpxeParams = z.output<typeof ipxeParams>

/** The architecture an iPXE build target is for: `bin/…` is x86 BIOS, `bin-<arch>-<platform>/…` says it. */
export function ipxeTargetArch (target: string): IpxeArch {
  const m = /^bin(?:-([a-z0-9_]+?)(?:-[a-z0-9]+)?)?\//.exec(target)
  const arch = m?.[1]
  if (arch === undefined || arch === 'i386' || arch === 'x86_64') return 'x86'
  if (arch === 'arm64' || arch === 'arm32' || arch === 'loong64' || arch === 'riscv64') return arch
  throw new BuildSpecError(`cannot tell the architecture of iPXE target ${target}`, [`targets: ${target}`])
}

function hostArch (): IpxeArch {
  switch (process.arch) {
    case 'arm64': return 'arm64'
    case 'arm': return 'arm32'
    case 'loong64': return 'loong64'
    case 'riscv64': return 'riscv64'
    default: return 'x86'
  }
}

/** The make runs for the targets (one per architecture, in first-seen order); pure. */
export function ipxeSteps (ctx: Pick<RecipeContext<IpxeParams>, 'jobDir' | 'srcDir' | 'vars' | 'targets' | 'params'>, host: IpxeArch = hostArch()): BuildStep[] {
  for (const reserved of ['EMBED', 'CROSS']) {
    if (reserved in ctx.vars) throw new BuildSpecError(`the ipxe recipe sets ${reserved} itself`, [`vars.${reserved}: set by the recipe (use params.endpoints / params.cross)`])
  }
  const groups = new Map<IpxeArch, string[]>()
  for (const t of ctx.targets) {
    const arch = ipxeTargetArch(t)
    groups.set(arch, [...(groups.get(arch) ?? []), t])
  }
  const embed = posix.join(ctx.jobDir, IPXE_EMBED_PATH)
  return [...groups].map(([arch, targets]) => {
    const vars: Record<string, string> = { ...ctx.vars, EMBED: embed }
    if (arch !== host) vars.CROSS = ctx.params.cross?.[arch] ?? CROSS_DEFAULTS[arch]
    return { argv: makeArgv(posix.join(ctx.srcDir, ctx.params.dir), ctx.params.jobs, targets, vars) }
  })
}

export const ipxeRecipe: Recipe<IpxeParams> = {
  name: 'ipxe',
  version: `1+script${CHAINLOAD_SCRIPT_VERSION}`,
  source: 'required',
  params: ipxeParams,
  requiredTools: () => ['make'],
  defaultTargets: () => [...IPXE_DEFAULT_TARGETS],
  defaultOutputs: (params, targets) => targets.map(t => posix.join('src', params.dir, t)),
  toolchain: async () => await memoFingerprint('ipxe', async () => {
    const tools = ['make', 'cc', 'ld', 'as', 'objcopy', 'perl', 'aarch64-linux-gnu-gcc', 'x86_64-linux-gnu-gcc']
    const versions = await Promise.all(tools.map(async t => await toolVersion(t)))
    return Object.fromEntries(tools.map((t, i) => [t, versions[i]]))
  }),
  prepare: async (ctx) => {
    const steps = ipxeSteps(ctx)
    const script = chainloadScript(ctx.params.endpoints, { dhcpAttempts: ctx.params.dhcpAttempts, retryDelaySeconds: ctx.params.retryDelaySeconds })
    await writeFile(posix.join(ctx.hostJobDir, IPXE_EMBED_PATH), script, { mode: 0o644 })
    return steps
  }
}
