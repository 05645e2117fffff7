/**
 * 100,000+ random, truncated and mutated datagrams (fixed seed) over UDP loopback, aimed at the
 * request port and at live transfer ports (from the transfer's client and from strangers).
 * The server must not crash, must keep serving, must count the garbage, and its heap must not grow.
 */
import { createSocket, type Socket } from 'node:dgram'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { decode, encode, fetchFile, UnsupportedModeError, type TftpPacket } from '../../../protocols/tftp/index.js'
import type { TftpServer } from '../../../roles/distributor/tftp/index.js'
import { capturingLogger, directory, makeTree, prng, sha256, startServer, type Tree } from './tftp-helpers.js'

setFlagsFromString('--expose-gc')
const gc = runInNewContext('gc') as () => void

const TOTAL = 100_000
const ROUNDS = 100
const BATCH = 50

let tree: Tree
let server: TftpServer
let port: number
const log = capturingLogger()

beforeAll(async () => {
  tree = await makeTree({ 'target.bin': 200_000 })
  ;({ server, port } = await startServer({ timeoutMs: 100, maxRetries: 2, maxWindowsize: 8, logIntervalMs: 1000 }, directory(tree.root), log.logger))
})
afterAll(async () => {
  await server.stop()
  await tree.cleanup()
})

function templates (): Uint8Array[] {
  const opts = new Map([['blksize', '1468'], ['tsize', '0'], ['windowsize', '4'], ['timeout', '1']])
  const packets: TftpPacket[] = [
    { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() },
    { type: 'RRQ', filename: 'sub/nested.bin', mode: 'netascii', options: opts },
    { type: 'RRQ', filename: '../secret.txt', mode: 'octet', options: opts },
    { type: 'WRQ', filename: 'up.bin', mode: 'octet', options: opts },
    { type: 'DATA', block: 1, data: new Uint8Array(512).fill(7) },
    { type: 'ACK', block: 0 },
    { type: 'ACK', block: 1 },
    { type: 'ERROR', code: 1, message: 'File not found' },
    { type: 'OACK', options: opts }
  ]
  return packets.map(encode)
}

function makeFuzz (rand: () => number): (n: number) => Uint8Array {
  const valid = templates()
  const pick = <T>(xs: T[]): T => xs[Math.floor(rand() * xs.length)] as T
  const bytes = (n: number): Uint8Array => Uint8Array.from({ length: n }, () => Math.floor(rand() * 256))
  return () => {
    const kind = rand()
    if (kind < 0.25) return bytes(Math.floor(rand() * (rand() < 0.02 ? 66_000 : 600)))
    const base = pick(valid)
    if (kind < 0.5) return base.subarray(0, Math.floor(rand() * base.length))
    if (kind < 0.8) {
      const out = Uint8Array.from(base)
      const flips = 1 + Math.floor(rand() * 4)
      for (let i = 0; i < flips; i++) out[Math.floor(rand() * out.length)] = Math.floor(rand() * 256)
      return out
    }
    // a valid opcode followed by noise
    const head = Uint8Array.of(0, 1 + Math.floor(rand() * 6))
    const tail = bytes(Math.floor(rand() * 80))
    const out = new Uint8Array(head.length + tail.length)
    out.set(head)
    out.set(tail, 2)
    return out
  }
}

function isMalformed (buf: Uint8Array): boolean {
  try {
    decode(buf)
    return false
  } catch (err) {
    return !(err instanceof UnsupportedModeError) // answered with error 4, not counted as malformed
  }
}

async function udpSocket (): Promise<Socket> {
  const s = createSocket('udp4')
  s.on('message', () => {}) // drain the server's answers
  await new Promise<void>(resolve => { s.bind(0, '127.0.0.1', resolve) })
  return s
}

async function sendAll (s: Socket, packets: Array<{ buf: Uint8Array, port: number }>): Promise<void> {
  await Promise.all(packets.map(async p => await new Promise<void>(resolve => { s.send(p.buf, p.port, '127.0.0.1', () => { resolve() }) })))
}

