/** Spec validation, cache keys, the ipxe recipe's commands and embedded script, the distribution iPXE import. */
import { existsSync, mkdtempSync, readFileSync, rmSync, mkdirSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import { chainloadScript } from '../../../protocols/boot/ipxe-script.js'
import {
  buildCacheKey, cacheKeyOf, canonicalJson, importDistributionIpxe, ipxeRecipe, ipxeSteps, IPXE_EMBED_PATH,
  parseBuildSpec, runBuild, BuildSpecError, type IpxeParams
} from '../../../roles/builder/index.js'
import { fakeComponents } from './fakes.js'

const CID = 'bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy'

function specError (input: unknown): BuildSpecError {
  try {
    parseBuildSpec(input)
  } catch (e) {
    if (e instanceof BuildSpecError) return e
    throw e
  }
  throw new Error('spec was accepted')
}

describe('build spec', () => {
  it('accepts a make spec and applies defaults', () => {
    const s = parseBuildSpec({ recipe: 'make', source: CID, vars: { CFLAGS: '-O2' }, targets: ['all'], outputs: ['src/a.out'] })
    expect(s.recipe.name).toBe('make')
    expect(s.params).toEqual({ dir: '.', jobs: 1 })
    expect(s.timeoutMs).toBe(30 * 60_000)
    expect(parseBuildSpec({ recipe: 'syslinux' }).outputs).toContain('out/syslinux/isolinux.bin')
    expect(parseBuildSpec({ recipe: 'ipxe', source: CID, params: { endpoints: ['http://h/boot.ipxe'] } }).outputs)
      .toEqual(['src/src/bin/undionly.kpxe', 'src/src/bin/ipxe.lkrn', 'src/src/bin-x86_64-efi/ipxe.efi', 'src/src/bin-arm64-efi/snp.efi'])
  })

  it('refuses bad specs with ERR_BUILD_SPEC and says what is wrong', () => {
    const cases: Array<[unknown, RegExp]> = [
      [null, /\(spec\)/],
      [{ recipe: 'cmake', source: CID, outputs: ['x'] }, /^recipe:/],
      [{ recipe: 'make', outputs: ['x'] }, /^source: the make recipe needs a source/],
      [{ recipe: 'make', source: CID }, /^outputs:/],
      [{ recipe: 'make', source: 'not-a-cid', outputs: ['x'] }, /^source: not a CID/],
      [{ recipe: 'make', source: CID, outputs: ['../etc/passwd'] }, /^outputs\.0:/],
      [{ recipe: 'make', source: CID, outputs: ['/etc/passwd'] }, /^outputs\.0:/],
      [{ recipe: 'make', source: CID, outputs: ['a/./b'] }, /^outputs\.0:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], targets: ['--eval=$(shell id)'] }, /^targets\.0:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], targets: ['A=B'] }, /^targets\.0:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], vars: { PATH: '/tmp' } }, /^vars\.PATH:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], vars: { LD_PRELOAD: 'x.so' } }, /^vars\.LD_PRELOAD:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], vars: { 'A-B': '1' } }, /^vars\.A-B:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], timeoutMs: 0 }, /^timeoutMs:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], limits: { memoryMiB: 1 } }, /^limits\.memoryMiB:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], limits: { swap: 1 } }, /^limits:/],
      [{ recipe: 'make', source: CID, outputs: ['x'], extra: 1 }, /^\(spec\):|^extra|Unrecognized/],
      [{ recipe: 'make', source: CID, outputs: ['x'], params: { jobs: 0 } }, /^params\.jobs:/],
      [{ recipe: 'ipxe', source: CID }, /^params\.endpoints:/],
      [{ recipe: 'ipxe', source: CID, params: { endpoints: ['http://h/${x}'] } }, /^params\.endpoints\.0:/],
      [{ recipe: 'grub', source: CID }, /^source: the grub recipe takes no source/],
      [{ recipe: 'grub', params: { platforms: ['arm64-efi'] } }, /^params\.platforms\.0:/]
    ]
    for (const [input, issue] of cases) {
      const e = specError(input)
      expect(e.code, JSON.stringify(input)).toBe('ERR_BUILD_SPEC')
      expect(e.issues.some(i => issue.test(i)), `${JSON.stringify(input)} → ${JSON.stringify(e.issues)}`).toBe(true)
    }
  })

  it('runBuild rejects a bad spec before touching any component', async () => {
    const c = fakeComponents()
    const err = await runBuild({ recipe: 'make' }, c).catch(e => e)
    expect(err.code).toBe('ERR_BUILD_SPEC')
    expect(c.calls).toEqual({ fetch: 0, store: 0, get: 0, put: 0 })
  })
})

