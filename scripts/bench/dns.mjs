#!/usr/bin/env node
/**
 * DNS benchmark: dnsperf against our server and against dnsmasq serving the same zone,
 * same query file, loopback only, bounded in time. Prints queries/s for both and the ratio.
 *
 *   npm run build && node scripts/bench/dns.mjs [--seconds 10] [--hosts 1000] [--clients 4] [--answer-cache 0]
 *
 * Our server runs in this process (compiled code from dist/); dnsmasq and dnsperf are
 * separate processes. Needs dnsperf and dnsmasq (scripts/install-test-deps.sh).
 */
import { execFile, spawn } from 'node:child_process'
import dgram from 'node:dgram'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import net from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import pino from 'pino'
import { createDnsServer, MemoryZoneSource } from '../../dist/roles/distributor/dns/index.js'

const { values } = parseArgs({
  options: {
    seconds: { type: 'string', default: '10' },
    hosts: { type: 'string', default: '1000' },
    clients: { type: 'string', default: '4' },
    outstanding: { type: 'string', default: '100' },
    // pre-encoded zone answers kept by our server; 0 measures the full decode/encode path
    'answer-cache': { type: 'string', default: '10000' }
  }
})
const seconds = Number(values.seconds)
const hostCount = Number(values.hosts)
const DOMAIN = 'mesh.internal'
const DCS = ['nbg1', 'fsn1', 'sin1']

const dir = mkdtempSync(join(tmpdir(), 'ctpf-bench-dns-'))
let dnsmasq
try {
  // the same zone for both: hosts in three datacenters, IPv4 + IPv6
  const records = new MemoryZoneSource()
  const hostsLines = []
  const hosts = []
  for (let i = 0; i < hostCount; i++) {
    const dc = DCS[i % DCS.length]
    const name = `host${i}`
    const a = `10.${10 + (i % DCS.length)}.${(i >> 8) & 255}.${i & 255}`
    const aaaa = `fd00:${(i % DCS.length) + 1}::${i.toString(16)}`
    records.set(name, { a: [a], aaaa: [aaaa] }, dc)
    hostsLines.push(`${a} ${name}.${dc}.${DOMAIN}`, `${aaaa} ${name}.${dc}.${DOMAIN}`)
    hosts.push({ fqdn: `${name}.${dc}.${DOMAIN}`, a })
  }
  const hostsFile = join(dir, 'hosts')
  writeFileSync(hostsFile, hostsLines.join('\n') + '\n')

  // query mix: 60% A, 20% AAAA, 10% PTR, 10% NXDOMAIN
  const lines = []
  for (let i = 0; i < 10_000; i++) {
    const h = hosts[(i * 7919) % hosts.length]
    const r = i % 10
    if (r < 6) lines.push(`${h.fqdn} A`)
    else if (r < 8) lines.push(`${h.fqdn} AAAA`)
    else if (r < 9) lines.push(`${h.a.split('.').reverse().join('.')}.in-addr.arpa PTR`)
    else lines.push(`missing${i}.${DCS[i % 3]}.${DOMAIN} A`)
  }
  const queryFile = join(dir, 'queries.txt')
  writeFileSync(queryFile, lines.join('\n') + '\n')

  // ours
  const oursPort = await freePort()
  const ours = createDnsServer({ address: '127.0.0.1', port: oursPort, domain: DOMAIN, limits: { answerCacheEntries: Number(values['answer-cache']) } }, { logger: pino({ level: 'warn' }), records })
  await ours.start()
  await sanity(oursPort, hosts[0])
  const oursResult = await dnsperf(oursPort, queryFile)
  await ours.stop()

  // dnsmasq
  const dmPort = await freePort()
  dnsmasq = spawn('dnsmasq', [
    '--keep-in-foreground', '--no-resolv', '--no-hosts', `--addn-hosts=${hostsFile}`, `--local=/${DOMAIN}/`,
    `--port=${dmPort}`, '--listen-address=127.0.0.1', '--bind-interfaces', `--pid-file=${join(dir, 'dnsmasq.pid')}`,
    '--user=root', '--log-facility=-'
  ], { stdio: ['ignore', 'ignore', 'inherit'] })
  await waitUp(dmPort, hosts[0])
  const dmResult = await dnsperf(dmPort, queryFile)

  const ratio = oursResult.qps / dmResult.qps
  console.log(JSON.stringify({ bench: 'dns', seconds, hosts: hostCount, clients: Number(values.clients), answerCache: Number(values['answer-cache']), ours: oursResult, dnsmasq: dmResult, ratio: Number(ratio.toFixed(3)) }, null, 2))
  console.log(`ours ${oursResult.qps.toFixed(0)} q/s, dnsmasq ${dmResult.qps.toFixed(0)} q/s, ratio ${ratio.toFixed(2)} (goal >= 0.7)`)
} finally {
  if (dnsmasq !== undefined && dnsmasq.exitCode === null) {
    const exited = new Promise(resolve => dnsmasq.once('exit', resolve))
    dnsmasq.kill('SIGTERM')
    await exited
  }
  rmSync(dir, { recursive: true, force: true })
}

function run (cmd, args, timeoutMs) {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      if (err !== null) reject(new Error(`${cmd} failed: ${err.message}\n${stderr}`))
      else resolve(stdout)
    })
  })
}

async function dnsperf (port, queryFile) {
  const out = await run('dnsperf', ['-s', '127.0.0.1', '-p', String(port), '-d', queryFile, '-l', String(seconds),
    '-c', values.clients, '-q', values.outstanding, '-t', '2'], (seconds + 30) * 1000)
  const num = re => Number(re.exec(out)?.[1] ?? NaN)
  return {
    qps: num(/Queries per second:\s+([\d.]+)/),
    sent: num(/Queries sent:\s+(\d+)/),
    completed: num(/Queries completed:\s+(\d+)/),
    lost: num(/Queries lost:\s+(\d+)/),
    avgLatencyMs: num(/Average Latency \(s\):\s+([\d.]+)/) * 1000,
    rcodes: /Response codes:\s+(.*)/.exec(out)?.[1]
  }
}

async function sanity (port, host) {
  const out = await run('dig', ['@127.0.0.1', '-p', String(port), '+short', '+tries=1', '+time=2', host.fqdn, 'A'], 10_000)
  if (out.trim() !== host.a) throw new Error(`server on ${port} answered ${JSON.stringify(out)} for ${host.fqdn}, expected ${host.a}`)
}

async function waitUp (port, host) {
  const deadline = Date.now() + 10_000
  for (;;) {
    try {
      await sanity(port, host)
      return
    } catch (err) {
      if (Date.now() > deadline) throw err
      await new Promise(resolve => setTimeout(resolve, 100))
    }
  }
}

async function freePort () {
  for (;;) {
    const udp = dgram.createSocket('udp4')
    await new Promise(resolve => udp.bind(0, '127.0.0.1', resolve))
    const port = udp.address().port
    const ok = await new Promise(resolve => {
      const s = net.createServer()
      s.once('error', () => resolve(false))
      s.listen(port, '127.0.0.1', () => s.close(() => resolve(true)))
    })
    await new Promise(resolve => udp.close(resolve))
    if (ok) return port
  }
}
