import dgram from 'node:dgram'
import net from 'node:net'
import v8 from 'node:v8'
import vm from 'node:vm'
import dnsPacket from 'dns-packet'
import type { Packet, RecordType } from 'dns-packet'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryZoneSource, type DnsServer } from '../../../roles/distributor/dns/index.js'
import { dig, FakeUpstream, startDns } from './dns-helpers.js'
import { prng } from '../../helpers/prng.js'

v8.setFlagsFromString('--expose-gc')
const gc = vm.runInNewContext('gc') as () => void


const NAMES = ['web1.nbg1.mesh.internal', 'mesh.internal', 'nobody.mesh.internal', 'agent-a.mesh.internal',
  '5.0.20.10.in-addr.arpa', 'x.example.test', 'nbg1.mesh.internal']
const TYPES: RecordType[] = ['A', 'AAAA', 'PTR', 'SOA', 'NS', 'MX', 'TXT', 'ANY' as RecordType, 'AXFR', 'SRV']

function validQuery (rand: () => number): Buffer {
  const pick = <T>(list: T[]): T => list[Math.floor(rand() * list.length)] as T
  const packet: Packet = {
    type: 'query',
    id: Math.floor(rand() * 65536),
    flags: rand() < 0.5 ? dnsPacket.RECURSION_DESIRED : 0,
    questions: [{ type: pick(TYPES), name: pick(NAMES) }]
  }
  if (rand() < 0.5) {
    packet.additionals = [{ type: 'OPT', name: '.', udpPayloadSize: pick([512, 1232, 4096, 0]), extendedRcode: 0, ednsVersion: rand() < 0.1 ? 1 : 0, flags: 0, flag_do: false, options: [] }]
  }
  return dnsPacket.encode(packet)
}

function fuzzPacket (rand: () => number): Buffer {
  const kind = rand()
  const byte = (): number => Math.floor(rand() * 256)
  if (kind < 0.2) { // pure garbage
    return Buffer.from(Array.from({ length: Math.floor(rand() * 300) }, byte))
  }
  const base = validQuery(rand)
  if (kind < 0.4) return base.subarray(0, Math.floor(rand() * base.length)) // truncated
  if (kind < 0.75) { // a few flipped bytes
    const out = Buffer.from(base)
    const flips = 1 + Math.floor(rand() * 6)
    for (let i = 0; i < flips; i++) out[Math.floor(rand() * out.length)] = byte()
    return out
  }
  if (kind < 0.85) { // random header counts / opcode / QR
    const out = Buffer.from(base)
    for (let i = 2; i < 12; i++) if (rand() < 0.3) out[i] = byte()
    return out
  }
  if (kind < 0.92) { // compression pointers, possibly looping
    const out = Buffer.from(base)
    const at = 12 + Math.floor(rand() * Math.max(1, out.length - 13))
    out[at] = 0xc0
    out[at + 1] = Math.floor(rand() * out.length)
    return out
  }
  // valid query with random trailing bytes
  return Buffer.concat([base, Buffer.from(Array.from({ length: 1 + Math.floor(rand() * 40) }, byte))])
}

async function until (cond: () => boolean, ms: number): Promise<void> {
  const deadline = Date.now() + ms
  while (!cond() && Date.now() < deadline) await new Promise(resolve => setTimeout(resolve, 1))
}

