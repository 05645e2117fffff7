/**
 * Issue 5's last benchmark: QEMU power-on to the boot script, and to the booted initramfs,
 * from a ctpf agent running the distributor role vs a stand-in — Debian's dnsmasq (DHCP +
 * TFTP) with a small Node HTTP server — serving the same files. Goal: ours ≤ 1.05×.
 *
 * Run by scripts/bench/pxe-boot.mjs (vitest, config pxe-boot.vitest.config.ts), never by the
 * tests. Each of CTPF_BENCH_RUNS runs (default 3) boots the same machine twice, each time on a
 * fresh segment (test/helpers/netns.ts) with radvd on it, the order alternating per run:
 *   dnsmasq  dnsmasq (dhcp-boot gives iPXE the script URL, as test/e2e/pxe-harness.test.ts)
 *            + the Node HTTP server, radvd on the bridge (Segment.startRadvd)
 *   ours     the agent with the distributor role as test/e2e/pxe.test.ts starts it: full
 *            DHCP, TFTP, HTTP on 8080, profile `bench`, its own radvd (same config)
 * The machine: BIOS, e1000, QEMU's iPXE NIC ROM, TCG (test/helpers/qemu.ts).
 *
 * Both scripts echo the same line, `ctpf: <mac> (i386/pcbios) boots profile bench`, then
 * load kernel + initrd over HTTP with the same command line. Ours answers iPXE's first
 * request with a script that chains back with the machine's identity (one more round trip);
 * the stand-in answers the boot script at once. Measured from QEMU start (serial console):
 *   dhcp     iPXE's `Configuring (net0 …) ok`
 *   request  iPXE's `Filename: http://…/boot.ipxe`, printed just before the first HTTP request
 *   script   the script's echo line — "power-on to script"
 *   marker   `CTPF-BOOT-OK` from the initramfs
 * Serial logs go to .cache/bench-logs/.
 *
 * iPXE waits 2 s after a DHCPOFFER for ProxyDHCP offers (DHCP_DISC_PROXY_TIMEOUT_SEC) unless
 * the offer says `PXEClient` in option 60 (ours does, for PXE clients) or carries iPXE's
 * no-pxedhcp (option 175.176). dnsmasq configured as in pxe-harness sends neither, so its
 * machines wait. CTPF_BENCH_DNSMASQ_NO_PXEDHCP=1 gives dnsmasq's iPXE answers no-pxedhcp = 1,
 * for a comparison without that wait.
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { loadavg } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { execFileSync } from 'node:child_process'
import { afterAll, beforeAll, describe, it } from 'vitest'
import { Segment, sh } from '../../test/helpers/netns.js'
import { bootMachine, type Machine } from '../../test/helpers/qemu.js'
import { bootFiles, distributorConfig, startDistributorAgent } from '../../test/helpers/distributor-agent.js'
import type { NsProcess } from '../../test/helpers/netns.js'
// @ts-expect-error plain JavaScript, no types
import { header, machine } from './lib.mjs'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const CACHE = process.env.CTPF_BOOT_CACHE ?? join(ROOT, '.cache/boot')
const LOGS = join(ROOT, '.cache/bench-logs')
const CLI = join(ROOT, 'dist/ctpf.mjs')
const RUNS = Number(process.env.CTPF_BENCH_RUNS ?? '3')
const MAC = '52:54:00:c9:00:01'
const PROFILE = 'bench'
const CMDLINE = 'console=ttyS0 quiet panic=-1'
const HTTP_PORT = 8080
const GOAL = 1.05
const DNSMASQ_NO_PXEDHCP = process.env.CTPF_BENCH_DNSMASQ_NO_PXEDHCP === '1'

type Side = 'dnsmasq' | 'ours'
const MEASURES = ['dhcp', 'request', 'script', 'marker'] as const
type Measure = typeof MEASURES[number]
interface Result { run: number, side: Side, slot: number, load: number, t: Record<Measure, number> }

/**
 * The stand-in's HTTP side: /boot.ipxe answers the boot script (the same shape as ours:
 * echo, kernel + initrd over HTTP, boot), /files/<name> the fixtures. One JSON line per request.
 */
