import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { pino } from 'pino'
import { describe, expect, it } from 'vitest'
import { MemberRegistry, MembershipService, ROOT_ISSUER, meshIdFromRoot, membersTopic, signRecord } from '../../../protocols/membership/index.js'
import type { AnyRecord, MemberRecord, TagsRecord } from '../../../protocols/membership/index.js'
import { memorySublevel } from '../../helpers/memory-sublevel.js'


/** A pubsub fake that keeps what the service registers, so the validator can be called as gossipsub would. */
function fakePubsub (): any {
  return { topicValidators: new Map(), subscribe: () => {}, unsubscribe: () => {}, publish: async () => ({ recipients: [] }) }
}
const fakeLibp2p: any = { handle: async () => {}, unhandle: async () => {}, addEventListener: () => {}, removeEventListener: () => {}, getConnections: () => [], dialProtocol: async () => { throw new Error('offline') }, hangUp: async () => {} }

describe('membership gossip validation', () => {
  it('accepts a valid record from a member, rejects non-members, forgeries and oversize data, and counts them', async () => {
    const root = await generateKeyPair('Ed25519')
    const self = await generateKeyPair('Ed25519')
    const peer = await generateKeyPair('Ed25519')
    const stranger = await generateKeyPair('Ed25519')
    const meshId = meshIdFromRoot(root.publicKey.raw)
    const registry = new MemberRegistry(meshId, root.publicKey, memorySublevel<AnyRecord>())
    const id = (k: typeof self): string => peerIdFromPrivateKey(k).toString()
    for (const k of [self, peer]) {
      await registry.apply(await signRecord<MemberRecord>({ type: 'member', mesh: meshId, peer: id(k), tags: {}, caps: ['admin'], issuer: ROOT_ISSUER, issuedAt: Date.now() }, root))
    }
    const pubsub = fakePubsub()
    const service = new MembershipService({ peerId: id(self), privateKey: self, registry, nonces: memorySublevel<number>(), libp2p: fakeLibp2p, pubsub, logger: pino({ level: 'silent' }) })
    await service.start()
    const validate = pubsub.topicValidators.get(membersTopic(meshId))
    const msg = (from: typeof self, data: unknown): any => ({ type: 'signed', from: peerIdFromPrivateKey(from), topic: membersTopic(meshId), data: new TextEncoder().encode(typeof data === 'string' ? data : JSON.stringify(data)) })

    const tags = await signRecord<TagsRecord>({ type: 'tags', mesh: meshId, peer: id(peer), tags: { dc: 'nbg1' }, issuedAt: Date.now() }, peer)
    expect(await validate(peerIdFromPrivateKey(peer), msg(peer, tags))).toBe(TopicValidatorResult.Accept)
    expect(registry.member(id(peer))?.tags).toEqual({ dc: 'nbg1' })
    expect(await validate(peerIdFromPrivateKey(peer), msg(peer, tags))).toBe(TopicValidatorResult.Ignore)

    // a stranger, as author or as the peer that forwarded it
    const strangerTags = await signRecord<TagsRecord>({ type: 'tags', mesh: meshId, peer: id(stranger), tags: {}, issuedAt: Date.now() }, stranger)
    expect(await validate(peerIdFromPrivateKey(stranger), msg(stranger, strangerTags))).toBe(TopicValidatorResult.Reject)
    expect(await validate(peerIdFromPrivateKey(peer), msg(stranger, strangerTags))).toBe(TopicValidatorResult.Reject)
    expect(await validate(peerIdFromPrivateKey(stranger), msg(peer, tags))).toBe(TopicValidatorResult.Reject)
    // a member forwarding a forged or malformed record
    const forged = { ...tags, tags: { dc: 'evil' }, issuedAt: Date.now() + 1 }
    expect(await validate(peerIdFromPrivateKey(peer), msg(peer, forged))).toBe(TopicValidatorResult.Reject)
    expect(await validate(peerIdFromPrivateKey(peer), msg(peer, '{"type":'))).toBe(TopicValidatorResult.Reject)
    expect(await validate(peerIdFromPrivateKey(peer), msg(peer, 'x'.repeat(20_000)))).toBe(TopicValidatorResult.Reject)
    // unsigned messages are never accepted
    expect(await validate(peerIdFromPrivateKey(peer), { type: 'unsigned', topic: membersTopic(meshId), data: new Uint8Array() })).toBe(TopicValidatorResult.Reject)

    expect(registry.member(id(peer))?.tags).toEqual({ dc: 'nbg1' })
    expect(registry.isMember(id(stranger))).toBe(false)
    expect(service.metrics.gossipRejected).toBe(7)
    expect(service.metrics.gossipAccepted).toBe(1)
    await service.stop()
    expect(pubsub.topicValidators.size).toBe(0)
  })
})
