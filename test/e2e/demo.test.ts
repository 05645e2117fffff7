/**
 * `npm run demo` (issue 10): scripts/demo.mjs runs as a child process, as an operator would run
 * it, and its timeline is checked step by step — the topology with two NATed datacenters and a
 * relay, agents joined with invites and connected only through the relay, iPXE imported, media
 * and a PXE set packaged, the boot artifacts, the dcs' general keys, a profile and groups, a
 * BIOS and a UEFI machine network-booted into the registry, `ctpf ssh run` on them, a ping over
 * the overlay from the other datacenter — and that nothing it made is left afterwards, also
 * when it is interrupted.
 *
 * Runs from the bundle (CTPF_CLI, default dist/ctpf.mjs) and the boot fixtures
 * (CTPF_BOOT_CACHE, default .cache/boot, which must have the dropbear initramfs of
 * scripts/boot-fixtures.sh).
 */
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, expect, it } from 'vitest'
import { sh } from '../helpers/netns.js'
import { describePrivileged } from '../helpers/privileged.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const DEMO = join(ROOT, 'scripts/demo.mjs')

/** Every step that must have run (`ok`) whatever else happened. */
const ALWAYS = ['topology', 'agents', 'ipxe', 'media', 'paths', 'artifacts', 'dc-keys', 'profile', 'boot', 'registry', 'ssh', 'overlay', 'cleanup']

/** The runs' log directories (not named ctpf-demo-…: a demo sweeps stale dirs of that name). */
const logDirs: string[] = []

interface DemoRun { code: number | null, signal: NodeJS.Signals | null, out: string, runId: string, tmp: string, logs: string }

/** Starts the demo (its logs in a fresh directory); `onLine` sees every stdout line as it arrives. */
function startDemo (onLine: (line: string, kill: (s: NodeJS.Signals) => void) => void = () => {}): Promise<DemoRun> {
  const logs = mkdtempSync(join(tmpdir(), 'ctpf-demotest-logs-'))
  logDirs.push(logs)
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DEMO], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, CTPF_DEMO_LOGS: logs } })
    let out = ''
    let partial = ''
    const kill = (s: NodeJS.Signals): void => { child.kill(s) }
    child.stdout.setEncoding('utf8').on('data', (s: string) => {
      out += s
      const lines = (partial + s).split('\n')
      partial = lines.pop() ?? ''
      for (const l of lines) onLine(l, kill)
    })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { out += s })
    child.once('error', reject)
    child.once('exit', (code, signal) => {
      const head = /run (ctpfdemo-[0-9a-z]+)-\*, temp (\S+),/.exec(out)
      resolve({ code, signal, out, runId: head?.[1] ?? '', tmp: head?.[2] ?? '', logs })
    })
  })
}

const stepLine = (out: string, status: 'ok' | 'skip' | 'FAIL', step: string): RegExpExecArray | null =>
  new RegExp(`^\\[ *\\d+\\.\\ds\\] ${status} +${step.replace(/-/g, '\\-')} +(.*)$`, 'm').exec(out)

/** What the run left: namespaces of its run id, its temp dir, processes whose command line names its temp or log dir (agents, QEMU). */
async function leftovers (run: DemoRun): Promise<string[]> {
  const left: string[] = []
  const nss = (await sh('ip', ['netns', 'list'])).split('\n').map(l => l.split(' ')[0] ?? '').filter(n => n.startsWith(`${run.runId}-`))
  left.push(...nss.map(n => `namespace ${n}`))
  if (run.tmp !== '' && existsSync(run.tmp)) left.push(`temp dir ${run.tmp}`)
  for (const pid of readdirSync('/proc').filter(p => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ')
      if ((run.tmp !== '' && cmd.includes(run.tmp)) || cmd.includes(run.logs)) left.push(`process ${pid}: ${cmd.slice(0, 200)}`)
    } catch {}
  }
  return left
}

