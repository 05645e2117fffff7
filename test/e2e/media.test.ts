/**
 * `npm run e2e:media` (issue 7): the builder and packager roles end to end, driven only through
 * the `ctpf` CLI run inside a segment's server namespace.
 *
 * Agent A runs the distributor role on the segment (DHCP, TFTP, HTTP boot on :8080 serving the
 * fixture kernel + initramfs that prints `CTPF-BOOT-OK`, radvd) and is tagged
 * `role=builder+packager,name=a`; agent B joins it (same namespace, loopback mesh) tagged
 * `role=builder,name=b`. The steps share one mesh and run in order:
 * - Debian's iPXE binaries become artifacts (`ctpf ipxe import`);
 * - a small C project built on A with the cache cold (make runs, its output is in the job log,
 *   the binary runs), then the same build asked of B with the cache warm (no make, B can fetch
 *   the output through the mesh);
 * - a build whose Makefile sleeps 60 s is cancelled while it runs: no cache entry, no artifact,
 *   no process left;
 * - the .iso, the .img and a PXE set packaged for the endpoint `http://<A>:8080/boot.ipxe`;
 * - the .iso and the .img boot QEMU machines (TCG, NIC option ROM disabled so only the
 *   medium's iPXE drives the NIC) on BIOS (the embedded chainload script) and on UEFI (Debian's
 *   2019 ipxe.efi cannot run an embedded script, see roles/packager/efi.ts: it reaches the
 *   endpoint by DHCP autoboot from A's DHCP), each to `CTPF-BOOT-OK`.
 * Serial logs stay in .cache/e2e-logs/media-*.log.
 */
import { createHash } from 'node:crypto'
import { existsSync } from 'node:fs'
import { chmod, mkdir, readdir, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, afterEach, beforeAll, expect, it } from 'vitest'
import { BOOT_CACHE, CLI, agentApi, bootFiles, distributorConfig, startDistributorAgent } from '../helpers/distributor-agent.js'
import type { DistributorAgent } from '../helpers/distributor-agent.js'
import { Segment, sh } from '../helpers/netns.js'
import { describePrivileged } from '../helpers/privileged.js'
import { bootMachine } from '../helpers/qemu.js'
import type { BootOptions, Machine } from '../helpers/qemu.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const LOGS = join(ROOT, '.cache/e2e-logs')
const CMDLINE = 'console=ttyS0 quiet panic=-1'
const SOURCES = 12

interface Job {
  id: string
  status: string
  claim: { peer: string } | null
  result: any
  error: { code: string, message: string } | null
  createdAt: number
  updatedAt: number
  spec: any
}

const sleep = async (ms: number): Promise<void> => { await new Promise(resolve => setTimeout(resolve, ms)) }

/** Thrown inside an `until` condition: stop waiting at once. */
class GiveUp extends Error {}

