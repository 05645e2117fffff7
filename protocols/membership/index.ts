/**
 * Mesh membership: signed records chained to a root key, single-use invite tokens, the join
 * protocol, and the libp2p gate that keeps every other protocol to members. The records
 * themselves travel in replicated state (`members/<type>/<peer>`); the registry is the
 * verified index over them.
 *
 * @example
 * const registry = new MemberRegistry(meshId, rootPublicKey(rootRaw))
 * await registry.applyMany(state.list('members/').map(e => e.value), { silent: true })
 * const membership = new MembershipService({ peerId, privateKey, registry, nonces, libp2p, logger,
 *   write: (key, record) => state.write(key, record), snapshot: () => state.list('members/').map(e => e.record) })
 * await membership.start()
 * const token = await membership.createInvite({ tags: { dc: 'nbg1' }, addrs }, rootRaw)
 */
export * from './constants.js'
export * from './errors.js'
export * from './records.js'
export * from './token.js'
export { MemberRegistry } from './registry.js'
export type { Member, RegistryEvents, ApplyResult } from './registry.js'
export { MembershipService, membershipKey, requestJoin } from './service.js'
export type { MembershipComponents, MembershipMetrics, InviteInit, JoinOutcome } from './service.js'
export { membershipGate, meshConnectionGater, NotAMemberError } from './gate.js'
export type { Admission, MembershipGateInit } from './gate.js'
