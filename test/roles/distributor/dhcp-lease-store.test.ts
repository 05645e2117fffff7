import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { Level } from 'level'
import { afterEach, describe, expect, it } from 'vitest'
import { LevelLeaseStore, MemoryLeaseStore, type Lease, type LeaseStore } from '../../../store/leases.js'

const dirs: string[] = []
const closers: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of closers.splice(0)) await c()
  for (const d of dirs.splice(0)) await rm(d, { recursive: true, force: true })
})

async function tempDir (): Promise<string> {
  const d = await mkdtemp(join(tmpdir(), 'ctpf-lease-store-'))
  dirs.push(d)
  return d
}

const lease = (n: number, over: Partial<Lease> = {}): Lease => ({ ip: `10.0.0.${n}`, mac: `52:54:00:00:00:${n.toString(16).padStart(2, '0')}`, expiresAt: 1_000 + n, state: 'bound', ...over })

const stores: Array<[string, () => Promise<LeaseStore>]> = [
  ['MemoryLeaseStore', async () => new MemoryLeaseStore()],
  ['LevelLeaseStore (own database)', async () => new LevelLeaseStore(join(await tempDir(), 'db'))],
  ['LevelLeaseStore (sublevel of a json database)', async () => {
    const db = new Level<string, unknown>(join(await tempDir(), 'db'), { valueEncoding: 'json' })
    closers.push(async () => { await db.close() })
    return new LevelLeaseStore(db.sublevel('dhcp-leases'))
  }]
]

describe.each(stores)('%s', (_name, make) => {
  it('stores, replaces, lists and deletes leases by address', async () => {
    const s = await make()
    await s.open()
    closers.push(async () => { await s.close() })
    await Promise.all([s.put(lease(1)), s.put(lease(2, { hostname: 'n2', clientId: '01aa' }))])
    await s.put(lease(1, { state: 'released' }))
    expect(await s.get('10.0.0.1')).toEqual(lease(1, { state: 'released' }))
    expect(await s.get('10.0.0.9')).toBeUndefined()
    expect((await s.all()).sort((a, b) => a.ip.localeCompare(b.ip))).toEqual([lease(1, { state: 'released' }), lease(2, { hostname: 'n2', clientId: '01aa' })])
    await s.delete('10.0.0.1')
    expect((await s.all()).map(l => l.ip)).toEqual(['10.0.0.2'])
  })
})

describe('LevelLeaseStore persistence', () => {
  it('keeps leases across close and reopen, and group-commits a burst of writes', async () => {
    const path = join(await tempDir(), 'db')
    const a = new LevelLeaseStore(path)
    await a.open()
    await Promise.all(Array.from({ length: 200 }, async (_, i) => { await a.put(lease(i % 250)) }))
    await a.close()
    const b = new LevelLeaseStore(path)
    await b.open()
    closers.push(async () => { await b.close() })
    expect((await b.all()).length).toBe(200)
    expect(await b.get('10.0.0.7')).toEqual(lease(7))
  })

  it('skips a damaged record instead of failing', async () => {
    const path = join(await tempDir(), 'db')
    const raw = new Level<string, string>(path)
    await raw.put('10.0.0.1', '{"ip":"10.0.0.1"')
    await raw.put('10.0.0.2', JSON.stringify({ ip: '10.0.0.2', mac: 'x', expiresAt: 'soon', state: 'bound' }))
    await raw.put('10.0.0.3', JSON.stringify(lease(3)))
    await raw.close()
    const s = new LevelLeaseStore(path)
    await s.open()
    closers.push(async () => { await s.close() })
    expect(await s.all()).toEqual([lease(3)])
  })
})