/** Start a transfer from `s` and learn its transfer port (undefined if the server stayed silent). */
async function openTransfer (s: Socket): Promise<number | undefined> {
  const reply = new Promise<number | undefined>(resolve => {
    const t = setTimeout(() => { resolve(undefined) }, 500)
    s.once('message', (_m, rinfo) => { clearTimeout(t); resolve(rinfo.port) })
  })
  s.send(encode({ type: 'RRQ', filename: 'target.bin', mode: 'octet', options: new Map([['windowsize', '8']]) }), port, '127.0.0.1')
  return await reply
}

describe('TFTP server under fuzzing', () => {
  it(`survives ${TOTAL} random, truncated and mutated datagrams and still serves`, async () => {
    const before = await fetchFile({ address: '127.0.0.1', port, filename: 'small.bin' })
    expect(before.data.length).toBe(1000)
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    const started = Date.now()
    const rand = prng(0x7f7f)
    const fuzz = makeFuzz(rand)
    let sent = 0
    let malformedToRequestPort = 0
    for (let round = 0; round < ROUNDS; round++) {
      const client = await udpSocket()
      const stranger = await udpSocket()
      const tid = await openTransfer(client)
      for (let i = 0; i < TOTAL / ROUNDS; i += BATCH) {
        const fromClient: Array<{ buf: Uint8Array, port: number }> = []
        const fromStranger: Array<{ buf: Uint8Array, port: number }> = []
        for (let j = 0; j < BATCH; j++) {
          const where = rand()
          const buf = fuzz(j)
          if (where < 0.6 || tid === undefined) {
            fromClient.push({ buf, port })
            if (buf.length <= 65_507 && isMalformed(buf)) malformedToRequestPort++
          }
          else if (where < 0.85) fromClient.push({ buf, port: tid })
          else fromStranger.push({ buf, port: tid })
        }
        await Promise.all([sendAll(client, fromClient), sendAll(stranger, fromStranger)])
        sent += fromClient.length + fromStranger.length
        await new Promise(resolve => setTimeout(resolve, 1)) // let the server drain its queue
      }
      client.close()
      stranger.close()
    }
    expect(sent).toBeGreaterThanOrEqual(TOTAL)
    // garbage was seen and counted (the kernel may drop some datagrams under load)
    expect(malformedToRequestPort).toBeGreaterThan(TOTAL / 4)
    expect(server.metrics.malformedPackets).toBeGreaterThan(malformedToRequestPort * 0.95)
    expect(server.metrics.unknownTidPackets).toBeGreaterThan(0)

    // all fuzz-started transfers end (time out) and the server still serves correctly
    await expect.poll(() => server.metrics.activeSessions, { timeout: 10_000, interval: 100 }).toBe(0)
    const after = await fetchFile({ address: '127.0.0.1', port, filename: 'target.bin', blksize: 1468, windowsize: 8 })
    expect(sha256(after.data)).toBe(sha256(tree.files['target.bin'] as Buffer))

    gc()
    const growth = process.memoryUsage().heapUsed - heapBefore
    expect(growth).toBeLessThan(16 * 1024 * 1024)

    // malformed packets are logged at most once per second (two loggers: request port, transfers)
    const warnings = log.lines.filter(l => typeof l.msg === 'string' && l.msg.startsWith('malformed')).length
    const seconds = (Date.now() - started) / 1000
    expect(warnings).toBeGreaterThan(0)
    expect(warnings).toBeLessThanOrEqual(Math.ceil(seconds) + 2)
    console.info(`fuzz: sent ${sent}, malformed counted ${server.metrics.malformedPackets}, unknown TID ${server.metrics.unknownTidPackets}, ` +
      `requests ${server.metrics.requests}, warnings logged ${warnings} in ${seconds.toFixed(1)} s, heap growth ${(growth / 1048576).toFixed(2)} MiB`)
  }, 180_000)
})