const HTTP_SERVER = `
const http = require('node:http')
const fs = require('node:fs')
const path = require('node:path')
const [addr, port, dir, profile, cmdline] = process.argv.slice(1)
const base = 'http://' + addr + ':' + port
const files = new Set(['vmlinuz', 'initrd.img'])
const script = () => ['#!ipxe', 'echo ctpf: \${mac} (\${buildarch}/\${platform}) boots profile ' + profile,
  'kernel ' + base + '/files/vmlinuz ' + cmdline + ' initrd=initrd.img', 'initrd ' + base + '/files/initrd.img', 'boot', ''].join('\\n')
http.createServer((req, res) => {
  const url = new URL(req.url, 'http://x')
  process.stdout.write(JSON.stringify({ method: req.method, path: url.pathname, from: req.socket.remoteAddress }) + '\\n')
  if (url.pathname === '/boot.ipxe') { res.setHeader('content-type', 'text/plain'); res.end(script()); return }
  const name = url.pathname.startsWith('/files/') ? url.pathname.slice(7) : ''
  if (!files.has(name)) { res.statusCode = 404; res.end(); return }
  const p = path.join(dir, name)
  res.setHeader('content-length', fs.statSync(p).size)
  fs.createReadStream(p).pipe(res)
}).listen(Number(port), addr, () => process.stdout.write(JSON.stringify({ listening: true }) + '\\n'))
`

/** The boot files both sides serve: the fixtures and Debian's iPXE binaries, copied to a fresh dir. */

/** dnsmasq as DHCP + TFTP (as in pxe-harness.test.ts) plus the Node HTTP server; radvd on the bridge. */
async function startStandIn (seg: Segment): Promise<NsProcess[]> {
  await seg.startRadvd()
  const files = await bootFiles(seg)
  const dir = await seg.tempDir('ctpf-dnsmasq-')
  const http = `http://${seg.serverAddress}:${HTTP_PORT}`
  const conf = join(dir, 'dnsmasq.conf')
  await writeFile(conf, [
    'port=0', `interface=${seg.serverIf}`, 'bind-interfaces', 'no-resolv', 'no-hosts', 'log-dhcp', 'no-ping',
    `dhcp-range=${seg.net}.100,${seg.net}.150,255.255.255.0,10m`,
    `dhcp-leasefile=${join(dir, 'leases')}`, `pid-file=${join(dir, 'pid')}`, 'user=root', 'group=root',
    'enable-tftp', `tftp-root=${files}`,
    'dhcp-userclass=set:ipxe,iPXE',
    'dhcp-match=set:efi64,option:client-arch,7',
    'dhcp-match=set:efi64,option:client-arch,9',
    `dhcp-boot=tag:ipxe,${http}/boot.ipxe`,
    // encapsulated iPXE option 176 (no-pxedhcp), length 1, value 1
    ...(DNSMASQ_NO_PXEDHCP ? ['dhcp-option=tag:ipxe,175,b0:01:01'] : []),
    'dhcp-boot=tag:!ipxe,tag:efi64,ipxe.efi',
    'dhcp-boot=tag:!ipxe,tag:!efi64,undionly.kpxe',
    ''
  ].join('\n'))
  const dnsmasq = seg.spawnServer(['dnsmasq', '--no-daemon', `--conf-file=${conf}`])
  await dnsmasq.waitForOutput(/DHCP, IP range/, 10_000)
  const web = seg.spawnServer([process.execPath, '-e', HTTP_SERVER, seg.serverAddress, String(HTTP_PORT), files, PROFILE, CMDLINE])
  await web.waitForOutput(/"listening":true/, 10_000)
  return [dnsmasq, web]
}

/** The agent with the distributor role, configured and started as test/e2e/pxe.test.ts does. */
async function startOurs (seg: Segment): Promise<NsProcess[]> {
  const agent = await startDistributorAgent(seg, distributorConfig(seg, await bootFiles(seg), { profile: PROFILE, cmdline: CMDLINE }))
  return [agent.proc]
}

const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')

/** One boot on a fresh segment; everything is torn down whatever happens. */
async function measure (side: Side, run: number, slot: number): Promise<Result> {
  const seg = await Segment.create()
  let vm: Machine | undefined
  try {
    if (side === 'ours') await startOurs(seg)
    else await startStandIn(seg)
    // let the servers' start-up settle before power-on
    await new Promise(resolve => setTimeout(resolve, 1000))
    const load = loadavg()[0] as number
    const url = `http://${seg.serverAddress}:${HTTP_PORT}/boot.ipxe`
    vm = await bootMachine({ segment: seg, mac: MAC, nic: 'e1000', firmware: 'bios', boot: 'pxe', serialLog: join(LOGS, `pxe-boot-r${run}-${side}.log`), timeoutMs: 180_000 })
    const steps: Array<[Measure, RegExp]> = [
      ['dhcp', /Configuring \(net0 .*ok$/m],
      ['request', new RegExp(`Filename: ${esc(url)}$`, 'm')],
      ['script', new RegExp(`ctpf: ${esc(MAC)} \\(i386/pcbios\\) boots profile ${PROFILE}`)],
      ['marker', /^CTPF-BOOT-OK$/m]
    ]
    const t = {} as Record<Measure, number>
    const deadline = Date.now() + 150_000
    for (const [label, re] of steps) t[label] = (await vm.waitFor(re, Math.max(1, deadline - Date.now()))).atMs
    return { run, side, slot, load, t }
  } finally {
    await vm?.kill()
    await seg.destroy()
  }
}

function median (xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b)
  const m = Math.floor(s.length / 2)
  return s.length % 2 === 1 ? s[m] as number : ((s[m - 1] as number) + (s[m] as number)) / 2
}

