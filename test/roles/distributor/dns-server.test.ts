import dgram from 'node:dgram'
import net from 'node:net'
import { Writable } from 'node:stream'
import dnsPacket from 'dns-packet'
import pino from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { createDnsServer, MemoryZoneSource, type DnsServer } from '../../../roles/distributor/dns/index.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { dig, freePort, rcodeOf, silentLogger, startDns } from './dns-helpers.js'

const records = new MemoryZoneSource()
records.set('web1', { a: ['10.0.0.5'] }, 'nbg1')

/** Sends raw bytes over UDP; resolves with the reply, or undefined after `waitMs`. */
async function rawUdp (port: number, msg: Buffer, waitMs = 300): Promise<Buffer | undefined> {
  const sock = dgram.createSocket('udp4')
  try {
    return await new Promise<Buffer | undefined>(resolve => {
      const timer = setTimeout(() => { resolve(undefined) }, waitMs)
      sock.once('message', m => { clearTimeout(timer); resolve(m) })
      sock.send(msg, port, '127.0.0.1')
    })
  } finally {
    sock.close()
  }
}

function frame (msg: Buffer): Buffer {
  const len = Buffer.alloc(2)
  len.writeUInt16BE(msg.length)
  return Buffer.concat([len, msg])
}

function query (name: string, id = 7): Buffer {
  return dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] })
}

describe('dns: lifecycle and configuration', () => {
  it('start() and stop() are safe to call twice, and the server restarts', async () => {
    const server = createDnsServer({ domain: 'mesh.internal', port: 0 }, { logger: silentLogger, records })
    await Promise.all([server.start(), server.start()])
    await server.start()
    const port = server.address?.port as number
    expect((await dig(port, ['web1.nbg1.mesh.internal'])).answer.map(a => a.data)).toEqual(['10.0.0.5'])
    await server.stop()
    await server.stop()
    expect(server.address).toBeUndefined()
    expect((await dig(port, ['+time=1', 'web1.nbg1.mesh.internal'])).status).toBe('NO-ANSWER')
    await server.start()
    const again = server.address?.port as number
    expect((await dig(again, ['+tcp', 'web1.nbg1.mesh.internal'])).answer.map(a => a.data)).toEqual(['10.0.0.5'])
    await server.stop()
  })

  it('uses one port for UDP and TCP, and reports a taken port with a typed error', async () => {
    const port = await freePort()
    const first = createDnsServer({ domain: 'mesh.internal', port }, { logger: silentLogger, records })
    await first.start()
    const second = createDnsServer({ domain: 'mesh.internal', port }, { logger: silentLogger, records })
    await expect(second.start()).rejects.toMatchObject({ code: 'ERR_DNS_ADDRESS_IN_USE' })
    expect((await dig(port, ['+tcp', 'web1.nbg1.mesh.internal'])).status).toBe('NOERROR')
    await first.stop()
    await second.stop()
  })

  it('rejects bad configuration with ERR_DNS_CONFIG', () => {
    const make = (init: object): unknown => { try { createDnsServer({ domain: 'mesh.internal', ...init } as never, { logger: silentLogger, records }); return undefined } catch (e) { return e } }
    expect(make({ domain: 'bad domain!' })).toMatchObject({ code: 'ERR_DNS_CONFIG' })
    expect(make({ upstreams: ['resolver.example:53'] })).toMatchObject({ code: 'ERR_DNS_CONFIG' })
    expect(make({ port: 70000 })).toMatchObject({ code: 'ERR_DNS_CONFIG' })
    expect(make({ address: '0.0.0.0', port: 5300, upstreams: ['127.0.0.1:5300'] })).toMatchObject({ code: 'ERR_DNS_CONFIG' })
    expect(make({ upstreams: ['[::1]:5353', '192.0.2.1'] })).toBeUndefined()
  })
})

