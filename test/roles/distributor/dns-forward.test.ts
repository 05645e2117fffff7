import dgram from 'node:dgram'
import dnsPacket from 'dns-packet'
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest'
import { MemoryZoneSource, type DnsServer } from '../../../roles/distributor/dns/index.js'
import { dig, Dnsmasq, FakeUpstream, freePort, rcodeOf, startDns } from './dns-helpers.js'

describe('dns: forwarding to a real dnsmasq upstream on loopback', () => {
  let dnsmasq: Dnsmasq
  let server: DnsServer
  let port: number
  const records = new MemoryZoneSource()

  beforeAll(async () => {
    dnsmasq = new Dnsmasq(await freePort(), ['--address=/example.test/192.0.2.7'])
    await dnsmasq.start()
    records.set('web1', { a: ['10.0.0.5'] }, 'nbg1')
    ;({ server, port } = await startDns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${dnsmasq.port}`] }, records))
  })
  afterAll(async () => {
    await server?.stop()
    await dnsmasq?.stop()
  })

  it('forwards a name outside the zone and relays the answer, recursion available, not authoritative', async () => {
    const r = await dig(port, ['www.example.test', 'A'])
    expect(r.status).toBe('NOERROR')
    expect(r.flags).toContain('ra')
    expect(r.flags).not.toContain('aa')
    expect(r.answer.map(a => [a.name, a.data])).toEqual([['www.example.test.', '192.0.2.7']])
  })

  it('forwards over TCP from the client too', async () => {
    const r = await dig(port, ['+tcp', 'Other.Example.TEST', 'A'])
    expect(r.answer.map(a => [a.name, a.data])).toEqual([['Other.Example.TEST.', '192.0.2.7']])
  })

  it('still answers the zone itself, and never forwards a missing zone name', async () => {
    const before = server.metrics.upstreamQueries
    expect((await dig(port, ['web1.nbg1.mesh.internal'])).answer.map(a => a.data)).toEqual(['10.0.0.5'])
    expect((await dig(port, ['missing.mesh.internal'])).status).toBe('NXDOMAIN')
    expect(server.metrics.upstreamQueries).toBe(before)
  })
})

describe('dns: forwarding behaviour against a scripted upstream', () => {
  const records = new MemoryZoneSource()
  const started: Array<{ stop: () => Promise<void> }> = []
  afterEach(async () => {
    for (const s of started.splice(0)) await s.stop()
  })

  async function upstream (opts: ConstructorParameters<typeof FakeUpstream>[0]): Promise<FakeUpstream> {
    const u = new FakeUpstream(opts)
    await u.start()
    started.push(u)
    return u
  }
  async function dns (init: Parameters<typeof startDns>[0]): Promise<{ server: DnsServer, port: number }> {
    const s = await startDns(init, records)
    started.push(s.server)
    return s
  }

  it('retries over TCP when the upstream UDP answer is truncated', async () => {
    const up = await upstream({ records: { 'big.example.test': ['192.0.2.10', '192.0.2.11'] }, truncateUdp: true })
    const { server, port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${up.port}`] })
    const r = await dig(port, ['big.example.test', 'A'])
    expect(r.status).toBe('NOERROR')
    expect(r.flags).not.toContain('tc')
    expect(r.answer.map(a => a.data).sort()).toEqual(['192.0.2.10', '192.0.2.11'])
    expect(up.asked.map(a => a.transport)).toEqual(['udp', 'tcp'])
    expect(server.metrics.upstreamTcpRetries).toBe(1)
  })

  it('answers SERVFAIL within the timeout when the upstream never answers', async () => {
    const up = await upstream({ records: {}, silent: true })
    const { port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${up.port}`], forward: { timeoutMs: 300 } })
    const t0 = Date.now()
    const r = await dig(port, ['down.example.test', 'A'])
    const elapsed = Date.now() - t0
    expect(r.status).toBe('SERVFAIL')
    expect(elapsed).toBeGreaterThanOrEqual(250)
    expect(elapsed).toBeLessThan(1500)
    expect(up.asked).toHaveLength(1)
  })

  it('answers SERVFAIL quickly when nothing listens on the upstream port', async () => {
    const dead = await freePort()
    const { port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${dead}`], forward: { timeoutMs: 2000 } })
    const t0 = Date.now()
    const r = await dig(port, ['down.example.test', 'A'])
    expect(r.status).toBe('SERVFAIL')
    expect(Date.now() - t0).toBeLessThan(1500)
  })

  it('moves on to the next upstream when the first one fails', async () => {
    const mute = await upstream({ records: {}, silent: true })
    const good = await upstream({ records: { 'a.example.test': ['192.0.2.1'] } })
    const { port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${mute.port}`, `127.0.0.1:${good.port}`], forward: { timeoutMs: 300 } })
    const r = await dig(port, ['a.example.test', 'A'])
    expect(r.answer.map(a => a.data)).toEqual(['192.0.2.1'])
    expect(mute.asked).toHaveLength(1)
    expect(good.asked).toHaveLength(1)
  })

  it('caches answers for their TTL and counts the TTL down', async () => {
    const up = await upstream({ records: { 'c.example.test': ['192.0.2.3'] }, ttl: 100 })
    const { server, port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${up.port}`] })
    const first = await dig(port, ['c.example.test', 'A'])
    const second = await dig(port, ['C.EXAMPLE.TEST', 'A'])
    expect(first.answer[0]?.ttl).toBe(100)
    expect(second.answer.map(a => a.data)).toEqual(['192.0.2.3'])
    expect(second.answer[0]?.name).toBe('C.EXAMPLE.TEST.')
    expect(second.answer[0]?.ttl).toBeLessThanOrEqual(100)
    expect(up.asked).toHaveLength(1)
    expect(server.metrics.cacheHits).toBe(1)
    const nx1 = await dig(port, ['nope.example.test', 'A'])
    const nx2 = await dig(port, ['nope.example.test', 'A'])
    expect([nx1.status, nx2.status]).toEqual(['NXDOMAIN', 'NXDOMAIN'])
    expect(up.asked).toHaveLength(2)
  })

  it('counts cached TTLs down and asks again once they expire', async () => {
    const up = await upstream({ records: { 'short.example.test': ['192.0.2.6'], 'long.example.test': ['192.0.2.8'] }, ttl: 2 })
    const { port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${up.port}`] })
    expect((await dig(port, ['short.example.test'])).answer[0]?.ttl).toBe(2)
    await new Promise(resolve => setTimeout(resolve, 1100))
    expect((await dig(port, ['short.example.test'])).answer[0]?.ttl).toBe(1)
    expect(up.asked).toHaveLength(1)
    await new Promise(resolve => setTimeout(resolve, 1000))
    expect((await dig(port, ['short.example.test'])).answer.map(a => a.data)).toEqual(['192.0.2.6'])
    expect(up.asked).toHaveLength(2)
  })

  it('does not cache answers with TTL 0', async () => {
    const up = await upstream({ records: { 'z.example.test': ['192.0.2.4'] }, ttl: 0 })
    const { port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${up.port}`] })
    await dig(port, ['z.example.test', 'A'])
    await dig(port, ['z.example.test', 'A'])
    expect(up.asked).toHaveLength(2)
  })

  it('keeps the client\'s query id and never forwards names in its own domain', async () => {
    const up = await upstream({ records: { 'id.example.test': ['192.0.2.5'], 'x.mesh.internal': ['6.6.6.6'] } })
    const { port } = await dns({ domain: 'mesh.internal', upstreams: [`127.0.0.1:${up.port}`] })
    const sock = dgram.createSocket('udp4')
    const ask = async (name: string, id: number): Promise<ReturnType<typeof dnsPacket.decode>> => {
      const reply = new Promise<Buffer>(resolve => sock.once('message', resolve))
      sock.send(dnsPacket.encode({ type: 'query', id, flags: dnsPacket.RECURSION_DESIRED, questions: [{ type: 'A', name }] }), port, '127.0.0.1')
      return dnsPacket.decode(await reply)
    }
    const res = await ask('id.example.test', 0xbeef)
    expect(res.id).toBe(0xbeef)
    expect(res.answers?.map(a => (a as { data: unknown }).data)).toEqual(['192.0.2.5'])
    const own = await ask('x.mesh.internal', 0x1234)
    expect(own.id).toBe(0x1234)
    expect(rcodeOf(own)).toBe('NXDOMAIN')
    expect(up.asked.map(a => a.name)).toEqual(['id.example.test'])
    sock.close()
  })
})