const sec = (ms: number): string => (ms / 1000).toFixed(2).padStart(6)

describe(`PXE boot: power-on to script and to CTPF-BOOT-OK, ours vs dnsmasq (${RUNS} runs)`, () => {
  const results: Result[] = []

  beforeAll(async () => {
    if (typeof process.getuid !== 'function' || process.getuid() !== 0) throw new Error('the PXE boot benchmark needs root')
    for (const t of ['ip', 'qemu-system-x86_64', 'dnsmasq', 'radvd']) {
      try { execFileSync('sh', ['-c', 'command -v "$1"', 'sh', t], { stdio: 'ignore' }) } catch { throw new Error(`missing ${t} (run scripts/install-test-deps.sh)`) }
    }
    for (const f of [CLI, join(CACHE, 'vmlinuz'), join(CACHE, 'initrd.img')]) {
      if (!existsSync(f)) throw new Error(`${f} missing: npm run build && bash scripts/boot-fixtures.sh`)
    }
    if (!Number.isInteger(RUNS) || RUNS < 1) throw new Error(`CTPF_BENCH_RUNS must be a positive integer, not ${String(process.env.CTPF_BENCH_RUNS)}`)
    await mkdir(LOGS, { recursive: true })
    header('pxe-boot: QEMU power-on to script, ours vs dnsmasq')
  })

  afterAll(() => {
    if (results.length === 0) return
    const out: string[] = []
    out.push('')
    out.push(`# pxe-boot: QEMU power-on to script, ours vs dnsmasq — ${new Date().toISOString()} — ${machine() as string}`)
    out.push(`# BIOS, e1000, QEMU's iPXE NIC ROM, -accel tcg; fresh segment + radvd per boot; seconds after QEMU start; goal ours ≤ ${GOAL.toFixed(2)}× dnsmasq`)
    out.push(`# dnsmasq: ${DNSMASQ_NO_PXEDHCP ? 'with iPXE no-pxedhcp=1 (CTPF_BENCH_DNSMASQ_NO_PXEDHCP=1)' : 'as in pxe-harness (iPXE waits 2 s for ProxyDHCP offers)'}`)
    out.push(`run  side     first  load1   ${MEASURES.map(m => m.padStart(6)).join('  ')}`)
    for (const r of results) out.push(`${String(r.run).padStart(3)}  ${r.side.padEnd(7)}  ${r.slot === 0 ? 'yes' : 'no '}   ${r.load.toFixed(2).padStart(5)}   ${MEASURES.map(m => sec(r.t[m])).join('  ')}`)
    const med = (side: Side, m: Measure): number => median(results.filter(r => r.side === side).map(r => r.t[m]))
    const n = (side: Side): number => results.filter(r => r.side === side).length
    out.push(`median (ours n=${n('ours')}, dnsmasq n=${n('dnsmasq')}):`)
    for (const side of ['dnsmasq', 'ours'] as const) {
      if (n(side) > 0) out.push(`     ${side.padEnd(7)}               ${MEASURES.map(m => sec(med(side, m))).join('  ')}`)
    }
    if (n('ours') > 0 && n('dnsmasq') > 0) {
      out.push(`     ours/dnsmasq          ${MEASURES.map(m => `${(med('ours', m) / med('dnsmasq', m)).toFixed(3)}×`.padStart(6)).join('  ')}`)
      for (const [m, label] of [['script', 'power-on to script'], ['marker', 'power-on to CTPF-BOOT-OK']] as const) {
        const ratio = med('ours', m) / med('dnsmasq', m)
        out.push(`${label}: ours ${(med('ours', m) / 1000).toFixed(2)} s, dnsmasq ${(med('dnsmasq', m) / 1000).toFixed(2)} s, ratio ${ratio.toFixed(3)}× — goal ≤ ${GOAL.toFixed(2)}×: ${ratio <= GOAL ? 'met' : 'NOT met'}`)
      }
    }
    console.log(out.join('\n'))
  })

  for (let i = 1; i <= RUNS; i++) {
    it(`run ${i}`, async () => {
      // alternate the order: odd runs boot from dnsmasq first, even runs from ours first
      const order: Side[] = i % 2 === 1 ? ['dnsmasq', 'ours'] : ['ours', 'dnsmasq']
      for (const [slot, side] of order.entries()) {
        const r = await measure(side, i, slot)
        results.push(r)
        console.log(`run ${i} ${side}: ${MEASURES.map(m => `${m} ${(r.t[m] / 1000).toFixed(2)} s`).join(', ')} (load ${r.load.toFixed(2)})`)
      }
    }, 600_000)
  }
})
