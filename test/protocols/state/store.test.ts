import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { StateStore, WriteRules, signStateRecord } from '../../../protocols/state/index.js'
import { memorySublevel } from '../../helpers/memory-sublevel.js'
import type { StateRecord } from '../../../protocols/state/index.js'
import type { PrivateKey } from '@libp2p/interface'

const MESH = '0123456789abcdef'
const id = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()

async function setup (opts: { now?: () => number, horizon?: number } = {}): Promise<any> {
  const admin = await generateKeyPair('Ed25519')
  const member = await generateKeyPair('Ed25519')
  const stranger = await generateKeyPair('Ed25519')
  const members = new Set([id(admin), id(member)])
  const authority = { isMember: (p: string) => members.has(p), isAdmin: (p: string) => p === id(admin), tagsOf: (p: string) => p === id(member) ? { role: 'registry' } : {} }
  const rules = new WriteRules().allow('jobs/', 'member').allow('members/', 'admin').allow('agents/', 'self').allow('hosts/', w => w.tags.role === 'registry')
  const persist = memorySublevel<StateRecord>()
  const mk = (key: PrivateKey): StateStore => new StateStore({ meshId: MESH, self: id(key), privateKey: key, persist, rules, authority, now: opts.now, tombstoneHorizonMs: opts.horizon })
  return { admin, member, stranger, persist, store: mk(admin), mk, rules, authority }
}

async function record (key: PrivateKey, k: string, value: unknown, stamp = { t: Date.now(), c: 0 }, mesh = MESH): Promise<StateRecord> {
  return await signStateRecord({ mesh, key: k, value, stamp, author: id(key) }, key)
}

const refusal = async (p: Promise<unknown>): Promise<string | undefined> => {
  try { await p; return undefined } catch (e) { return (e as { reason?: string }).reason }
}

describe('the state store', () => {
  it('refuses forged, foreign, unauthorized, future, oversize and malformed records, counts them, stores none', async () => {
    const { store, member, stranger, admin } = await setup()
    const good = await record(member, 'jobs/1', { a: 1 })
    expect(await refusal(store.apply({ ...good, value: { a: 2 } }))).toBe('signature')
    expect(await refusal(store.apply(await record(member, 'jobs/2', 1, undefined, 'ffffffffffffffff')))).toBe('foreign')
    expect(await refusal(store.apply(await record(stranger, 'jobs/3', 1)))).toBe('author')
    expect(await refusal(store.apply(await record(member, 'members/x', 1)))).toBe('unauthorized')
    expect(await refusal(store.apply(await record(member, `agents/${id(admin)}`, 1)))).toBe('unauthorized')
    expect(await refusal(store.apply(await record(admin, 'hosts/h1', 1)))).toBe('unauthorized')
    expect(await refusal(store.apply(await record(member, 'nowhere/1', 1)))).toBe('unauthorized')
    expect(await refusal(store.apply(await record(member, 'jobs/4', 1, { t: Date.now() + 3600_000, c: 0 })))).toBe('future')
    expect(await refusal(store.apply(await record(member, 'jobs/5', 'x'.repeat(70_000))))).toBe('oversize')
    expect(await refusal(store.apply({ key: 'jobs/6' }))).toBe('malformed')
    expect(store.size).toBe(0)
    expect(store.refused).toMatchObject({ signature: 1, foreign: 1, author: 1, unauthorized: 4, future: 1, oversize: 1, malformed: 1 })
    // the allowed ones pass
    expect(await store.apply(good)).toBe('accepted')
    expect(await store.apply(await record(member, 'hosts/h1', { mac: 'x' }))).toBe('accepted')
    expect(await store.apply(await record(member, `agents/${id(member)}`, {}))).toBe('accepted')
  })

  it('merges by last writer wins on (stamp, author), the same way in any order', async () => {
    const { mk, admin, member } = await setup()
    const t = Date.now()
    const rs = [
      await record(admin, 'jobs/x', 'a', { t, c: 0 }),
      await record(member, 'jobs/x', 'b', { t, c: 0 }),
      await record(admin, 'jobs/x', 'c', { t: t - 10, c: 5 }),
      await record(member, 'jobs/x', 'd', { t, c: 1 })
    ]
    const orders = [[0, 1, 2, 3], [3, 2, 1, 0], [2, 0, 3, 1], [1, 3, 0, 2]]
    const results = []
    const digests = new Set<string>()
    for (const o of orders) {
      const s: StateStore = mk(admin)
      for (const i of o) await s.apply(rs[i])
      results.push(s.get('jobs/x'))
      digests.add(s.digests().join(''))
    }
    expect(new Set(results)).toEqual(new Set(['d']))
    expect(digests.size).toBe(1)
  })

  it('a write is persisted before it returns and survives a restart; stale and known records change nothing', async () => {
    const { store, mk, admin, persist } = await setup()
    await store.write('jobs/a', { n: 1 })
    const older = store.record('jobs/a') as StateRecord
    await store.write('jobs/a', { n: 2 })
    expect(await store.apply(older)).toBe('stale')
    expect(await store.apply(store.record('jobs/a'))).toBe('known')
    expect(persist.map.get('jobs/a')?.value).toEqual({ n: 2 })
    const again: StateStore = mk(admin)
    await again.load()
    expect(again.get('jobs/a')).toEqual({ n: 2 })
    expect(again.digests()).toEqual(store.digests())
    // the clock continues after the loaded stamps: a new write wins
    await again.write('jobs/a', { n: 3 })
    expect(again.get('jobs/a')).toEqual({ n: 3 })
  })

  it('deletes are tombstones, collected after the horizon', async () => {
    let now = Date.now()
    const { store } = await setup({ now: () => now, horizon: 1000 })
    await store.write('jobs/t', 1)
    await store.delete('jobs/t')
    expect(store.get('jobs/t')).toBeUndefined()
    expect(store.record('jobs/t')?.value).toBeNull()
    expect(await store.collectTombstones()).toBe(0)
    now += 2000
    expect(await store.collectTombstones()).toBe(1)
    expect(store.record('jobs/t')).toBeUndefined()
  })

  it('watchers hear accepted changes under their prefix, and only those', async () => {
    const { store } = await setup()
    const seen: string[] = []
    const off = store.watch('jobs/', r => seen.push(r.key))
    await store.write('jobs/1', 1)
    await store.write('agents/' + 'x'.repeat(50), 1).catch(() => {})
    await store.write('jobs/1', 1)
    off()
    await store.write('jobs/2', 1)
    expect(seen).toEqual(['jobs/1', 'jobs/1'])
  })

  it('digests tell exactly which buckets differ', async () => {
    const a = await setup()
    const b: StateStore = a.mk(a.member)
    await b.load()
    for (let i = 0; i < 50; i++) await a.store.write(`jobs/${i}`, i)
    const recs = a.store.recordsIn([...Array(256).keys()])
    expect(recs).toHaveLength(50)
    await b.applyMany(recs)
    expect(b.digests()).toEqual(a.store.digests())
    await a.store.write('jobs/extra', 1)
    const differ = a.store.digests().map((d: string, i: number) => d === b.digests()[i] ? -1 : i).filter((i: number) => i >= 0)
    expect(differ).toHaveLength(1)
    expect(a.store.recordsIn(differ).map((r: StateRecord) => r.key)).toContain('jobs/extra')
  })
})
