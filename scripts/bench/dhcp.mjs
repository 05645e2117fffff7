#!/usr/bin/env node
/**
 * DHCP server benchmark: perfdhcp (kea-admin) against our server and against dnsmasq, on the
 * same machine, in one run. Two network namespaces joined by a veth pair; perfdhcp acts as a
 * relay (giaddr = its address), so both servers serve a relayed /16. Nothing leaves the
 * namespaces this script creates.
 *
 *   npm run build && sudo node scripts/bench/dhcp.mjs [--seconds 10] [--rates 2000,20000] [--clients 60000]
 *
 * Imports the compiled server from dist/. Runs as root (namespaces, port 67).
 */
import { execFileSync, spawn } from 'node:child_process'
import { existsSync } from 'node:fs'
import { mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const HERE = dirname(fileURLToPath(import.meta.url))
const DIST = resolve(HERE, '../../dist')
const NET = '10.235'
const SERVER_IP = `${NET}.0.1`
const CLIENT_IP = `${NET}.0.2`

/** Child mode, inside the server namespace: run our server until SIGTERM. */
async function serve ({ leasePath }) {
  const { createDhcpServer } = await import(join(DIST, 'roles/distributor/dhcp/index.js'))
  const { LevelLeaseStore } = await import(join(DIST, 'store/leases.js'))
  const { default: pino } = await import('pino')
  const store = new LevelLeaseStore(leasePath)
  const server = createDhcpServer({
    serverAddress: SERVER_IP,
    authoritative: true,
    subnets: [{ network: `${NET}.0.0`, netmask: '255.255.0.0', range: { start: `${NET}.1.0`, end: `${NET}.255.254` }, router: SERVER_IP, leaseTime: 3600 }]
  }, { logger: pino({ level: 'warn' }, pino.destination(2)), leaseStore: store })
  await server.start()
  process.stdout.write('ready\n')
  process.on('SIGTERM', async () => {
    await server.stop()
    await store.close()
    process.stdout.write(JSON.stringify(server.metrics) + '\n')
    process.exit(0)
  })
}

function arg (name, fallback) {
  const i = process.argv.indexOf(`--${name}`)
  return i === -1 ? fallback : process.argv[i + 1]
}

const ip = (...args) => execFileSync('ip', args, { stdio: ['ignore', 'pipe', 'pipe'] }).toString()

function start (argv) {
  const child = spawn(argv[0], argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] })
  let text = ''
  child.stdout.on('data', d => { text += d })
  child.stderr.on('data', d => { text += d })
  const exited = new Promise(resolve => child.once('exit', resolve))
  return {
    child,
    exited,
    get text () { return text },
    async until (re, ms = 10_000) {
      const deadline = Date.now() + ms
      while (!re.test(text)) {
        if (Date.now() > deadline || child.exitCode !== null) throw new Error(`${argv.join(' ')} did not become ready:\n${text}`)
        await new Promise(resolve => setTimeout(resolve, 50))
      }
    },
    async stop () {
      if (child.exitCode !== null || child.signalCode !== null) return
      child.kill('SIGTERM')
      const t = setTimeout(() => child.kill('SIGKILL'), 5000)
      await exited
      clearTimeout(t)
    }
  }
}

/** One perfdhcp run from the client namespace; returns the parsed report. */
async function perfdhcp (cliNs, rate, seconds, clients) {
  const p = start(['ip', 'netns', 'exec', cliNs, 'perfdhcp', '-4', '-r', String(rate), '-p', String(seconds), '-R', String(clients), '-l', CLIENT_IP, SERVER_IP])
  const timer = setTimeout(() => p.child.kill('SIGKILL'), (seconds + 30) * 1000)
  await p.exited
  clearTimeout(timer)
  const t = p.text
  const num = re => { const m = re.exec(t); return m === null ? undefined : Number(m[1]) }
  const section = name => t.slice(t.indexOf(name))
  const stat = (name, re) => { const m = re.exec(section(name)); return m === null ? undefined : Number(m[1]) }
  return {
    rate: num(/Rate:\s*([\d.]+)\s*4-way exchanges\/second/),
    discoverSent: stat('DISCOVER-OFFER', /sent packets:\s*(\d+)/),
    offersReceived: stat('DISCOVER-OFFER', /received packets:\s*(\d+)/),
    requestSent: stat('REQUEST-ACK', /sent packets:\s*(\d+)/),
    acksReceived: stat('REQUEST-ACK', /received packets:\s*(\d+)/),
    avgDelayMs: stat('REQUEST-ACK', /avg delay:\s*([\d.]+)\s*ms/),
    raw: t
  }
}

