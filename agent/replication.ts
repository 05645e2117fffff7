/**
 * Wires the replicated state and the job runner of an agent: the write rules of the agent's
 * own key prefixes, the store over level, gossip and anti-entropy, and the built-in `probe`
 * job kind.
 */
import { JobRunner, probeHandler } from '../protocols/jobs/index.js'
import { StateService, StateStore, WriteRules } from '../protocols/state/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { StateRecord } from '../protocols/state/index.js'
import type { Store } from '../store/index.js'
import type { AgentNode } from './node.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'

export interface Replication {
  state: StateService
  jobs: JobRunner
  counters: { probeRuns: number }
  stop: () => Promise<void>
}

export function agentWriteRules (): WriteRules {
  return new WriteRules()
    .allow('jobs/', 'member')
    .allow('jobcancel/', 'member')
    // jobclaims/<id>/<attempt>/<peer>: each agent writes only its own claims
    .allow('jobclaims/', w => w.key.split('/')[3] === w.peerId)
    .allow('jobreason/', 'member')
    .allow('joblogs/', 'member')
    .allow('agents/', 'self')
    .allow('sightings/', 'member')
    .allow('names/', 'member')
}

export async function startReplication (init: { self: string, meshId: string, privateKey: PrivateKey, registry: MemberRegistry, db: Store, node: AgentNode, log: Logger }): Promise<Replication> {
  const { registry } = init
  const authority = {
    isMember: (p: string) => registry.isMember(p),
    isAdmin: (p: string) => registry.isAdmin(p),
    tagsOf: (p: string) => registry.member(p)?.tags ?? {}
  }
  const store = new StateStore({ meshId: init.meshId, self: init.self, privateKey: init.privateKey, persist: init.db.sublevel<StateRecord>('state'), rules: agentWriteRules(), authority })
  await store.load()
  const state = new StateService({ store, meshId: init.meshId, isMember: authority.isMember, libp2p: init.node, pubsub: init.node.services.pubsub, logger: init.log.child({ component: 'state' }) })
  await state.start()
  const counters = { probeRuns: 0 }
  const jobs = new JobRunner({
    self: init.self,
    meshId: init.meshId,
    state,
    members: () => registry.members().map(m => ({ peerId: m.peerId, tags: m.tags })),
    pubsub: init.node.services.pubsub,
    logger: init.log.child({ component: 'jobs' })
  })
  jobs.register('probe', probeHandler(init.self, () => { counters.probeRuns++ }), { capacity: 8 })
  await jobs.start()
  return {
    state,
    jobs,
    counters,
    stop: async () => {
      await jobs.stop()
      await state.stop()
    }
  }
}
