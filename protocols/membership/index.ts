/**
 * Mesh membership: signed records chained to a root key, single-use invite tokens, the join
 * and sync protocols, gossip of record changes, and the libp2p gate that keeps every other
 * protocol to members.
 *
 * @example
 * const registry = new MemberRegistry(meshId, rootPublicKey(rootRaw), store.sublevel('members'))
 * await registry.load()
 * const membership = new MembershipService({ peerId, privateKey, registry, nonces, libp2p, pubsub, logger })
 * await membership.start()
 * const token = await membership.createInvite({ tags: { dc: 'nbg1' }, addrs }, rootRaw)
 */
export * from './constants.js'
export * from './errors.js'
export * from './records.js'
export * from './token.js'
export { MemberRegistry } from './registry.js'
export type { Member, RegistryEvents, ApplyResult } from './registry.js'
export { MembershipService, requestJoin } from './service.js'
export type { MembershipComponents, MembershipMetrics, InviteInit, JoinOutcome } from './service.js'
export { membershipGate, meshConnectionGater, NotAMemberError } from './gate.js'
export type { Admission, MembershipGateInit } from './gate.js'