describePrivileged('npm run demo — the whole story in network namespaces', ['ip', 'iptables', 'qemu-system-x86_64', 'radvd', 'curl', 'busybox'], () => {
  afterAll(() => { for (const d of logDirs.splice(0)) rmSync(d, { recursive: true, force: true }) })

  it('a demo interrupted while its machines boot (SIGINT) stops them and the agents, removes everything it made and exits 130', async () => {
    let sent = false
    const run = await startDemo((line, kill) => {
      // 3 s after the profile step the machines have started (and no machine boots in 3 s):
      // agents, distributors and both QEMU machines are running
      if (!sent && /^\[ *\d+\.\ds\] ok +profile /.test(line)) { sent = true; setTimeout(() => { kill('SIGINT') }, 3000) }
    })
    expect(sent, run.out).toBe(true)
    expect(run.runId, run.out).not.toBe('')
    expect(run.code, run.out).toBe(130)
    expect(run.out).toMatch(/interrupted by SIGINT: cleaning up/)
    // the three agents and the two QEMU machines
    expect(stepLine(run.out, 'ok', 'cleanup')?.[1], run.out).toMatch(/^5 processes stopped, 6 namespaces and the temp dir removed$/)
    expect(stepLine(run.out, 'ok', 'boot')).toBeNull()
    expect(await leftovers(run)).toEqual([])
  }, 180_000)

  it('what a demo killed outright (SIGKILL) left is removed by the next run', async () => {
    let killed = false
    const first = await startDemo((line, kill) => {
      if (!killed && /^\[ *\d+\.\ds\] ok +agents /.test(line)) { killed = true; kill('SIGKILL') }
    })
    expect(killed, first.out).toBe(true)
    expect(first.signal).toBe('SIGKILL')
    // a killed process cleans nothing: its namespaces, agents and temp dir are still there
    expect((await leftovers(first)).filter(l => l.startsWith('namespace '))).toHaveLength(6)
    let stopped = false
    const second = await startDemo((line, kill) => {
      if (!stopped && /^\[ *\d+\.\ds\] ok +topology /.test(line)) { stopped = true; kill('SIGINT') }
    })
    expect(second.out).toMatch(new RegExp(`removed what an interrupted run left: .*${first.runId}-wan`))
    expect(second.code, second.out).toBe(130)
    expect(await leftovers(first)).toEqual([])
    expect(await leftovers(second)).toEqual([])
  }, 180_000)

  it('runs every step to the end with its timeline and leaves nothing behind', async () => {
    const run = await startDemo()
    const out = run.out
    console.info(`demo timeline:\n${out}`)
    expect(run.runId, out).not.toBe('')
    for (const step of ALWAYS) expect(stepLine(out, 'ok', step), `step ${step}:\n${out}`).not.toBeNull()
    expect(out).not.toMatch(/^\[ *\d+\.\ds\] FAIL /m)

    // the mesh: founded by the relay, two joined; dc1 and dc2 only through the relay
    expect(stepLine(out, 'ok', 'agents')?.[1]).toContain('(3 members)')
    expect(stepLine(out, 'ok', 'paths')?.[1]).toMatch(/^dc1 ↔ dc2 relayed through the relay/)
    expect(stepLine(out, 'ok', 'ipxe')?.[1]).toMatch(/ipxe\/ipxe\.efi.*ipxe\/undionly\.kpxe/)
    expect(stepLine(out, 'ok', 'media')?.[1]).toMatch(/package iso → media\/ctpf\.iso .*package pxe → .*media\/demo-pxe\/ipxe\.efi/)
    expect(stepLine(out, 'ok', 'dc-keys')?.[1]).toMatch(/^dc1 SHA256:\S+ \(sealed to 1 ssh agent\); dc2 SHA256:\S+ \(sealed to 1 ssh agent\)$/)
    // both machines booted, phoned home and are installed, with their lifecycle
    expect(stepLine(out, 'ok', 'boot')?.[1]).toMatch(/^A \(BIOS, iPXE ROM\) in dc1 installed after [\d.]+ s; B \(UEFI, OVMF PXE → ipxe\.efi\) in dc2 installed after [\d.]+ s$/)
    // A's NIC ROM chained dc1's boot endpoint; B's firmware loaded the packaged PXE set's ipxe.efi from dc2
    expect(out).toMatch(/^ +A: the NIC's iPXE chained http:\/\/10\.61\.1\.1:8080\/boot\.ipxe → 52:54:00:de:01:0a \S+\/pcbios boots profile demo → DEMO-POST-INSTALL mac=52:54:00:de:01:0a profile=demo group=machine-a$/m)
    expect(out).toMatch(/^ +B: OVMF loaded ipxe\.efi over TFTP \(\d+ bytes, the PXE set's media\/demo-pxe\/ipxe\.efi\) → 52:54:00:de:02:0b x86_64\/efi boots profile demo → DEMO-POST-INSTALL mac=52:54:00:de:02:0b profile=demo group=machine-b$/m)
    expect(stepLine(out, 'ok', 'registry')?.[1]).toBe('ctpf host ls: 2 hosts installed')
    expect(out).toMatch(/^ +52-54-00-de-01-0a {2}dc1 {2}installed {2}10\.61\.1\.\d+ {2}profile demo {2}host key ssh-ed25519 /m)
    expect(out).toMatch(/^ +52-54-00-de-02-0b {2}dc2 {2}installed {2}10\.61\.2\.\d+ {2}profile demo {2}host key ssh-ed25519 /m)
    expect(out.match(/^ +discovered → booting \+[\d.]+s → installing \+[\d.]+s → installed \+[\d.]+s$/gm)).toHaveLength(2)

    // the post-install command ran over SSH on both machines, and dc2 reached machine A over the overlay
    expect(stepLine(out, 'ok', 'ssh')?.[1]).toBe('ctpf ssh run -- uname -a: dc1 1 ok, 0 failed; dc2 1 ok, 0 failed')
    expect(out).toMatch(/^ +dc1 {2}52-54-00-de-01-0a {2}ok {2}exit 0 .* Linux /m)
    expect(out).toMatch(/^ +dc2 {2}52-54-00-de-02-0b {2}ok {2}exit 0 .* Linux /m)
    expect(stepLine(out, 'ok', 'overlay')?.[1]).toMatch(/^dc2 → machine A 10\.61\.1\.\d+ over the overlay: 3\/3 ICMP replies, avg [\d.]+ ms; ctpf net ping [\d.]+ ms via dc1 \(relayed\)$/)
    expect(out).not.toMatch(/^\[ *[\d.]+s\] skip /m)
    expect(run.code, out).toBe(0)
    expect(out).toMatch(/^\[ *\d+\.\ds\] demo complete in [\d.]+ s$/m)
    const total = Number(/demo complete in ([\d.]+) s/.exec(out)?.[1])
    expect(total).toBeLessThan(300)
    expect(await leftovers(run)).toEqual([])
  }, 420_000)
})
