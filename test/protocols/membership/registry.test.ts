import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { describe, expect, it } from 'vitest'
import { MemberRegistry, ROOT_ISSUER, meshIdFromRoot, signRecord } from '../../../protocols/membership/index.js'
import type { AnyRecord, MemberRecord, Revocation, TagsRecord } from '../../../protocols/membership/index.js'
import { memorySublevel } from '../../helpers/memory-sublevel.js'
import type { PrivateKey } from '@libp2p/interface'


async function mesh (): Promise<{ root: PrivateKey, meshId: string, registry: MemberRegistry, store: ReturnType<typeof memorySublevel<AnyRecord>> }> {
  const root = await generateKeyPair('Ed25519')
  const meshId = meshIdFromRoot(root.publicKey.raw)
  const store = memorySublevel<AnyRecord>()
  return { root, meshId, registry: new MemberRegistry(meshId, root.publicKey, store), store }
}

const idOf = (k: PrivateKey): string => peerIdFromPrivateKey(k).toString()

async function member (meshId: string, peer: PrivateKey, issuer: PrivateKey | 'root', rootKey: PrivateKey, opts: { caps?: string[], at?: number, tags?: Record<string, string> } = {}): Promise<MemberRecord> {
  return await signRecord<MemberRecord>({
    type: 'member', mesh: meshId, peer: idOf(peer), tags: opts.tags ?? {}, caps: opts.caps ?? [],
    issuer: issuer === 'root' ? ROOT_ISSUER : idOf(issuer), issuedAt: opts.at ?? Date.now()
  }, issuer === 'root' ? rootKey : issuer)
}

const codeOf = async (p: Promise<unknown>): Promise<string | undefined> => { try { await p; return undefined } catch (e) { return (e as { code?: string }).code } }

describe('membership records', () => {
  it('records chain to the root through admins', async () => {
    const { root, meshId, registry } = await mesh()
    const admin = await generateKeyPair('Ed25519')
    const joiner = await generateKeyPair('Ed25519')
    expect(await registry.apply(await member(meshId, admin, 'root', root, { caps: ['admin'] }))).toBe('accepted')
    expect(await registry.apply(await member(meshId, joiner, admin, root, { tags: { dc: 'nbg1' } }))).toBe('accepted')
    expect(registry.members().map(m => m.peerId).sort()).toEqual([idOf(admin), idOf(joiner)].sort())
    expect(registry.isAdmin(idOf(admin))).toBe(true)
    expect(registry.isAdmin(idOf(joiner))).toBe(false)
  })

  it('a tampered record, a record from a non-admin, a foreign or future record is refused and not stored', async () => {
    const { root, meshId, registry, store } = await mesh()
    const admin = await generateKeyPair('Ed25519')
    const plain = await generateKeyPair('Ed25519')
    const other = await generateKeyPair('Ed25519')
    await registry.apply(await member(meshId, admin, 'root', root, { caps: ['admin'] }))
    await registry.apply(await member(meshId, plain, admin, root))
    const stored = store.map.size

    const good = await member(meshId, other, admin, root)
    expect(await codeOf(registry.apply({ ...good, caps: ['admin'] }))).toBe('RECORD_INVALID')
    expect(await codeOf(registry.apply({ ...good, sig: good.sig.slice(0, -4) + 'AAAA' }))).toBe('RECORD_INVALID')
    expect(await codeOf(registry.apply(await member(meshId, other, plain, root)))).toBe('RECORD_INVALID')
    expect(await codeOf(registry.apply({ ...good, mesh: '0000000000000000' }))).toBe('RECORD_INVALID')
    expect(await codeOf(registry.apply(await member(meshId, other, admin, root, { at: Date.now() + 3600_000 })))).toBe('RECORD_INVALID')
    expect(await codeOf(registry.apply({ type: 'member', junk: true }))).toBe('RECORD_INVALID')
    // a self-made "root" record signed by the wrong key
    expect(await codeOf(registry.apply(await member(meshId, other, 'root', other)))).toBe('RECORD_INVALID')
    expect(store.map.size).toBe(stored)
    expect(registry.isMember(idOf(other))).toBe(false)
  })

  it('a record whose issuer is not known yet waits and is applied when the issuer arrives', async () => {
    const { root, meshId, registry } = await mesh()
    const admin = await generateKeyPair('Ed25519')
    const joiner = await generateKeyPair('Ed25519')
    expect(await registry.apply(await member(meshId, joiner, admin, root))).toBe('pending')
    expect(registry.isMember(idOf(joiner))).toBe(false)
    await registry.apply(await member(meshId, admin, 'root', root, { caps: ['admin'] }))
    expect(registry.isMember(idOf(joiner))).toBe(true)
  })

  it('revocation removes a member; members an admin invited before its revocation stay', async () => {
    const { root, meshId, registry } = await mesh()
    const a = await generateKeyPair('Ed25519')
    const b = await generateKeyPair('Ed25519')
    const early = await generateKeyPair('Ed25519')
    const late = await generateKeyPair('Ed25519')
    const t = Date.now() - 10_000
    await registry.apply(await member(meshId, a, 'root', root, { caps: ['admin'], at: t }))
    await registry.apply(await member(meshId, b, 'root', root, { caps: ['admin'], at: t }))
    await registry.apply(await member(meshId, early, b, root, { at: t + 1000 }))
    const revoked: string[] = []
    registry.on('member:revoked', r => revoked.push(r.peerId))
    await registry.apply(await signRecord<Revocation>({ type: 'revocation', mesh: meshId, peer: idOf(b), issuer: idOf(a), issuedAt: t + 2000 }, a))
    expect(revoked).toEqual([idOf(b)])
    expect(registry.isMember(idOf(b))).toBe(false)
    expect(registry.isMember(idOf(early))).toBe(true)
    // b signs after its revocation: refused
    expect(await codeOf(registry.apply(await member(meshId, late, b, root, { at: t + 3000 })))).toBe('RECORD_INVALID')
  })

  it('self-declared tags merge under granted tags, the later record wins', async () => {
    const { root, meshId, registry } = await mesh()
    const a = await generateKeyPair('Ed25519')
    await registry.apply(await member(meshId, a, 'root', root, { tags: { dc: 'nbg1' } }))
    const t1 = await signRecord<TagsRecord>({ type: 'tags', mesh: meshId, peer: idOf(a), tags: { role: 'builder', dc: 'lie' }, issuedAt: Date.now() }, a)
    const t0 = await signRecord<TagsRecord>({ type: 'tags', mesh: meshId, peer: idOf(a), tags: { role: 'old' }, issuedAt: Date.now() - 5000 }, a)
    await registry.apply(t1)
    expect(await registry.apply(t0)).toBe('stale')
    expect(registry.member(idOf(a))?.tags).toEqual({ role: 'builder', dc: 'nbg1' })
  })

  it('what was stored is loaded and verified again after a restart', async () => {
    const { root, meshId, registry, store } = await mesh()
    const a = await generateKeyPair('Ed25519')
    await registry.apply(await member(meshId, a, 'root', root, { caps: ['admin'] }))
    const reloaded = new MemberRegistry(meshId, root.publicKey, store)
    await reloaded.load()
    expect(reloaded.isAdmin(idOf(a))).toBe(true)
    // a record altered on disk does not count
    const [key, rec] = [...store.map.entries()][0]
    store.map.set(key, { ...(rec as MemberRecord), caps: ['admin', 'root'] })
    const tampered = new MemberRegistry(meshId, root.publicKey, store)
    await tampered.load()
    expect(tampered.isMember(idOf(a))).toBe(false)
  })
})
