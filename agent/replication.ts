/**
 * Wires the replicated state and the job runner of an agent: gossip and anti-entropy over the
 * store opened by `openMeshState`, and the built-in `probe` job kind.
 */
import { JobRunner, probeHandler } from '../protocols/jobs/index.js'
import { StateService } from '../protocols/state/index.js'
import type { MeshState } from './mesh-state.js'
import type { AgentNode } from './node.js'
import type { Logger } from 'pino'

export interface Replication {
  state: StateService
  jobs: JobRunner
  counters: { probeRuns: number }
  stop: () => Promise<void>
}

export async function startReplication (init: { self: string, meshId: string, mesh: MeshState, node: AgentNode, log: Logger, testHooks?: boolean }): Promise<Replication> {
  const { registry, store, authority } = init.mesh
  const state = new StateService({ store, meshId: init.meshId, isMember: authority.isMember, libp2p: init.node, pubsub: init.node.services.pubsub, logger: init.log.child({ component: 'state' }) })
  await state.start()
  const counters = { probeRuns: 0 }
  const jobs = new JobRunner({
    self: init.self,
    meshId: init.meshId,
    state,
    members: () => registry.members().map(m => ({ peerId: m.peerId, tags: m.tags })),
    pubsub: init.node.services.pubsub,
    libp2p: init.node,
    logger: init.log.child({ component: 'jobs' }),
    // with the test hooks, finished jobs' claim records go after 2 s instead of a minute
    timing: init.testHooks === true ? { claimRetentionMs: 2000 } : undefined
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