async function until<T> (what: string, fn: () => Promise<T | undefined | false>, timeoutMs = 20_000, intervalMs = 200): Promise<T> {
  const end = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < end) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      if (err instanceof GiveUp) throw err
      last = err
    }
    await sleep(intervalMs)
  }
  throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}${last !== undefined ? `: ${String(last)}` : ''}`)
}

/** A C project of SOURCES files plus main.c; `make hello` links them, `make slow` sleeps after writing its output. */
async function writeProject (dir: string): Promise<void> {
  await mkdir(dir, { recursive: true })
  const objs: string[] = []
  for (let i = 0; i < SOURCES; i++) {
    // enough code per file that compiling is real work (the warm build must skip it)
    const fns = Array.from({ length: 40 }, (_, k) => `static unsigned f${k} (unsigned x) { for (unsigned j = 0; j < ${k + 3}u; j++) x = x * 2654435761u + ${i * 100 + k}u; return x ^ (x >> 13); }`)
    await writeFile(join(dir, `part${i}.c`), `${fns.join('\n')}\nunsigned part${i} (unsigned x) { return ${Array.from({ length: 40 }, (_, k) => `f${k}(x)`).join(' ^ ')}; }\n`)
    objs.push(`part${i}.o`)
  }
  await writeFile(join(dir, 'main.c'), [
    '#include <stdio.h>',
    ...Array.from({ length: SOURCES }, (_, i) => `unsigned part${i} (unsigned);`),
    'int main (void) {',
    '  unsigned x = 1;',
    ...Array.from({ length: SOURCES }, (_, i) => `  x ^= part${i}(x);`),
    '  printf("hello from ctpf-media %u\\n", x);',
    '  return 0;',
    '}', ''
  ].join('\n'))
  await writeFile(join(dir, 'Makefile'), [
    `OBJS = ${objs.join(' ')} main.o`,
    'CFLAGS ?= -O2',
    'hello: $(OBJS)',
    '\tcc -o hello $(OBJS)',
    '%.o: %.c',
    '\tcc $(CFLAGS) -c -o $@ $<',
    // the output exists before the sleep: a cancelled build that still collected outputs would show
    'slow:',
    '\techo partial > slow.out',
    '\t@echo CTPF-SLOW-BEFORE-SLEEP',
    '\tsleep 60',
    '\t@echo CTPF-SLOW-AFTER-SLEEP',
    '.PHONY: slow', ''
  ].join('\n'))
}

/** Processes (anywhere on the machine) whose environment carries `marker` (a build variable). */
async function processesWith (marker: string): Promise<number[]> {
  const found: number[] = []
  for (const pid of (await readdir('/proc')).filter(p => /^\d+$/.test(p))) {
    try {
      if ((await readFile(`/proc/${pid}/environ`, 'latin1')).split('\0').includes(marker)) found.push(Number(pid))
    } catch {}
  }
  return found
}

describePrivileged('e2e:media — build with a mesh-wide cache, package boot media, boot them in QEMU', ['ip', 'qemu-system-x86_64', 'radvd', 'curl', 'xorriso', 'mformat', 'syslinux', 'make', 'cc', 'tar'], () => {
  let seg: Segment
  let a: DistributorAgent
  let b: DistributorAgent
  let peerA: string
  let peerB: string
  let work: string
  let iso: string
  let img: string
  let endpoint: string
  let cold: { job: Job, wallMs: number } | undefined
  const machines: Machine[] = []
  const timings: Record<string, number> = {}

  /** `ctpf <args> --data-dir <agent>` in the server namespace; resolves to stdout. */
  async function ctpf (agent: DistributorAgent, args: string[], timeoutMs = 60_000): Promise<string> {
    const [cmd, ...rest] = seg.serverArgv([process.execPath, CLI, ...args, '--data-dir', agent.dir])
    try {
      return await sh(cmd as string, rest, timeoutMs)
    } catch (err) {
      const e = err as { message: string, stdout?: string, stderr?: string }
      throw new Error(`ctpf ${args.join(' ')} failed: ${e.message}\nstdout: ${e.stdout ?? ''}\nstderr: ${e.stderr ?? ''}`)
    }
  }
  const ctpfJson = async (agent: DistributorAgent, args: string[], timeoutMs?: number): Promise<any> => JSON.parse(await ctpf(agent, [...args, '--json'], timeoutMs))
  const jobLog = async (agent: DistributorAgent, id: string): Promise<string[]> =>
    (await ctpf(agent, ['job', 'logs', id, '--json'])).split('\n').filter(Boolean).map(l => JSON.parse(l).line as string)
  const stateKeys = async (agent: DistributorAgent, prefix: string): Promise<string[]> =>
    (await agentApi(seg, agent, `/state?prefix=${encodeURIComponent(prefix)}`)).map((e: { key: string }) => e.key)
  const pins = async (agent: DistributorAgent): Promise<string[]> => (await ctpfJson(agent, ['artifact', 'ls'])).map((p: { cid: string }) => p.cid)

  /** A build of the project, submitted at `agent` for the agent `name`; waits and measures submit→end. */
  async function build (agent: DistributorAgent, name: string): Promise<{ job: Job, wallMs: number }> {
    const t0 = performance.now()
    const job = await ctpfJson(agent, ['build', 'make', '--source-dir', join(work, 'src'), '--target', 'hello', '--output', 'src/hello', '--selector', `name=${name}`, '--wait'], 120_000) as Job
    return { job, wallMs: Math.round(performance.now() - t0) }
  }

  beforeAll(async () => {
    for (const f of ['vmlinuz', 'initrd.img']) {
      if (!existsSync(join(BOOT_CACHE, f))) throw new Error(`boot fixture ${join(BOOT_CACHE, f)} missing: run bash scripts/boot-fixtures.sh`)
    }
    await mkdir(LOGS, { recursive: true })
    seg = await Segment.create()
    work = await seg.tempDir('ctpf-media-')
    await writeProject(join(work, 'src'))
    endpoint = `http://${seg.serverAddress}:8080/boot.ipxe`
    a = await startDistributorAgent(seg, distributorConfig(seg, await bootFiles(seg), { profile: 'e2e', cmdline: CMDLINE }),
      { args: ['--tag', 'role=builder+packager', '--tag', 'name=a'] })
    // agent B joins A: same namespace, mesh on loopback, the invite token in a 0600 file
    const bDir = await seg.tempDir('ctpf-media-agent-b-')
    const tokenFile = join(bDir, 'invite.token')
    const { token } = await ctpfJson(a, ['invite', 'create'])
    await writeFile(tokenFile, `${String(token)}\n`, { mode: 0o600 })
    await chmod(tokenFile, 0o600)
    const proc = seg.spawnServer(['env', 'CTPF_LOG_LEVEL=info', process.execPath, CLI, 'agent', '--data-dir', bDir, '--listen', '/ip4/127.0.0.1/tcp/0',
      '--join-file', tokenFile, '--tag', 'role=builder', '--tag', 'name=b'])
    await proc.waitForOutput(/^control +http/m, 30_000)
    b = { proc, dir: bDir }
    peerA = (await agentApi(seg, a, '/status')).peerId
    peerB = (await agentApi(seg, b, '/status')).peerId
    // both agents know both agents (and the job kinds each runs) before any job is submitted
    for (const x of [a, b]) {
      await until('2 members and 2 agents/ records', async () =>
        (await agentApi(seg, x, '/members')).length === 2 && (await stateKeys(x, 'agents/')).length === 2, 30_000)
    }
  }, 90_000)

  afterEach(async () => { for (const m of machines.splice(0)) await m.kill() })

  afterAll(async () => {
    for (const m of machines.splice(0)) await m.kill()
    await seg?.destroy()
    console.info(`e2e:media, ms from QEMU start to CTPF-BOOT-OK: ${JSON.stringify(timings)}`)
  })

  it('ctpf ipxe import adds Debian\'s iPXE binaries as artifacts ipxe/<file>', async () => {
    const added = await ctpfJson(a, ['ipxe', 'import']) as Array<{ name: string, cid: string, size: number }>
    const byName = new Map(added.map(x => [x.name, x]))
    for (const f of ['ipxe.lkrn', 'ipxe.efi', 'undionly.kpxe', 'snponly.efi']) {
      const x = byName.get(`ipxe/${f}`)
      expect(x, `ipxe/${f}`).toBeDefined()
      expect(x?.size).toBe((await readFile(join('/usr/lib/ipxe', f))).length)
    }
    const pinned = await pins(a)
    for (const x of added) expect(pinned).toContain(x.cid)
  }, 60_000)

  it('a cold build on A runs make (its output is in the job log) and stores a binary that runs', async () => {
    const before = await stateKeys(a, 'buildcache/')
    cold = await build(a, 'a')
    const { job } = cold
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded')
    expect(job.claim?.peer).toBe(peerA)
    expect(job.result.cached).toBe(false)
    expect(job.result.cacheKey).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(job.result.outputs).toHaveLength(1)
    expect(job.result.outputs[0].path).toBe('src/hello')
    const log = (await jobLog(a, job.id)).join('\n')
    for (let i = 0; i < SOURCES; i++) expect(log).toContain(`cc -O2 -c -o part${i}.o part${i}.c`)
    expect(log).toMatch(/cc -o hello part0\.o/)
    // the cache entry is in the replicated state, once
    const after = await stateKeys(a, 'buildcache/')
    expect(after.filter(k => !before.includes(k))).toEqual([`buildcache/${String(job.result.cacheKey)}`])
    // the output artifact is the program, and it runs
    const out = join(work, 'hello-a')
    await ctpf(a, ['artifact', 'get', job.result.outputs[0].cid, '-o', out])
    expect((await readFile(out)).length).toBe(job.result.outputs[0].size)
    await chmod(out, 0o755)
    expect(await sh(out, [])).toMatch(/^hello from ctpf-media \d+\n$/)
    console.info(`e2e:media cold build: ${cold.wallMs} ms CLI submit→succeeded, ${job.updatedAt - job.createdAt} ms createdAt→updatedAt, builder durationMs ${String(job.result.durationMs)}`)
  }, 120_000)

  it('the same build asked of B is answered from the mesh-wide cache: no make, faster, the output fetched through the mesh', async () => {
    if (cold === undefined) throw new Error('the cold build did not run')
    const key = `buildcache/${String(cold.job.result.cacheKey)}`
    await until(`${key} replicated to B`, async () => (await stateKeys(b, 'buildcache/')).includes(key))
    const warm = await build(b, 'b')
    const { job } = warm
    expect(job.status, JSON.stringify(job.error)).toBe('succeeded')
    expect(job.claim?.peer).toBe(peerB)
    expect(job.result.cached).toBe(true)
    expect(job.result.cacheKey).toBe(cold.job.result.cacheKey)
    expect(job.result.outputs).toEqual(cold.job.result.outputs)
    const log = (await jobLog(b, job.id)).join('\n')
    expect(log).not.toMatch(/\bcc |make(\[\d+\])?: /)
    expect(job.result.durationMs).toBeLessThan(cold.job.result.durationMs)
    expect(job.updatedAt - job.createdAt).toBeLessThan(cold.job.updatedAt - cold.job.createdAt)
    // B holds no copy yet: it fetches the output from A through the mesh, byte for byte
    expect(await pins(b)).not.toContain(job.result.outputs[0].cid)
    const t0 = performance.now()
    const out = join(work, 'hello-b')
    await ctpf(b, ['artifact', 'get', job.result.outputs[0].cid, '-o', out])
    const fetchMs = Math.round(performance.now() - t0)
    const digest = async (p: string): Promise<string> => createHash('sha256').update(await readFile(p)).digest('hex')
    expect(await digest(out)).toBe(await digest(join(work, 'hello-a')))
    console.info(`e2e:media warm build on B: ${warm.wallMs} ms CLI submit→succeeded (cold ${cold.wallMs} ms), ` +
      `${job.updatedAt - job.createdAt} ms createdAt→updatedAt (cold ${cold.job.updatedAt - cold.job.createdAt} ms), ` +
      `builder durationMs ${String(job.result.durationMs)} (cold ${String(cold.job.result.durationMs)}); output fetched to B in ${fetchMs} ms`)
  }, 120_000)

  it('a build cancelled while make sleeps leaves no cache entry, no artifact and no process', async () => {
    const cacheBefore = await stateKeys(a, 'buildcache/')
    const pinsBefore = await pins(a)
    // a build variable is also in the environment of every process of the build: it finds them
    const marker = `MEDIA_RUN_TAG=ctpf-media-${seg.tag}`
    const { id } = await ctpfJson(a, ['build', 'make', '--source-dir', join(work, 'src'), '--target', 'slow', '--output', 'src/slow.out',
      '--var', marker, '--selector', 'name=a']) as { id: string }
    await until('the slow build running, past its first line', async () => {
      const j = await ctpfJson(a, ['job', 'show', id]) as Job
      if (['succeeded', 'failed', 'cancelled'].includes(j.status)) throw new GiveUp(`the slow build ended early: ${JSON.stringify(j)}`)
      return j.status === 'running' && (await jobLog(a, id)).some(l => l.includes('CTPF-SLOW-BEFORE-SLEEP'))
    }, 30_000)
    expect(await processesWith(marker)).not.toEqual([])
    const t0 = performance.now()
    // the cancel is recorded at once; the agent running the build stops it and reports
    const requested = await ctpfJson(a, ['job', 'cancel', id]) as Job
    expect(['running', 'cancelled']).toContain(requested.status)
    await until('the job cancelled', async () => (await ctpfJson(a, ['job', 'show', id]) as Job).status === 'cancelled', 15_000)
    const cancelledMs = Math.round(performance.now() - t0)
    // the whole process tree dies, and the job directory goes with it
    await until('the build\'s processes gone', async () => (await processesWith(marker)).length === 0, 15_000)
    const goneMs = Math.round(performance.now() - t0)
    await until('the job directory removed', async () => (await readdir(join(a.dir, 'builds'))).filter(d => !d.startsWith('.')).length === 0, 15_000)
    // give a late result every chance to show up before looking
    await sleep(2000)
    const j = await ctpfJson(a, ['job', 'show', id]) as Job
    expect(j.status).toBe('cancelled')
    expect(j.result ?? null).toBeNull()
    expect(j.attempts).toBe(1)
    const log = await jobLog(a, id)
    expect(log.join('\n')).not.toContain('CTPF-SLOW-AFTER-SLEEP')
    for (const x of [a, b]) expect(await stateKeys(x, 'buildcache/')).toEqual(cacheBefore)
    // only the source tar the CLI added is new
    expect((await pins(a)).filter(c => !pinsBefore.includes(c))).toEqual(pinsBefore.includes(j.spec.source) ? [] : [j.spec.source])
    console.info(`e2e:media cancel: after ctpf job cancel, the job is cancelled in ${cancelledMs} ms, the build's processes gone in ${goneMs} ms`)
  }, 90_000)

  it('packages the .iso, the .img and a PXE set for the boot endpoint, stored as named artifacts', async () => {
    const durations: Record<string, string> = {}
    const pkg = async (medium: string, extra: string[] = []): Promise<any> => {
      const t0 = performance.now()
      const job = await ctpfJson(a, ['package', medium, '--endpoint', endpoint, '--selector', 'name=a', '--wait', ...extra], 120_000) as Job
      expect(job.status, JSON.stringify(job.error)).toBe('succeeded')
      durations[medium] = `${Math.round(performance.now() - t0)} ms CLI / ${Math.round(job.result.durationMs as number)} ms packager`
      return job.result
    }
    const isoR = await pkg('iso')
    expect(isoR).toMatchObject({ medium: 'iso', name: 'media/ctpf.iso' })
    const imgR = await pkg('img')
    expect(imgR).toMatchObject({ medium: 'img', name: 'media/ctpf.img' })
    const pxeR = await pkg('pxe', ['--name', 'media/lab-pxe'])
    expect(pxeR.medium).toBe('pxe')
    const names = ['chain.ipxe', 'ipxe.efi', 'snponly.efi', 'undionly.kpxe']
    expect(pxeR.files.map((f: { name: string }) => f.name).sort()).toEqual(names.map(n => `media/lab-pxe/${n}`))
    // each file is a pinned artifact under its name, the loaders are Debian's bytes, the script chains the endpoint
    const pinned = await pins(a)
    const named = await stateKeys(a, 'names/media/lab-pxe/')
    for (const f of pxeR.files as Array<{ name: string, cid: string, size: number }>) {
      expect(pinned).toContain(f.cid)
      expect(named).toContain(`names/${f.name}`)
      const out = join(work, f.name.replace(/\//g, '_'))
      await ctpf(a, ['artifact', 'get', f.name, '-o', out])
      const bytes = await readFile(out)
      expect(bytes.length).toBe(f.size)
      const base = f.name.split('/').pop() as string
      if (base === 'chain.ipxe') {
        expect(bytes.toString()).toMatch(/^#!ipxe\n/)
        expect(bytes.toString()).toContain(`chain --autofree ${endpoint}?mac=`)
      } else {
        expect(bytes.equals(await readFile(join('/usr/lib/ipxe', base))), base).toBe(true)
      }
    }
    // the media come out of the store by name, as big as the packager said
    iso = join(work, 'ctpf.iso')
    img = join(work, 'ctpf.img')
    await ctpf(a, ['artifact', 'get', 'media/ctpf.iso', '-o', iso])
    await ctpf(a, ['artifact', 'get', 'media/ctpf.img', '-o', img])
    expect((await readFile(iso)).length).toBe(isoR.size)
    expect((await readFile(img)).length).toBe(imgR.size)
    expect(pinned).toEqual(expect.arrayContaining([isoR.cid, imgR.cid]))
    console.info(`e2e:media package, submit→succeeded vs the packager's own time: ${JSON.stringify(durations)}`)
  }, 120_000)

  async function boot (name: string, opts: Omit<BootOptions, 'segment' | 'serialLog' | 'romfile'>): Promise<Machine> {
    if (iso === undefined || img === undefined) throw new Error('the media were not packaged')
    const m = await bootMachine({ segment: seg, serialLog: join(LOGS, `media-${name}.log`), timeoutMs: 150_000, romfile: '', ...opts })
    machines.push(m)
    return m
  }

  /** BIOS: the medium's ipxe.lkrn runs the embedded script, which chains the endpoint; the profile boots. */
  async function expectEmbedded (name: string, vm: Machine, mac: string): Promise<void> {
    timings[name] = (await vm.waitFor(/^CTPF-BOOT-OK$/m, 120_000)).atMs
    expect(vm.log).toMatch(/ctpf: i386\/pcbios starting network boot/)
    expect(vm.log).toContain(`ctpf: trying endpoint 1 of 1: ${endpoint}`)
    expect(vm.log).toMatch(new RegExp(`ctpf: ${mac} \\(\\S+/pcbios\\) boots profile e2e`))
  }

  /** UEFI: ipxe.efi from the medium ignores the script and autoboots from A's DHCP answer. */
  async function expectDhcpAutoboot (name: string, vm: Machine, mac: string): Promise<void> {
    timings[name] = (await vm.waitFor(/^CTPF-BOOT-OK$/m, 120_000)).atMs
    expect(vm.log).toContain(`Filename: ${endpoint}`)
    expect(vm.log).toMatch(new RegExp(`ctpf: ${mac} \\(\\S+/efi\\) boots profile e2e`))
    expect(vm.log).not.toMatch(/Start PXE over IPv4/) // the medium booted, not the firmware's own PXE
  }

  it('the .iso as a CD-ROM on BIOS boots to the profile through the embedded script', async () => {
    const mac = '52:54:00:ca:07:01'
    await expectEmbedded('iso-bios-cdrom', await boot('iso-bios-cdrom', { mac, nic: 'e1000', firmware: 'bios', boot: { cdrom: iso } }), mac)
  }, 150_000)

  it('the same .iso as a USB stick / disk (isohybrid) on BIOS boots to the profile', async () => {
    const mac = '52:54:00:ca:07:02'
    await expectEmbedded('iso-bios-disk', await boot('iso-bios-disk', { mac, nic: 'e1000', firmware: 'bios', boot: { disk: iso } }), mac)
  }, 150_000)

  it('the .iso as a CD-ROM on UEFI boots to the profile (ipxe.efi, DHCP autoboot)', async () => {
    const mac = '52:54:00:ca:07:03'
    await expectDhcpAutoboot('iso-uefi-cdrom', await boot('iso-uefi-cdrom', { mac, nic: 'virtio-net-pci', firmware: 'uefi', boot: { cdrom: iso } }), mac)
  }, 150_000)

  it('the .img as a disk on BIOS boots to the profile through the embedded script', async () => {
    const mac = '52:54:00:ca:07:04'
    await expectEmbedded('img-bios-disk', await boot('img-bios-disk', { mac, nic: 'e1000', firmware: 'bios', boot: { disk: img } }), mac)
  }, 150_000)

  it('the .img as a disk on UEFI boots to the profile (EFI/BOOT/BOOTX64.EFI, DHCP autoboot)', async () => {
    const mac = '52:54:00:ca:07:05'
    await expectDhcpAutoboot('img-uefi-disk', await boot('img-uefi-disk', { mac, nic: 'virtio-net-pci', firmware: 'uefi', boot: { disk: img } }), mac)
  }, 150_000)
})