describe('dns: malformed and unusual queries', () => {
  let server: DnsServer
  let port: number
  beforeAll(async () => { ({ server, port } = await startDns({ domain: 'mesh.internal' }, records)) })
  afterAll(async () => { await server.stop() })

  it('answers FORMERR, keeping the id, when the header is readable but the rest is not', async () => {
    const broken = query('web1.nbg1.mesh.internal', 0x4242).subarray(0, 20)
    const res = await rawUdp(port, broken)
    expect(res).toBeDefined()
    const h = dnsPacket.decode(res as Buffer)
    expect(h.id).toBe(0x4242)
    expect(h.type).toBe('response')
    expect(rcodeOf(h)).toBe('FORMERR')
  })

  it('drops datagrams shorter than a header and packets that are responses', async () => {
    const dropped = server.metrics.dropped
    expect(await rawUdp(port, Buffer.from([1, 2, 3]))).toBeUndefined()
    const response = dnsPacket.encode({ type: 'response', id: 9, questions: [{ type: 'A', name: 'web1.nbg1.mesh.internal' }] })
    expect(await rawUdp(port, response)).toBeUndefined()
    expect(server.metrics.dropped).toBe(dropped + 2)
  })

  it('answers NOTIMP to opcodes other than QUERY', async () => {
    const r = await dig(port, ['+opcode=5', 'web1.nbg1.mesh.internal'])
    expect(r.status).toBe('NOTIMP')
    const notify = Buffer.from(query('mesh.internal', 77))
    notify.writeUInt16BE(4 << 11, 2)
    const res = await rawUdp(port, notify)
    expect(rcodeOf(dnsPacket.decode(res as Buffer))).toBe('NOTIMP')
  })

  it('answers FORMERR to a query with two questions and BADVERS to EDNS version 1', async () => {
    const two = dnsPacket.encode({ type: 'query', id: 5, questions: [{ type: 'A', name: 'a.mesh.internal' }, { type: 'A', name: 'b.mesh.internal' }] })
    expect(rcodeOf(dnsPacket.decode(await rawUdp(port, two) as Buffer))).toBe('FORMERR')
    const r = await dig(port, ['+edns=1', '+noednsneg', 'web1.nbg1.mesh.internal'])
    expect(r.status).toBe('BADVERS')
  })

  it('stops reading a TCP client that does not read its answers', async () => {
    const sock = net.connect({ host: '127.0.0.1', port })
    sock.on('error', () => {})
    await new Promise(resolve => sock.once('connect', resolve))
    sock.pause() // never read the answers
    const one = frame(query('web1.nbg1.mesh.internal', 1))
    const flood = Buffer.concat(Array.from({ length: 300_000 }, () => one)) // ~13 MB of queries
    sock.write(flood)
    await new Promise(resolve => setTimeout(resolve, 1500))
    // the server stopped taking queries, so most of the flood is still queued on our side
    expect(sock.writableLength).toBeGreaterThan(flood.length / 4)
    sock.destroy()
    expect((await dig(port, ['+tcp', 'web1.nbg1.mesh.internal'])).status).toBe('NOERROR')
  })

  it('answers pipelined queries on one TCP connection', async () => {
    const sock = net.connect({ host: '127.0.0.1', port })
    const frames: Buffer[] = []
    let buf = Buffer.alloc(0)
    const done = new Promise<void>(resolve => {
      sock.on('data', chunk => {
        buf = Buffer.concat([buf, chunk])
        while (buf.length >= 2 && buf.length >= 2 + buf.readUInt16BE(0)) {
          frames.push(buf.subarray(2, 2 + buf.readUInt16BE(0)))
          buf = buf.subarray(2 + buf.readUInt16BE(0))
        }
        if (frames.length === 3) resolve()
      })
    })
    sock.write(Buffer.concat([frame(query('web1.nbg1.mesh.internal', 1)), frame(query('nope.mesh.internal', 2)), frame(query('mesh.internal', 3))]))
    await done
    sock.destroy()
    expect(frames.map(f => dnsPacket.decode(f)).map(p => [p.id, rcodeOf(p)])).toEqual([[1, 'NOERROR'], [2, 'NXDOMAIN'], [3, 'NOERROR']])
  })
})