describe('dns: fuzzing over loopback', () => {
  const records = new MemoryZoneSource()
  let server: DnsServer
  let port: number
  let upstream: FakeUpstream

  beforeAll(async () => {
    records.set('web1', { a: ['10.20.0.5'], aaaa: ['fd00::5'] }, 'nbg1')
    records.set('agent-a', { a: ['10.20.0.2'] })
    upstream = new FakeUpstream({ records: { 'x.example.test': ['192.0.2.9'] } })
    await upstream.start()
    ;({ server, port } = await startDns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${upstream.port}`], forward: { timeoutMs: 500 } }, records))
  })
  afterAll(async () => {
    await server?.stop()
    await upstream?.stop()
  })

  it('survives 100,000 random, truncated and mutated UDP packets, keeps answering dig, and keeps its heap bounded', async () => {
    const rand = prng(0xc7f0001)
    const client = dgram.createSocket('udp4')
    let responses = 0
    client.on('message', () => { responses++ })
    await new Promise<void>(resolve => { client.bind(0, '127.0.0.1', resolve) })
    const send = (buf: Buffer): Promise<void> => new Promise(resolve => { client.send(buf, port, '127.0.0.1', () => { resolve() }) })

    // warm up, then measure the heap
    for (let i = 0; i < 2000; i++) await send(fuzzPacket(rand))
    await until(() => server.metrics.udpQueries >= 2000, 5000)
    gc()
    const heapBefore = process.memoryUsage().heapUsed

    const TOTAL = 100_000
    const BATCH = 250
    let sent = 0
    const received0 = server.metrics.udpQueries
    while (sent < TOTAL) {
      const batch: Array<Promise<void>> = []
      for (let i = 0; i < BATCH; i++) batch.push(send(fuzzPacket(rand)))
      await Promise.all(batch)
      sent += BATCH
      // pace ourselves on the server so the socket buffer does not silently drop the fuzz
      await until(() => server.metrics.udpQueries - received0 >= sent - BATCH, 2000)
    }
    await until(() => server.metrics.udpQueries - received0 >= TOTAL, 5000)
    const received = server.metrics.udpQueries - received0
    expect(received).toBeGreaterThanOrEqual(TOTAL * 0.99)
    expect(responses).toBeGreaterThan(TOTAL / 4)
    expect(server.metrics.malformed).toBeGreaterThan(1000)
    expect(server.metrics.formerr).toBeGreaterThan(1000)
    expect(server.metrics.notimp).toBeGreaterThan(0)
    expect(server.metrics.dropped).toBeGreaterThan(1000)
    expect(server.metrics.authoritative).toBeGreaterThan(1000)
    expect(server.metrics.internalErrors).toBe(0)

    await new Promise(resolve => setTimeout(resolve, 600)) // forwarded fuzz times out
    gc()
    const growth = process.memoryUsage().heapUsed - heapBefore
    expect(growth).toBeLessThan(24 * 1024 * 1024)
    client.close()

    const r = await dig(port, ['web1.nbg1.mesh.internal', 'A'])
    expect(r.status).toBe('NOERROR')
    expect(r.answer.map(a => a.data)).toEqual(['10.20.0.5'])
  }, 180_000)

  it('survives garbage on TCP connections and still answers dig over TCP', async () => {
    const rand = prng(42)
    const byte = (): number => Math.floor(rand() * 256)
    const before = { ...server.metrics }
    const conns: Array<Promise<void>> = []
    for (let c = 0; c < 300; c++) {
      conns.push(new Promise<void>(resolve => {
        const sock = net.connect({ host: '127.0.0.1', port })
        sock.on('error', () => { resolve() })
        sock.on('close', () => { resolve() })
        sock.on('data', () => {})
        sock.on('connect', () => {
          const kind = rand()
          const parts: Buffer[] = []
          if (kind < 0.3) parts.push(Buffer.from(Array.from({ length: Math.floor(rand() * 2000) }, byte)))
          else {
            for (let i = 0; i < 1 + Math.floor(rand() * 5); i++) {
              const body = fuzzPacket(rand)
              const len = Buffer.alloc(2)
              len.writeUInt16BE(rand() < 0.1 ? Math.floor(rand() * 65536) : body.length)
              parts.push(len, body)
            }
            if (rand() < 0.3) parts.push(Buffer.from([byte()])) // half a length prefix
          }
          sock.end(Buffer.concat(parts))
          setTimeout(() => { sock.destroy(); resolve() }, 1000)
        })
      }))
    }
    await Promise.all(conns)
    await until(() => server.metrics.tcpOpen === 0, 5000)
    expect(server.metrics.tcpOpen).toBe(0)
    const m = server.metrics
    expect(m.tcpAccepted + m.tcpRejected - before.tcpAccepted - before.tcpRejected).toBeGreaterThanOrEqual(290)
    expect(m.tcpQueries - before.tcpQueries).toBeGreaterThan(100)
    expect(m.malformed - before.malformed).toBeGreaterThan(50)
    expect(server.metrics.internalErrors).toBe(0)
    const r = await dig(port, ['+tcp', 'agent-a.mesh.internal', 'A'])
    expect(r.answer.map(a => a.data)).toEqual(['10.20.0.2'])
  }, 60_000)
})
