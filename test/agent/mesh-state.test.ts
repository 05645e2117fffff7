import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { migrateLegacyMembers, openMeshState } from '../../agent/mesh-state.js'
import { ROOT_ISSUER, meshIdFromRoot, membershipKey, signRecord } from '../../protocols/membership/index.js'
import { signStateRecord } from '../../protocols/state/index.js'
import { memorySublevel } from '../helpers/memory-sublevel.js'
import type { AnyRecord, MemberRecord, Revocation, TagsRecord } from '../../protocols/membership/index.js'
import type { MeshState } from '../../agent/mesh-state.js'
import type { StateRecord } from '../../protocols/state/index.js'
import type { Store } from '../../store/index.js'
import type { PrivateKey } from '@libp2p/interface'

const id = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()

function memoryStore (): Store {
  const subs = new Map<string, ReturnType<typeof memorySublevel>>()
  return {
    sublevel: <V>(name: string) => {
      if (!subs.has(name)) subs.set(name, memorySublevel<unknown>())
      return subs.get(name) as any as ReturnType<typeof memorySublevel<V>>
    },
    raw: () => { throw new Error('not in this test') },
    close: async () => {}
  }
}

async function world (): Promise<any> {
  const root = await generateKeyPair('Ed25519')
  const founder = await generateKeyPair('Ed25519')
  const plain = await generateKeyPair('Ed25519')
  const stranger = await generateKeyPair('Ed25519')
  const meshId = meshIdFromRoot(root.publicKey.raw)
  const open = async (self: PrivateKey, db = memoryStore()): Promise<MeshState> => await openMeshState({ db, meshId, rootKey: root.publicKey, self: id(self), privateKey: self })
  const member = async (peer: PrivateKey, issuer: PrivateKey | 'root', caps: string[] = []): Promise<MemberRecord> =>
    await signRecord<MemberRecord>({ type: 'member', mesh: meshId, peer: id(peer), tags: {}, caps, issuer: issuer === 'root' ? ROOT_ISSUER : id(issuer), issuedAt: Date.now() }, issuer === 'root' ? root : issuer)
  const tags = async (peer: PrivateKey, t: Record<string, string>): Promise<TagsRecord> =>
    await signRecord<TagsRecord>({ type: 'tags', mesh: meshId, peer: id(peer), tags: t, issuedAt: Date.now() }, peer)
  const wrap = async (author: PrivateKey, key: string, value: unknown): Promise<StateRecord> =>
    await signStateRecord({ mesh: meshId, key, value, stamp: { t: Date.now(), c: 0 }, author: id(author) }, author)
  /** The founder's side: the records applied to its registry and written into its state. */
  const a = await open(founder)
  const publish = async (r: AnyRecord): Promise<void> => { await a.registry.apply(r, { silent: true }); await a.store.write(membershipKey(r), r) }
  await publish(await member(founder, 'root', ['admin']))
  await publish(await tags(founder, { dc: 'nbg1' }))
  await publish(await member(plain, founder))
  await publish(await tags(plain, { role: 'builder' }))
  return { root, founder, plain, stranger, meshId, open, member, tags, wrap, a }
}

const refusal = async (p: Promise<unknown>): Promise<string | undefined> => {
  try { await p; return undefined } catch (e) { return (e as { reason?: string }).reason }
}