describe('dns: logging malformed input', () => {
  it('logs malformed queries at a rate limit and keeps counting the rest', async () => {
    const lines: Array<{ msg: string, client?: { address: string } }> = []
    const sink = new Writable({ write (chunk: Buffer, _enc, cb) { lines.push(JSON.parse(chunk.toString())); cb() } })
    const server = createDnsServer({ domain: 'mesh.internal', port: 0, limits: { malformedLogsPerMinute: 3 } }, { logger: pino({ level: 'warn' }, sink), records })
    await server.start()
    const port = server.address?.port as number
    for (let i = 0; i < 20; i++) await rawUdp(port, query('web1.nbg1.mesh.internal', i).subarray(0, 15))
    await server.stop()
    const malformed = lines.filter(l => l.msg === 'malformed query')
    expect(malformed).toHaveLength(3)
    expect(malformed[0]?.client?.address).toBe('127.0.0.1')
    expect(server.metrics.malformed).toBe(20)
    expect(server.metrics.formerr).toBe(20)
  })
})

describe('dns: TCP limits', () => {
  let server: DnsServer
  let port: number
  beforeAll(async () => {
    ({ server, port } = await startDns({ domain: 'mesh.internal', limits: { tcpMaxConnections: 2, tcpIdleTimeoutMs: 1500, maxMessageBytes: 600 } }, records))
  })
  afterAll(async () => { await server.stop() })

  function open (): Promise<{ sock: net.Socket, closed: Promise<number> }> {
    return new Promise(resolve => {
      const sock = net.connect({ host: '127.0.0.1', port })
      sock.on('error', () => {})
      const t0 = Date.now()
      const closed = new Promise<number>(resolve => sock.on('close', () => { resolve(Date.now() - t0) }))
      sock.on('connect', () => { resolve({ sock, closed }) })
    })
  }

  it('closes idle connections after the idle timeout', async () => {
    const { closed } = await open()
    const ms = await closed
    expect(ms).toBeGreaterThanOrEqual(1400)
    expect(ms).toBeLessThan(4000)
    expect(server.metrics.tcpIdleClosed).toBeGreaterThan(0)
  })

  it('refuses connections beyond the maximum', async () => {
    const a = await open()
    const b = await open()
    const rejected = server.metrics.tcpRejected
    const c = await open()
    expect(await c.closed).toBeLessThan(1000) // well before the idle timeout
    expect(server.metrics.tcpRejected).toBe(rejected + 1)
    a.sock.destroy()
    b.sock.destroy()
  })

  it('closes a connection that announces a frame larger than the limit', async () => {
    const { sock, closed } = await open()
    const len = Buffer.alloc(2)
    len.writeUInt16BE(601)
    sock.write(len)
    expect(await closed).toBeLessThan(1000) // well before the idle timeout
  })
})

describePrivileged('dns: privileged ports', [], () => {
  it('says that binding port 53 needs root or CAP_NET_BIND_SERVICE', async () => {
    const server = createDnsServer({ domain: 'mesh.internal', port: 53 }, { logger: silentLogger, records })
    // drop root for the bind only: with a non-zero effective uid the kernel clears the
    // effective capabilities; seteuid(0) afterwards restores them from the permitted set
    process.seteuid?.(65534)
    let error: unknown
    try {
      await server.start()
    } catch (err) {
      error = err
    } finally {
      process.seteuid?.(0)
    }
    await server.stop()
    expect(error).toMatchObject({ code: 'ERR_DNS_PRIVILEGED_PORT', name: 'PrivilegedPortError' })
    expect((error as Error).message).toMatch(/CAP_NET_BIND_SERVICE/)
  })
})