async function main () {
  if (process.getuid?.() !== 0) throw new Error('run as root: the benchmark creates network namespaces and binds port 67')
  if (!existsSync(join(DIST, 'roles/distributor/dhcp/index.js'))) throw new Error('dist/ is missing: run `npm run build` first')
  const seconds = Number(arg('seconds', '10'))
  const rates = arg('rates', '2000,20000').split(',').map(Number)
  const clients = Number(arg('clients', '60000'))
  const tag = Math.floor(Math.random() * 36 ** 4).toString(36)
  const srvNs = `ctpf-bs-${tag}`
  const cliNs = `ctpf-bc-${tag}`
  const dir = await mkdtemp(join(tmpdir(), 'ctpf-bench-dhcp-'))
  const running = []
  const cleanup = async () => {
    for (const p of running) await p.stop().catch(() => {})
    for (const ns of [cliNs, srvNs]) { try { ip('netns', 'del', ns) } catch {} }
    await rm(dir, { recursive: true, force: true })
  }
  process.once('SIGINT', () => { void cleanup().then(() => process.exit(130)) })
  const results = { ours: [], dnsmasq: [], dnsmasqRo: [] }
  try {
    for (const ns of [srvNs, cliNs]) { ip('netns', 'add', ns); ip('-n', ns, 'link', 'set', 'lo', 'up') }
    ip('link', 'add', `bs${tag}`, 'netns', srvNs, 'type', 'veth', 'peer', 'name', `bc${tag}`, 'netns', cliNs)
    ip('-n', srvNs, 'addr', 'add', `${SERVER_IP}/16`, 'dev', `bs${tag}`)
    ip('-n', cliNs, 'addr', 'add', `${CLIENT_IP}/16`, 'dev', `bc${tag}`)
    ip('-n', srvNs, 'link', 'set', `bs${tag}`, 'up')
    ip('-n', cliNs, 'link', 'set', `bc${tag}`, 'up')

    for (const rate of rates) {
      const leasePath = join(dir, `leases-${rate}`)
      const ours = start(['ip', 'netns', 'exec', srvNs, process.execPath, fileURLToPath(import.meta.url), '--serve', JSON.stringify({ leasePath })])
      running.push(ours)
      await ours.until(/ready/)
      const r = await perfdhcp(cliNs, rate, seconds, clients)
      await ours.stop()
      results.ours.push({ target: rate, ...r, serverMetrics: ours.text.trim().split('\n').at(-1) })

      // dnsmasq as shipped (lease file rewritten on every change), then without lease writes
      for (const [key, extra] of [['dnsmasq', []], ['dnsmasqRo', ['leasefile-ro']]]) {
        const conf = join(dir, `${key}-${rate}.conf`)
        await writeFile(conf, [
          'port=0', `interface=bs${tag}`, 'bind-interfaces', `dhcp-range=${NET}.1.0,${NET}.255.254,255.255.0.0,1h`,
          'dhcp-authoritative', 'no-ping', 'quiet-dhcp', 'dhcp-lease-max=200000', `dhcp-leasefile=${join(dir, `${key}-${rate}.leases`)}`,
          `pid-file=${join(dir, `${key}-${rate}.pid`)}`, 'user=root', 'group=root', ...extra, ''
        ].join('\n'))
        const dm = start(['ip', 'netns', 'exec', srvNs, 'dnsmasq', '--keep-in-foreground', '--log-facility=-', `--conf-file=${conf}`])
        running.push(dm)
        await dm.until(/DHCP, IP range/)
        const d = await perfdhcp(cliNs, rate, seconds, clients)
        await dm.stop()
        results[key].push({ target: rate, ...d })
      }
    }
  } finally {
    await cleanup()
  }

  const fmt = v => v === undefined ? 'n/a' : String(v)
  console.log(`perfdhcp DORA, ${seconds}s per run, ${clients} simulated clients, relayed, veth between two namespaces`)
  console.log('target/s | server               | exchanges/s | DISCOVER sent | OFFERs | REQUEST sent | ACKs | avg ACK delay ms')
  for (let i = 0; i < rates.length; i++) {
    for (const [name, r] of [['ctpf', results.ours[i]], ['dnsmasq', results.dnsmasq[i]], ['dnsmasq leasefile-ro', results.dnsmasqRo[i]]]) {
      console.log(`${String(rates[i]).padStart(8)} | ${name.padEnd(20)} | ${fmt(r.rate).padStart(11)} | ${fmt(r.discoverSent).padStart(13)} | ${fmt(r.offersReceived).padStart(6)} | ${fmt(r.requestSent).padStart(12)} | ${fmt(r.acksReceived)} | ${fmt(r.avgDelayMs)}`)
    }
    const a = results.ours[i].rate
    const ratio = b => a !== undefined && b ? (a / b).toFixed(2) : 'n/a'
    console.log(`${' '.repeat(8)} | ratio ctpf/dnsmasq: ${ratio(results.dnsmasq[i].rate)}; ctpf/dnsmasq-leasefile-ro: ${ratio(results.dnsmasqRo[i].rate)}`)
  }
  for (const r of results.ours) console.log(`ctpf server metrics at ${r.target}/s: ${r.serverMetrics}`)
  if (process.argv.includes('--raw')) for (const r of [...results.ours, ...results.dnsmasq, ...results.dnsmasqRo]) console.log(r.raw)
}

if (process.argv[2] === '--serve') await serve(JSON.parse(process.argv[3]))
else await main()