describe('cache key', () => {
  it('is canonical: key order does not matter, every input does', () => {
    expect(canonicalJson({ b: 1, a: [{ d: 2, c: 'x' }], u: undefined })).toBe('{"a":[{"c":"x","d":2}],"b":1}')
    const base = { source: CID, recipe: { name: 'make', version: '1' }, vars: { A: '1', B: '2' }, targets: ['all'], params: { dir: '.' }, outputs: ['src/x'], toolchain: { cc: 'gcc 12' } }
    const k = buildCacheKey(base)
    expect(k).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(buildCacheKey({ ...base, vars: { B: '2', A: '1' } })).toBe(k)
    for (const changed of [
      { source: null }, { recipe: { name: 'make', version: '2' } }, { vars: { A: '1', B: '3' } }, { targets: ['install'] },
      { params: { dir: 'sub' } }, { outputs: ['src/y'] }, { toolchain: { cc: 'gcc 13' } }
    ]) expect(buildCacheKey({ ...base, ...changed }), JSON.stringify(changed)).not.toBe(k)
  })

  it('covers the toolchain of this agent and the resolved defaults', async () => {
    const a = await cacheKeyOf({ recipe: 'make', source: CID, outputs: ['src/x'] })
    expect(await cacheKeyOf({ recipe: 'make', source: CID, outputs: ['src/x'], params: { dir: '.', jobs: 1 } })).toBe(a)
    expect(await cacheKeyOf({ recipe: 'make', source: CID, outputs: ['src/x'], timeoutMs: 5000 })).toBe(a) // a deadline does not change the outputs
    expect(await cacheKeyOf({ recipe: 'make', source: CID, outputs: ['src/x'], params: { jobs: 2 } })).not.toBe(a)
  })
})

describe('ipxe recipe', () => {
  const params = (p: Partial<IpxeParams> = {}): IpxeParams => ({ endpoints: ['http://10.0.0.1:8080/boot.ipxe'], dir: 'src', jobs: 1, dhcpAttempts: 3, retryDelaySeconds: 10, ...p })
  const targets = ['bin/undionly.kpxe', 'bin/ipxe.lkrn', 'bin-x86_64-efi/ipxe.efi', 'bin-arm64-efi/snp.efi']

  it('runs make once per architecture, with EMBED= the generated script and CROSS= for the foreign one', () => {
    const steps = ipxeSteps({ jobDir: '/build', srcDir: '/build/src', vars: { DEBUG: 'dhcp' }, targets, params: params({ jobs: 2 }) }, 'x86')
    expect(steps).toEqual([
      { argv: ['make', '-C', '/build/src/src', '-j2', 'bin/undionly.kpxe', 'bin/ipxe.lkrn', 'bin-x86_64-efi/ipxe.efi', 'DEBUG=dhcp', 'EMBED=/build/.ctpf/embed.ipxe'] },
      { argv: ['make', '-C', '/build/src/src', '-j2', 'bin-arm64-efi/snp.efi', 'CROSS=aarch64-linux-gnu-', 'DEBUG=dhcp', 'EMBED=/build/.ctpf/embed.ipxe'] }
    ])
    // on an arm64 agent the x86 targets are the cross-compiled ones
    const onArm = ipxeSteps({ jobDir: '/build', srcDir: '/build/src', vars: {}, targets, params: params({ cross: { x86: 'x86_64-linux-gnu-' } }) }, 'arm64')
    expect(onArm[0].argv).toContain('CROSS=x86_64-linux-gnu-')
    expect(onArm[1].argv).not.toContainEqual(expect.stringMatching(/^CROSS=/))
    expect(() => ipxeSteps({ jobDir: '/build', srcDir: '/build/src', vars: { EMBED: '/etc/x' }, targets, params: params() }, 'x86')).toThrow(BuildSpecError)
  })

  it('writes the chainload script for its endpoints into the job dir', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctpf-bld-ipxe-'))
    try {
      mkdirSync(join(dir, '.ctpf'))
      const endpoints = ['http://10.0.0.1:8080/boot.ipxe', 'https://boot.example.org/boot.ipxe']
      const steps = await ipxeRecipe.prepare({ jobDir: '/build', hostJobDir: dir, srcDir: '/build/src', vars: {}, targets, params: params({ endpoints }), outputs: [] })
      expect(steps).toHaveLength(2)
      const script = readFileSync(join(dir, IPXE_EMBED_PATH), 'utf8')
      expect(script).toBe(chainloadScript(endpoints))
      expect(script.split('\n').filter(l => l.startsWith('chain '))).toEqual(endpoints.map(e => `chain --autofree ${e}?mac=\${mac}&uuid=\${uuid}&buildarch=\${buildarch}&platform=\${platform} ||`))
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
  })
})

