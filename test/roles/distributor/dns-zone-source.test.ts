import { describe, expect, it } from 'vitest'
import { MemoryZoneSource } from '../../../roles/distributor/dns/index.js'

describe('dns: MemoryZoneSource', () => {
  it('stores names relative to the zone, lower case, per datacenter', () => {
    const z = new MemoryZoneSource()
    z.set('Web1', { a: ['10.0.0.1', '10.0.0.1'] }, 'NBG1')
    z.set('agent-a', { aaaa: ['fd00::1'] })
    expect(z.lookup('web1.nbg1')).toEqual({ a: ['10.0.0.1'], aaaa: [] })
    expect(z.lookup('agent-a')).toEqual({ a: [], aaaa: ['fd00::1'] })
    expect(z.lookup('web1')).toBeUndefined()
    expect([...z.entries()].map(([name]) => name).sort()).toEqual(['agent-a', 'web1.nbg1'])
  })

  it('rejects bad names and addresses with typed errors, changing nothing', () => {
    const z = new MemoryZoneSource()
    let calls = 0
    z.onChange(() => { calls++ })
    expect(() => { z.set('bad name', { a: ['10.0.0.1'] }) }).toThrow(expect.objectContaining({ code: 'ERR_DNS_INVALID_NAME' }))
    expect(() => { z.set('x', { a: ['10.0.0.256'] }) }).toThrow(expect.objectContaining({ code: 'ERR_DNS_INVALID_ADDRESS' }))
    expect(() => { z.set('x', { aaaa: ['10.0.0.1'] }) }).toThrow(expect.objectContaining({ code: 'ERR_DNS_INVALID_ADDRESS' }))
    expect(() => { z.set('x', { a: ['10.0.0.1'] }, '-dc') }).toThrow(expect.objectContaining({ code: 'ERR_DNS_INVALID_NAME' }))
    expect(z.size).toBe(0)
    expect(calls).toBe(0)
  })

  it('notifies listeners on every change, once for a bulk replace, and stops after unsubscribe', () => {
    const z = new MemoryZoneSource()
    let calls = 0
    const off = z.onChange(() => { calls++ })
    z.set('a', { a: ['10.0.0.1'] })
    z.replace([{ name: 'b', dc: 'sin1', a: ['10.0.0.2'] }, { name: 'c', aaaa: ['fd00::3'] }])
    expect(calls).toBe(2)
    expect(z.lookup('a')).toBeUndefined()
    expect(z.lookup('b.sin1')?.a).toEqual(['10.0.0.2'])
    expect(z.delete('nothing')).toBe(false)
    expect(calls).toBe(2)
    off()
    z.delete('c')
    expect(calls).toBe(2)
  })
})