describe('membership records in replicated state', () => {
  it('a fresh agent takes the whole membership from state records in any order, and keeps it across a restart', async () => {
    const w = await world()
    const db = memoryStore()
    const b: MeshState = await w.open(w.stranger, db)
    // newest first: every record's issuer arrives after the record itself
    const records = w.a.store.list('members/').map((e: { record: StateRecord }) => e.record).reverse()
    const good = await b.store.verifyMany(records)
    expect(good).toHaveLength(4)
    await b.store.applyMany(good)
    expect(b.registry.members().map(m => m.peerId).sort()).toEqual([id(w.founder), id(w.plain)].sort())
    expect(b.registry.member(id(w.plain))?.tags).toEqual({ role: 'builder' })
    expect(b.store.refused).toEqual({})

    const again: MeshState = await w.open(w.stranger, db)
    expect(again.registry.isMember(id(w.plain))).toBe(true)
    expect(again.registry.isAdmin(id(w.founder))).toBe(true)
  })

  it('refuses forged, unauthorized, pending, mismatched and deleting membership records and counts them', async () => {
    const w = await world()
    const s: MeshState = w.a
    // a member record that names the founder as issuer but is signed by the stranger
    const selfMade = await signRecord<MemberRecord>({ type: 'member', mesh: w.meshId, peer: id(w.stranger), tags: {}, caps: ['admin'], issuer: id(w.founder), issuedAt: Date.now() }, w.stranger)
    expect(await refusal(s.store.verify(await w.wrap(w.founder, membershipKey(selfMade), selfMade)))).toBe('value')
    // a valid record under the wrong key
    const plainTags = await w.tags(w.plain, { role: 'x' })
    expect(await refusal(s.store.verify(await w.wrap(w.plain, `members/tags/${id(w.founder)}`, plainTags)))).toBe('value')
    // deletion
    expect(await refusal(s.store.verify(await w.wrap(w.founder, `members/member/${id(w.plain)}`, null)))).toBe('value')
    // a plain member may carry its own tags, not another member's, and no member records
    expect(await refusal(s.store.verify(await w.wrap(w.plain, membershipKey(plainTags), plainTags)))).toBeUndefined()
    const founderTags = await w.tags(w.founder, { dc: 'fsn1' })
    expect(await refusal(s.store.verify(await w.wrap(w.plain, membershipKey(founderTags), founderTags)))).toBe('unauthorized')
    const rev = await signRecord<Revocation>({ type: 'revocation', mesh: w.meshId, peer: id(w.stranger), issuer: id(w.founder), issuedAt: Date.now() }, w.founder)
    expect(await refusal(s.store.verify(await w.wrap(w.plain, membershipKey(rev), rev)))).toBe('unauthorized')
    // issued by an admin nobody has heard of yet
    const unknownAdmin = await generateKeyPair('Ed25519')
    const orphan = await w.member(w.stranger, unknownAdmin)
    expect(await refusal(s.store.verify(await w.wrap(w.founder, membershipKey(orphan), orphan)))).toBe('pending')
    // a stranger's state record, even carrying a valid record
    expect(await refusal(s.store.verify(await w.wrap(w.stranger, membershipKey(plainTags), plainTags)))).toBe('author')

    expect(s.store.refused).toEqual({ value: 3, unauthorized: 2, pending: 1, author: 1 })
    expect(s.registry.isMember(id(w.stranger))).toBe(false)
    // the founder's own signed tags are authority enough for the registry, whoever carried
    // them; only the state record of the unauthorized carrier is refused
    expect(s.registry.member(id(w.founder))?.tags).toEqual({ dc: 'fsn1' })
    expect((s.store.get(`members/tags/${id(w.founder)}`) as TagsRecord).tags).toEqual({ dc: 'nbg1' })
  })

  it('a revocation in state removes the member from the registry of an agent that syncs it', async () => {
    const w = await world()
    const rev = await signRecord<Revocation>({ type: 'revocation', mesh: w.meshId, peer: id(w.plain), issuer: id(w.founder), issuedAt: Date.now() }, w.founder)
    const revoked: string[] = []
    w.a.registry.on('member:revoked', ({ peerId }: { peerId: string }) => revoked.push(peerId))
    await w.a.store.applyMany([await w.a.store.verify(await w.wrap(w.founder, membershipKey(rev), rev))])
    expect(w.a.registry.isMember(id(w.plain))).toBe(false)
    expect(revoked).toEqual([id(w.plain)])
    // and the revoked member's own writes are refused from then on
    expect(await refusal(w.a.store.verify(await w.wrap(w.plain, 'jobs/x', { a: 1 })))).toBe('author')
  })

  it('an older data directory\'s membership records (their own sublevel) are read and moved into state', async () => {
    const w = await world()
    const db = memoryStore()
    const legacy = db.sublevel<AnyRecord>('members')
    for (const { key, value } of w.a.store.list('members/')) await legacy.put(key.slice('members/'.length), value as AnyRecord)
    const old: MeshState = await w.open(w.founder, db)
    expect(old.registry.isMember(id(w.plain))).toBe(true)
    expect(old.store.list('members/')).toHaveLength(0)
    const n = await migrateLegacyMembers(old, id(w.founder), async (key, r) => { await old.store.write(key, r) })
    expect(n).toBe(4)
    expect(old.store.list('members/').map(e => e.key).sort()).toEqual(w.a.store.list('members/').map((e: { key: string }) => e.key).sort())
    expect(await migrateLegacyMembers(old, id(w.founder), async () => { throw new Error('nothing left to move') })).toBe(0)
  })
})