describe('distribution iPXE', () => {
  const dirs: string[] = []
  afterAll(() => { for (const d of dirs) rmSync(d, { recursive: true, force: true }) })

  it.runIf(existsSync('/usr/lib/ipxe/undionly.kpxe'))('finds Debian\'s prebuilt binaries as ipxe/<file>', async () => {
    const files = await importDistributionIpxe()
    const names = files.map(f => f.name)
    for (const n of ['ipxe/undionly.kpxe', 'ipxe/ipxe.efi', 'ipxe/snponly.efi', 'ipxe/ipxe.lkrn']) expect(names).toContain(n)
    const undi = files.find(f => f.name === 'ipxe/undionly.kpxe')
    expect(undi?.path).toBe('/usr/lib/ipxe/undionly.kpxe')
    expect(undi?.size).toBeGreaterThan(10_000)
  })

  it('returns nothing when the package is absent', async () => {
    const empty = mkdtempSync(join(tmpdir(), 'ctpf-bld-noipxe-'))
    dirs.push(empty)
    expect(await importDistributionIpxe({ dirs: [join(empty, 'missing'), empty] })).toEqual([])
  })
})

describe('isolation', () => {
  it('falls back to no isolation with one warning, or refuses when bwrap is required', async () => {
    const { resolveIsolation } = await import('../../../roles/builder/index.js')
    const warnings: unknown[] = []
    const logger = { warn: (...args: unknown[]) => { warnings.push(args) } } as unknown as import('pino').Logger
    const broken = async (): Promise<string> => 'bwrap: No permissions to create new namespace'
    expect(await resolveIsolation('auto', logger, broken)).toBe('none')
    expect(await resolveIsolation('auto', logger, broken)).toBe('none')
    expect(warnings).toHaveLength(1)
    expect(JSON.stringify(warnings[0])).toMatch(/WITHOUT isolation/)
    const err = await resolveIsolation('bwrap', logger, broken).catch(e => e)
    expect(err.code).toBe('ERR_BUILD_SANDBOX_UNAVAILABLE')
    expect(await resolveIsolation('none', logger, broken)).toBe('none')
    expect(await resolveIsolation('auto', logger, async () => undefined)).toBe('bwrap')
  })
})

describe('job directories', () => {
  it('removes the job directories a crashed agent left behind, and nothing else', async () => {
    const { removeStaleJobDirs } = await import('../../../roles/builder/index.js')
    const work = mkdtempSync(join(tmpdir(), 'ctpf-bld-work-'))
    try {
      mkdirSync(join(work, 'ctpf-build-abc123/src'), { recursive: true })
      mkdirSync(join(work, 'keep-me'))
      expect(await removeStaleJobDirs(work)).toBe(1)
      expect(existsSync(join(work, 'ctpf-build-abc123'))).toBe(false)
      expect(existsSync(join(work, 'keep-me'))).toBe(true)
      expect(await removeStaleJobDirs(join(work, 'missing'))).toBe(0)
    } finally {
      rmSync(work, { recursive: true, force: true })
    }
  })
})
