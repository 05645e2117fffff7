/**
 * The encrypted layer-3 overlay on an agent: a TUN device, an address claimed in state, packets
 * to other members over libp2p, subnet routes and a firewall by tags. Without CAP_NET_ADMIN the
 * agent runs and says that the overlay is off and why.
 */
import type { JobRunner } from '../protocols/jobs/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { AgentNode } from './node.js'
import type { Logger } from 'pino'

export interface OverlayInit {
  self: string
  meshId: string
  tags: Record<string, string>
  config: { enabled: boolean, range?: string, routes?: string[], tunName?: string }
  node: AgentNode
  state: StateService
  registry: MemberRegistry
  jobs: JobRunner
  log: Logger
}

/** What the control API shows of the overlay (GET /v1/net/status). */
export interface OverlayStatus { enabled: boolean, reason?: string }

export interface Overlay {
  status: () => OverlayStatus
  stop: () => Promise<void>
}

export async function startOverlay (init: OverlayInit): Promise<Overlay> {
  init.log.debug('overlay not built yet')
  return { status: () => ({ enabled: false, reason: 'the overlay is not built yet' }), stop: async () => {} }
}
