/**
 * The make recipe for real: a small C project built by GNU make inside bubblewrap.
 */
import { execFileSync } from 'node:child_process'
import { chmodSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:net'
import { networkInterfaces, tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { runBuild, type LogLine } from '../../../roles/builder/index.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { fakeComponents } from './fakes.js'

const T = '\t'
const MAKEFILE = [
  'GREETING ?= nobody',
  'hello: hello.c',
  `${T}@echo compiling hello for $(GREETING)`,
  `${T}$(CC) -O1 -DGREETING='"$(GREETING)"' -o hello hello.c`,
  'env:',
  `${T}@env | sort | sed 's/^/ENV /'`,
  `${T}@echo "ULIMIT cpu=$$(ulimit -t) nofile=$$(ulimit -n) as=$$(ulimit -v)"`,
  'net:',
  `${T}@echo trying $(NET_HOST):$(NET_PORT)`,
  `${T}bash -c 'exec 3<>/dev/tcp/$(NET_HOST)/$(NET_PORT) && echo CONNECTED'`,
  'slow:',
  `${T}@echo started`,
  `${T}sleep $(MARK) & sleep $(MARK); echo finished`,
  'mem: mem.c',
  `${T}$(CC) -o mem mem.c && ./mem`,
  'spin:',
  `${T}@echo spinning`,
  `${T}sh -c 'while :; do :; done'`,
  'leak:',
  `${T}ln -sf /etc/hostname leak`,
  'outside:',
  `${T}echo x > $(OUTSIDE)/written-from-build`,
  ''
].join('\n')

const MEM_C = '#include <stdio.h>\n#include <stdlib.h>\n#include <string.h>\nint main(void) { size_t n = 400u << 20; char *p = malloc(n); if (p == NULL) { puts("alloc failed"); return 1; } memset(p, 1, n); puts("alloc ok"); return 0; }\n'
const HELLO_C = '#include <stdio.h>\nint main(void) { printf("hello from ctpf, %s\\n", GREETING); return 0; }\n'

/** Processes whose command line contains `needle` (our marker), other than us. */
function processesWith (needle: string): number[] {
  const found: number[] = []
  for (const pid of readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')
      const state = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.[0]
      if (cmd.includes(needle) && state !== 'Z') found.push(Number(pid))
    } catch {}
  }
  return found
}

function firstExternalAddress (): string | undefined {
  for (const list of Object.values(networkInterfaces())) {
    for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address
  }
  return undefined
}

describePrivileged('builder: make recipe in bubblewrap', ['bwrap', 'make', 'cc', 'prlimit'], () => {
  let root: string
  let project: string

  beforeAll(() => {
    root = mkdtempSync(join(tmpdir(), 'ctpf-bld-'))
    project = join(root, 'project')
    mkdirSync(project)
    writeFileSync(join(project, 'Makefile'), MAKEFILE)
    writeFileSync(join(project, 'hello.c'), HELLO_C)
    writeFileSync(join(project, 'mem.c'), MEM_C)
    mkdirSync(join(root, 'work'))
  })
  afterAll(() => { rmSync(root, { recursive: true, force: true }) })

  it('builds a C program whose stored output runs, with the job variables and a clean environment', async () => {
    const c = fakeComponents()
    const source = c.addSource(project)
    const lines: LogLine[] = []
    process.env.CTPF_BLD_HOST_ONLY = 'must-not-leak'
    let result
    try {
      result = await runBuild({ recipe: 'make', source, vars: { GREETING: 'nbg1' }, targets: ['hello', 'env'], outputs: ['src/hello'] },
        c, { isolation: 'bwrap', workDir: join(root, 'work'), onLog: l => lines.push(l) })
    } finally {
      delete process.env.CTPF_BLD_HOST_ONLY
    }
    expect(result.cached).toBe(false)
    expect(result.cacheKey).toMatch(/^sha256:[0-9a-f]{64}$/)
    expect(result.outputs).toHaveLength(1)
    const [out] = result.outputs
    expect(out.path).toBe('src/hello')
    const bytes = c.stored.get(out.cid)
    expect(bytes?.length).toBe(out.size)
    const bin = join(root, 'hello-from-store')
    writeFileSync(bin, bytes as Uint8Array)
    chmodSync(bin, 0o755)
    expect(execFileSync(bin, { encoding: 'utf8' })).toBe('hello from ctpf, nbg1\n')

    expect(lines).toContainEqual({ stream: 'stdout', line: 'compiling hello for nbg1' })
    const env = lines.filter(l => l.line.startsWith('ENV ')).map(l => l.line.slice(4))
    expect(env).toContain('GREETING=nbg1')
    expect(env).toContain('HOME=/build')
    expect(env.some(e => e.startsWith('CTPF_BLD_HOST_ONLY'))).toBe(false)
    expect(env.filter(e => !/^(GREETING|PATH|HOME|TMPDIR|LC_ALL|LANG|TZ|PWD|SHLVL|OLDPWD|_|MAKE[A-Z_]*|MFLAGS)=/.test(e))).toEqual([])
    // the job dir is removed afterwards
    expect(readdirSync(join(root, 'work'))).toEqual([])
  })

  it('applies resource limits (prlimit) and a CPU limit stops a runaway build', async () => {
    const c = fakeComponents()
    const source = c.addSource(project)
    const lines: LogLine[] = []
    await runBuild({ recipe: 'make', source, vars: {}, targets: ['env'], outputs: ['src/Makefile'], limits: { cpuSeconds: 30, maxFiles: 64, memoryMiB: 512 } },
      c, { isolation: 'bwrap', workDir: join(root, 'work'), onLog: l => lines.push(l) })
    expect(lines.map(l => l.line)).toContain('ULIMIT cpu=30 nofile=64 as=524288')

    const t0 = Date.now()
    const err = await runBuild({ recipe: 'make', source, vars: {}, targets: ['spin'], outputs: ['src/Makefile'], limits: { cpuSeconds: 1 }, timeoutMs: 60_000 },
      c, { isolation: 'bwrap', workDir: join(root, 'work') }).catch(e => e)
    expect(err.code).toBe('ERR_BUILD_FAILED')
    expect(Date.now() - t0).toBeLessThan(20_000)
    expect(c.calls.put).toBe(1)

    const memLines: LogLine[] = []
    const mem = await runBuild({ recipe: 'make', source, vars: {}, targets: ['mem'], outputs: ['src/mem'], limits: { memoryMiB: 200 } },
      c, { isolation: 'bwrap', workDir: join(root, 'work'), onLog: l => memLines.push(l) }).catch(e => e)
    expect(mem.code).toBe('ERR_BUILD_FAILED')
    expect(memLines.map(l => l.line)).toContain('alloc failed')
    // control: the same program allocates fine without the limit
    const ok = await runBuild({ recipe: 'make', source, vars: {}, targets: ['mem'], outputs: ['src/mem'] },
      c, { isolation: 'bwrap', workDir: join(root, 'work'), onLog: l => memLines.push(l) })
    expect(ok.cached).toBe(false)
    expect(memLines.map(l => l.line)).toContain('alloc ok')
  })

  it('has no network inside the sandbox (the same connect works without it)', async () => {
    const address = firstExternalAddress()
    const hosts = ['127.0.0.1', ...(address !== undefined ? [address] : [])]
    let connections = 0
    const servers: Server[] = []
    try {
      const ports: number[] = []
      for (const host of hosts) {
        const server = createServer(s => { connections++; s.end() })
        await new Promise<void>(resolve => server.listen(0, host, resolve))
        servers.push(server)
        ports.push((server.address() as { port: number }).port)
      }
      for (const [i, host] of hosts.entries()) {
        const c = fakeComponents()
        const source = c.addSource(project)
        const lines: LogLine[] = []
        const spec = { recipe: 'make', source, vars: { NET_HOST: host, NET_PORT: String(ports[i]) }, targets: ['net'], outputs: ['src/Makefile'] }
        const err = await runBuild(spec, c, { isolation: 'bwrap', workDir: join(root, 'work'), onLog: l => lines.push(l) }).catch(e => e)
        expect(err.code, host).toBe('ERR_BUILD_FAILED')
        expect(lines.map(l => l.line)).not.toContain('CONNECTED')
        expect(connections, host).toBe(0)
        expect(c.calls.store + c.calls.put).toBe(0)

        // control: the very same build without the sandbox reaches the server, so the test can fail
        const open = await runBuild(spec, c, { isolation: 'none', workDir: join(root, 'work'), onLog: l => lines.push(l) })
        expect(open.cached).toBe(false)
        expect(lines.map(l => l.line)).toContain('CONNECTED')
        expect(connections).toBe(1)
        connections = 0
      }
    } finally {
      for (const s of servers) s.close()
    }
  })

  it('a warm cache answers without fetching, running make or storing anything', async () => {
    const c = fakeComponents()
    const source = c.addSource(project)
    const spec = { recipe: 'make', source, vars: { GREETING: 'cache' }, targets: ['hello'], outputs: ['src/hello'] }
    const coldLines: LogLine[] = []
    const cold = await runBuild(spec, c, { isolation: 'bwrap', workDir: join(root, 'work'), onLog: l => coldLines.push(l) })
    expect(cold.cached).toBe(false)
    expect(coldLines.some(l => l.line === 'compiling hello for cache')).toBe(true)
    expect(c.calls).toEqual({ fetch: 1, store: 1, get: 1, put: 1 })

    const warmLines: LogLine[] = []
    const warm = await runBuild(spec, c, { isolation: 'bwrap', workDir: join(root, 'work'), onLog: l => warmLines.push(l) })
    expect(warm.cached).toBe(true)
    expect(warm.cacheKey).toBe(cold.cacheKey)
    expect(warm.outputs).toEqual(cold.outputs)
    expect(warmLines).toEqual([]) // make printed nothing: it did not run
    expect(c.calls).toEqual({ fetch: 1, store: 1, get: 2, put: 1 })
    expect(warm.durationMs).toBeLessThan(cold.durationMs)
    console.log(`make build: cold ${cold.durationMs} ms, warm ${warm.durationMs} ms`)

    // any change of the inputs misses
    const other = await runBuild({ ...spec, vars: { GREETING: 'other' } }, c, { isolation: 'bwrap', workDir: join(root, 'work') })
    expect(other.cached).toBe(false)
    expect(other.cacheKey).not.toBe(cold.cacheKey)
    expect(c.calls.put).toBe(2)
  })

  it('the warm run does not touch a file the build writes (unsandboxed proof that make did not run)', async () => {
    const c = fakeComponents()
    const source = c.addSource(project)
    const outside = join(root, 'outside')
    mkdirSync(outside, { recursive: true })
    const spec = { recipe: 'make', source, vars: { OUTSIDE: outside }, targets: ['outside'], outputs: ['src/Makefile'] }
    await runBuild(spec, c, { isolation: 'none', workDir: join(root, 'work') })
    rmSync(join(outside, 'written-from-build'))
    const warm = await runBuild(spec, c, { isolation: 'none', workDir: join(root, 'work') })
    expect(warm.cached).toBe(true)
    expect(readdirSync(outside)).toEqual([])
  })

  for (const isolation of ['bwrap', 'none'] as const) {
    it(`a build cancelled mid-way (${isolation}) stores nothing, caches nothing and leaves no process behind`, async () => {
      const c = fakeComponents()
      const source = c.addSource(project)
      const mark = `${4000 + Math.floor(Math.random() * 1000)}.${process.pid}`
      const controller = new AbortController()
      let sawStart!: () => void
      const started = new Promise<void>(resolve => { sawStart = resolve })
      const run = runBuild({ recipe: 'make', source, vars: { MARK: mark }, targets: ['slow'], outputs: ['src/Makefile'] }, c, {
        isolation,
        workDir: join(root, 'work'),
        signal: controller.signal,
        onLog: l => { if (l.line === 'started') sawStart() }
      }).catch(e => e)
      await started
      // both sleeps (the background one too) are running
      const until = Date.now() + 10_000
      while (processesWith(mark).length < 2 && Date.now() < until) await new Promise(resolve => setTimeout(resolve, 50))
      expect(processesWith(mark)).toHaveLength(2)
      const t0 = Date.now()
      controller.abort()
      const err = await run
      expect(err.code).toBe('ERR_BUILD_CANCELLED')
      expect(Date.now() - t0).toBeLessThan(5000)
      expect(processesWith(mark)).toEqual([])
      expect(c.calls.store).toBe(0)
      expect(c.calls.put).toBe(0)
      expect(c.entries.size).toBe(0)
      expect(readdirSync(join(root, 'work'))).toEqual([])
    })
  }

  it('a build past its timeout is killed and fails with ERR_BUILD_TIMEOUT', async () => {
    const c = fakeComponents()
    const source = c.addSource(project)
    const mark = `${5000 + Math.floor(Math.random() * 1000)}.${process.pid}`
    const t0 = Date.now()
    const err = await runBuild({ recipe: 'make', source, vars: { MARK: mark }, targets: ['slow'], outputs: ['src/Makefile'], timeoutMs: 1500 },
      c, { isolation: 'bwrap', workDir: join(root, 'work') }).catch(e => e)
    expect(err.code).toBe('ERR_BUILD_TIMEOUT')
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1400)
    expect(Date.now() - t0).toBeLessThan(10_000)
    expect(processesWith(mark)).toEqual([])
    expect(c.calls.store + c.calls.put).toBe(0)
  })

  it('a failing make, a missing output and a symlink out of the job dir are errors with codes', async () => {
    const c = fakeComponents()
    const source = c.addSource(project)
    const opts = { isolation: 'bwrap' as const, workDir: join(root, 'work') }
    const failed = await runBuild({ recipe: 'make', source, targets: ['no-such-target'], outputs: ['src/hello'] }, c, opts).catch(e => e)
    expect(failed.code).toBe('ERR_BUILD_FAILED')
    expect(failed.message).toMatch(/No rule to make target/)
    const missing = await runBuild({ recipe: 'make', source, targets: ['hello'], outputs: ['src/not-built'] }, c, opts).catch(e => e)
    expect(missing.code).toBe('ERR_BUILD_OUTPUT_MISSING')
    const leak = await runBuild({ recipe: 'make', source, targets: ['leak'], outputs: ['src/leak'] }, c, { ...opts, isolation: 'none' }).catch(e => e)
    expect(leak.code).toBe('ERR_BUILD_OUTPUT_INVALID')
    const unknown = await runBuild({ recipe: 'make', source: c.addSource(join(root, 'does-not-exist')), outputs: ['src/x'] }, c, opts).catch(e => e)
    expect(unknown.code).toBe('ERR_BUILD_SOURCE')
    expect(c.calls.store + c.calls.put).toBe(0)
  })
})
