#!/usr/bin/env node
/**
 * TFTP benchmark, loopback only: a 32 MiB file fetched from our server (compiled, in its own
 * process) and from tftpd-hpa (`in.tftpd`, a child on a high port, killed at the end), with the
 * same client for both. tftp-hpa's client cannot negotiate blksize, so blksize 1468 is measured
 * with curl and busybox (both real clients) and tftp-hpa runs at RFC 1350's 512; our own client
 * (dist/protocols/tftp) measures windowsize (RFC 7440), which neither tftpd-hpa nor those clients do.
 *
 *   npx tsc -p tsconfig.json && node scripts/bench/tftp.mjs [--runs 3] [--mib 32]
 */
import { execFile, spawn } from 'node:child_process'
import { createHash, randomBytes } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { chmod, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const dist = new URL('../../dist/', import.meta.url)
const { fetchFile } = await import(new URL('protocols/tftp/index.js', dist).href)

const { values: args } = parseArgs({
  options: {
    runs: { type: 'string', default: '3' },
    mib: { type: 'string', default: '32' },
    serve: { type: 'string' }, // internal: run our server on this directory in this process
    port: { type: 'string' }
  }
})

async function freePort () {
  const s = createSocket('udp4')
  await new Promise(resolve => { s.bind(0, '127.0.0.1', resolve) })
  const { port } = s.address()
  await new Promise(resolve => { s.close(resolve) })
  return port
}

function run (file, argv) {
  return new Promise((resolve, reject) => {
    execFile(file, argv, { timeout: 300_000 }, (err, stdout, stderr) => {
      if (err) reject(new Error(`${file} ${argv.join(' ')} failed: ${stderr || err.message}`))
      else resolve(stdout)
    })
  })
}

const sha = (b) => createHash('sha256').update(b).digest('hex')

async function waitReady (port) {
  for (let i = 0; i < 100; i++) {
    const ok = await fetchFile({ address: '127.0.0.1', port, filename: 'probe', timeoutMs: 100, retries: 0 }).then(() => true, (e) => e.code === 'ERR_TFTP_REMOTE')
    if (ok) return
  }
  throw new Error(`no TFTP server on ${port}`)
}

async function main () {
  const runs = Number(args.runs)
  const size = Number(args.mib) * 1024 * 1024
  const dir = await mkdtemp(join(tmpdir(), 'ctpf-bench-tftp-'))
  await chmod(dir, 0o755) // in.tftpd drops to the tftp user
  const data = randomBytes(size)
  const digest = sha(data)
  await writeFile(join(dir, 'big.bin'), data, { mode: 0o644 })
  await writeFile(join(dir, 'probe'), 'x', { mode: 0o644 })

  const oursPort = await freePort()
  const ours = spawn(process.execPath, [fileURLToPath(import.meta.url), '--serve', dir, '--port', String(oursPort)], { stdio: ['ignore', 'pipe', 'inherit'] })
  const hpaPort = await freePort()
  const hpa = spawn('in.tftpd', ['--foreground', '--listen', '--address', `127.0.0.1:${hpaPort}`, '--secure', dir], { stdio: 'ignore' })
  const results = []
  try {
    await waitReady(oursPort)
    await waitReady(hpaPort)
    const servers = [['ctpf', oursPort], ['tftpd-hpa', hpaPort]]

    const clients = [
      ['tftp-hpa client, blksize 512', async (port, out) => { await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'big.bin', out]); return await readFile(out) }],
      ['curl, blksize 1468', async (port, out) => { await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${port}/big.bin`]); return await readFile(out) }],
      ['busybox tftp, blksize 1468', async (port, out) => { await run('busybox', ['tftp', '-g', '-b', '1468', '-r', 'big.bin', '-l', out, '127.0.0.1', String(port)]); return await readFile(out) }],
      ['ctpf client, blksize 1468', async (port) => (await fetchFile({ address: '127.0.0.1', port, filename: 'big.bin', blksize: 1468, dallyMs: 0 })).data],
      ...[4, 16, 64].map(w => [`ctpf client, blksize 1468, windowsize ${w}`, async (port) => (await fetchFile({ address: '127.0.0.1', port, filename: 'big.bin', blksize: 1468, windowsize: w, dallyMs: 0 })).data, w])
    ]

    for (const [client, fetch, windowsize] of clients) {
      const times = { ctpf: [], 'tftpd-hpa': [] }
      for (let i = 0; i < runs; i++) {
        // alternate the servers run by run so machine noise hits both alike
        for (const [server, port] of servers) {
          const out = join(dir, `out-${i}`)
          const t0 = process.hrtime.bigint()
          const got = await fetch(port, out)
          const ms = Number(process.hrtime.bigint() - t0) / 1e6
          if (sha(got) !== digest) throw new Error(`${client} from ${server}: content differs`)
          times[server].push(ms)
          await rm(out, { force: true })
        }
      }
      const row = { client }
      for (const [server, list] of Object.entries(times)) {
        list.sort((a, b) => a - b)
        row[server] = { median: list[Math.floor(list.length / 2)], min: list[0] }
      }
      // tftpd-hpa 5.2 ignores windowsize: the same client then runs lock-step against it
      if (windowsize !== undefined) row.note = 'tftpd-hpa ignores windowsize'
      results.push(row)
    }
  } finally {
    ours.kill('SIGTERM')
    hpa.kill('SIGTERM')
    await rm(dir, { recursive: true, force: true })
  }

  const mib = size / 1048576
  console.log(`TFTP, ${mib} MiB over loopback, ${runs} runs per cell alternating servers, content verified by sha256`)
  console.log('cells: median s (MiB/s) / best s; ratios = ctpf time / tftpd-hpa time, of medians and of bests')
  console.log('(lock-step transfers are latency-bound: on a busy 2-core machine medians swing, bests are steadier)\n')
  const cell = (t) => `${(t.median / 1000).toFixed(2)} s (${(mib / (t.median / 1000)).toFixed(0).padStart(3)}) / ${(t.min / 1000).toFixed(2)}`.padStart(24)
  console.log('client'.padEnd(42) + 'ctpf'.padStart(24) + 'tftpd-hpa'.padStart(24) + '   median  best')
  for (const r of results) {
    console.log(r.client.padEnd(42) + cell(r.ctpf) + cell(r['tftpd-hpa']) + `   ${(r.ctpf.median / r['tftpd-hpa'].median).toFixed(2).padStart(6)}  ${(r.ctpf.min / r['tftpd-hpa'].min).toFixed(2)}` + (r.note ? `  (${r.note})` : ''))
  }
}

async function serve () {
  // child mode: our server, as a separate process like in.tftpd
  const { createTftpServer, DirectoryFileSource } = await import(new URL('roles/distributor/tftp/index.js', dist).href)
  const { pino } = await import('pino')
  const server = createTftpServer(
    { address: '127.0.0.1', port: Number(args.port), maxBlksize: 65464, maxWindowsize: 64, timeoutMs: 1000 },
    { logger: pino({ level: 'warn' }), files: new DirectoryFileSource(args.serve) }
  )
  await server.start()
  process.stdout.write('ready\n')
  process.on('SIGTERM', () => { void server.stop().then(() => process.exit(0)) })
}

if (args.serve !== undefined) await serve()
else await main()
