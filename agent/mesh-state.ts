/**
 * The replicated state of a mesh and the membership registry over it, opened together: the
 * membership records (member, tags, revocation) are state records at `members/<type>/<peer>`,
 * so state's gossip and anti-entropy carry them, and each one is checked against the chain of
 * authority by the registry before the state store takes it. The registry is seeded from the
 * persisted state at start.
 *
 * @example
 * const { registry, store } = await openMeshState({ db, meshId, rootKey, self, privateKey })
 * registry.isMember(peer)
 */
import { MemberRegistry, RecordInvalidError, membershipKey } from '../protocols/membership/index.js'
import type { AnyRecord } from '../protocols/membership/index.js'
import { StateRecordRefusedError, StateStore, WriteRules, isTombstone } from '../protocols/state/index.js'
import type { Authority, StateRecord } from '../protocols/state/index.js'
import { hasRole } from './roles.js'
import type { Store } from '../store/index.js'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

export interface MeshState {
  registry: MemberRegistry
  store: StateStore
  authority: Authority
}

export function agentWriteRules (registry: MemberRegistry): WriteRules {
  return new WriteRules()
    // the value's own signature and chain are the authority (checked by the registry); the
    // state writer must still be an admin — or, for tags, the member itself
    .allow('members/member/', 'admin')
    .allow('members/revocation/', 'admin')
    .allow('members/tags/', w => w.key.split('/')[2] === w.peerId || registry.isAdmin(w.peerId))
    .allow('jobs/', 'member')
    .allow('jobcancel/', 'member')
    // jobclaims/<id>/<attempt>/<peer>: each agent writes only its own claims
    .allow('jobclaims/', w => w.key.split('/')[3] === w.peerId)
    .allow('jobreason/', 'member')
    .allow('joblogs/', 'member')
    .allow('agents/', 'self')
    .allow('sightings/', 'member')
    .allow('names/', 'member')
    .allow('buildcache/', 'member')
    // provisioning: what machines boot is the admins' to say; what happened to them, the
    // scripts and registry roles'
    .allow('profiles/', 'admin')
    .allow('groups/', 'admin')
    .allow('keys/', 'admin')
    .allow('dcs/', 'admin')
    .allow('hosts/', w => registry.isAdmin(w.peerId) || hasRole(w.tags, 'registry'))
    .allow('hostevents/', w => registry.isAdmin(w.peerId) || hasRole(w.tags, 'registry') || hasRole(w.tags, 'scripts') || hasRole(w.tags, 'ssh'))
    .allow('phonehome/', w => hasRole(w.tags, 'scripts'))
    .allow('sealkeys/', 'self')
    // the overlay: each agent claims addresses as itself, advertises its own routes
    .allow('addresses/', w => w.key.split('/')[2] === w.peerId)
    .allow('routes/', 'self')
    .allow('firewall/', 'admin')
    .allow('clusters/', w => registry.isAdmin(w.peerId) || hasRole(w.tags, 'ssh'))
}

/** The registry's verdict on a `members/` record's value, as a state refusal. */
function membershipCheck (registry: MemberRegistry) {
  return async (r: StateRecord): Promise<void> => {
    if (isTombstone(r)) throw new StateRecordRefusedError('value', `${r.key}: membership records are never deleted (revoke instead)`)
    const [, type, peer] = r.key.split('/')
    const v = r.value as { type?: unknown, peer?: unknown }
    if (r.key.split('/').length !== 3 || v?.type !== type || v?.peer !== peer) throw new StateRecordRefusedError('value', `${r.key}: the value is not the ${type ?? ''} record of ${peer ?? ''}`)
    let outcome
    try {
      outcome = await registry.apply(r.value)
    } catch (err) {
      if (err instanceof RecordInvalidError) throw new StateRecordRefusedError('value', `${r.key}: ${err.message}`)
      throw err
    }
    if (outcome === 'pending') throw new StateRecordRefusedError('pending', `${r.key}: its issuer is not known yet`)
  }
}

export async function openMeshState (init: { db: Store, meshId: string, rootKey: PublicKey, self: string, privateKey: PrivateKey }): Promise<MeshState> {
  const registry = new MemberRegistry(init.meshId, init.rootKey)
  const authority: Authority = {
    isMember: p => registry.isMember(p),
    isAdmin: p => registry.isAdmin(p),
    tagsOf: p => registry.member(p)?.tags ?? {}
  }
  const store = new StateStore({
    meshId: init.meshId,
    self: init.self,
    privateKey: init.privateKey,
    persist: init.db.sublevel<StateRecord>('state'),
    rules: agentWriteRules(registry),
    authority,
    checks: [{ prefix: 'members/', check: membershipCheck(registry) }]
  })
  await store.load()
  // verified again: the disk is not trusted more than the wire
  await registry.applyMany(store.list('members/').map(e => e.value), { silent: true, allowFuture: true })
  // data directories of agents before 2026-11-22 kept the records in a sublevel of their own
  const legacy: unknown[] = []
  for await (const [, r] of init.db.sublevel<AnyRecord>('members').entries()) legacy.push(r)
  await registry.applyMany(legacy, { silent: true, allowFuture: true })
  return { registry, store, authority }
}

/**
 * Writes into state the membership records this agent holds but state does not (from an older
 * data directory), where this agent may write them: all of them as an admin, its own tags
 * otherwise. Returns how many.
 */
export async function migrateLegacyMembers (mesh: MeshState, self: string, write: (key: string, r: AnyRecord) => Promise<void>): Promise<number> {
  let n = 0
  for (const r of mesh.registry.records()) {
    const key = membershipKey(r)
    if (mesh.store.get(key) != null) continue
    if (!mesh.registry.isAdmin(self) && !(r.type === 'tags' && r.peer === self)) continue
    await write(key, r)
    n++
  }
  return n
}
