import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { MemoryZoneSource, type DnsServer } from '../../../roles/distributor/dns/index.js'
import { dig, startDns } from './dns-helpers.js'

describe('dns: authoritative answers for the mesh zone, through dig', () => {
  const records = new MemoryZoneSource()
  let server: DnsServer
  let port: number

  beforeAll(async () => {
    records.set('web1', { a: ['10.20.0.5', '10.20.0.6'], aaaa: ['fd00:20::5'] }, 'nbg1')
    records.set('agent-a', { a: ['10.20.0.2'], aaaa: ['2001:db8::a:2'] })
    records.set('v4only', { a: ['10.30.0.9'] }, 'sin1')
    records.set('ns', { a: ['127.0.0.1'] })
    ;({ server, port } = await startDns({ domain: 'mesh.internal', ttl: { records: 42, negative: 17 } }, records))
  })
  afterAll(async () => { await server.stop() })

  it('answers A for <name>.<dc>.<domain>, authoritatively, with the configured TTL', async () => {
    const r = await dig(port, ['web1.nbg1.mesh.internal', 'A'])
    expect(r.status).toBe('NOERROR')
    expect(r.flags).toContain('aa')
    expect(r.answer.map(a => a.data).sort()).toEqual(['10.20.0.5', '10.20.0.6'])
    expect(r.answer.every(a => a.ttl === 42 && a.type === 'A')).toBe(true)
  })

  it('answers AAAA for <name>.<domain>', async () => {
    const r = await dig(port, ['agent-a.mesh.internal', 'AAAA'])
    expect(r.status).toBe('NOERROR')
    expect(r.answer).toEqual([{ name: 'agent-a.mesh.internal.', ttl: 42, type: 'AAAA', data: '2001:db8::a:2' }])
  })

  it('answers PTR for the zone\'s IPv4 and IPv6 addresses', async () => {
    const v4 = await dig(port, ['-x', '10.20.0.6'])
    expect(v4.status).toBe('NOERROR')
    expect(v4.flags).toContain('aa')
    expect(v4.answer.map(a => a.data)).toEqual(['web1.nbg1.mesh.internal.'])
    const v6 = await dig(port, ['-x', '2001:db8::a:2'])
    expect(v6.answer.map(a => a.data)).toEqual(['agent-a.mesh.internal.'])
    expect(v6.answer[0]?.type).toBe('PTR')
  })

  it('answers PTR for IPv6 addresses written with :: and with an IPv4 tail', async () => {
    records.set('mapped', { aaaa: ['::ffff:10.1.2.3', 'FD00:0:0:0:0:0:0:1'] })
    const mapped = await dig(port, ['-x', '::ffff:a01:203'])
    expect(mapped.answer.map(a => a.data)).toEqual(['mapped.mesh.internal.'])
    const upper = await dig(port, ['-x', 'fd00::1'])
    expect(upper.answer.map(a => a.data)).toEqual(['mapped.mesh.internal.'])
    records.delete('mapped')
    expect((await dig(port, ['-x', 'fd00::1'])).status).toBe('REFUSED')
  })

  it('answers SOA and NS at the apex, with glue for an in-zone name server', async () => {
    const soa = await dig(port, ['mesh.internal', 'SOA'])
    expect(soa.status).toBe('NOERROR')
    expect(soa.flags).toContain('aa')
    expect(soa.answer[0]?.type).toBe('SOA')
    expect(soa.answer[0]?.data).toMatch(/^ns\.mesh\.internal\. hostmaster\.mesh\.internal\. \d+ 3600 600 86400 17$/)
    const ns = await dig(port, ['mesh.internal', 'NS'])
    expect(ns.answer.map(a => a.data)).toEqual(['ns.mesh.internal.'])
    expect(ns.additional.filter(a => a.type === 'A').map(a => a.data)).toEqual(['127.0.0.1'])
  })

  it('answers NXDOMAIN with the SOA in authority for a missing name', async () => {
    const r = await dig(port, ['nobody.nbg1.mesh.internal', 'A'])
    expect(r.status).toBe('NXDOMAIN')
    expect(r.flags).toContain('aa')
    expect(r.answer).toEqual([])
    expect(r.authority.map(a => [a.name, a.type, a.ttl])).toEqual([['mesh.internal.', 'SOA', 17]])
  })

  it('answers NODATA for an existing name without the type, and for a datacenter label', async () => {
    const r = await dig(port, ['v4only.sin1.mesh.internal', 'AAAA'])
    expect(r.status).toBe('NOERROR')
    expect(r.answer).toEqual([])
    expect(r.authority[0]?.type).toBe('SOA')
    const mx = await dig(port, ['web1.nbg1.mesh.internal', 'MX'])
    expect(mx.status).toBe('NOERROR')
    expect(mx.answer).toEqual([])
    const dc = await dig(port, ['nbg1.mesh.internal', 'A'])
    expect(dc.status).toBe('NOERROR')
    expect(dc.authority[0]?.type).toBe('SOA')
  })

  it('is case-insensitive and echoes the asker\'s spelling', async () => {
    const r = await dig(port, ['WeB1.NbG1.MESH.internal', 'A'])
    expect(r.status).toBe('NOERROR')
    expect(r.answer.map(a => a.data).sort()).toEqual(['10.20.0.5', '10.20.0.6'])
    expect(r.answer[0]?.name).toBe('WeB1.NbG1.MESH.internal.')
  })

  it('answers the same over TCP', async () => {
    const r = await dig(port, ['+tcp', 'web1.nbg1.mesh.internal', 'AAAA'])
    expect(r.status).toBe('NOERROR')
    expect(r.answer.map(a => a.data)).toEqual(['fd00:20::5'])
    expect(r.raw).toMatch(/\(TCP\)/)
    const nx = await dig(port, ['+tcp', 'gone.mesh.internal'])
    expect(nx.status).toBe('NXDOMAIN')
  })

  it('refuses names outside the zone when no upstream is configured', async () => {
    const r = await dig(port, ['example.test', 'A'])
    expect(r.status).toBe('REFUSED')
    expect(r.flags).not.toContain('ra')
  })

  it('sets TC on a UDP answer that does not fit 512 bytes and gives the whole answer over TCP', async () => {
    const many = Array.from({ length: 60 }, (_, i) => `10.99.${i >> 8}.${i & 255}`)
    records.set('big', { a: many })
    const udp = await dig(port, ['+noedns', '+ignore', 'big.mesh.internal', 'A'])
    expect(udp.flags).toContain('tc')
    expect(udp.answer).toEqual([])
    const tcp = await dig(port, ['+noedns', 'big.mesh.internal', 'A'])
    expect(tcp.answer).toHaveLength(60)
    records.delete('big')
  })

  it('shows zone updates through the ZoneSource in the next answer', async () => {
    const before = await dig(port, ['web9.nbg1.mesh.internal', 'A'])
    expect(before.status).toBe('NXDOMAIN')
    records.set('web9', { a: ['10.20.0.99'] }, 'nbg1')
    const added = await dig(port, ['web9.nbg1.mesh.internal', 'A'])
    expect(added.answer.map(a => a.data)).toEqual(['10.20.0.99'])
    const ptr = await dig(port, ['-x', '10.20.0.99'])
    expect(ptr.answer.map(a => a.data)).toEqual(['web9.nbg1.mesh.internal.'])
    records.set('web9', { a: ['10.20.0.100'] }, 'nbg1')
    const changed = await dig(port, ['web9.nbg1.mesh.internal', 'A'])
    expect(changed.answer.map(a => a.data)).toEqual(['10.20.0.100'])
    records.delete('web9', 'nbg1')
    const removed = await dig(port, ['web9.nbg1.mesh.internal', 'A'])
    expect(removed.status).toBe('NXDOMAIN')
  })

  it('raises the SOA serial when the zone changes', async () => {
    const serial = async (): Promise<number> => Number((await dig(port, ['mesh.internal', 'SOA'])).answer[0]?.data.split(' ')[2])
    const before = await serial()
    records.set('tmp', { a: ['10.1.1.1'] })
    const after = await serial()
    expect(after).toBeGreaterThan(before)
    records.delete('tmp')
  })

  it('counts what it answered', () => {
    expect(server.metrics.authoritative).toBeGreaterThan(10)
    expect(server.metrics.nxdomain).toBeGreaterThan(0)
    expect(server.metrics.refused).toBeGreaterThan(0)
    expect(server.metrics.tcpQueries).toBeGreaterThan(0)
  })
})
