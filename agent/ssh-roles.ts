/**
 * The SSH distributor roles on an agent (role=ssh): `ssh` jobs that run commands and scripts
 * on registered hosts, the network distributor (hosts into the overlay) and the workload
 * distributor (k3s clusters). Wired by the agent at start.
 */
import type { Artifacts } from '../protocols/artifacts/index.js'
import type { JobRunner } from '../protocols/jobs/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { HostInventory } from './hosts.js'
import type { Logger } from 'pino'

export interface SshRolesInit {
  self: string
  tags: Record<string, string>
  dataDir: string
  jobs: JobRunner
  state: StateService
  inventory: HostInventory
  artifacts: Artifacts
  registry: MemberRegistry
  /** Mints a single-use invite token (this agent must be an admin) for a host joining as an agent. */
  createInvite: (init: { tags?: Record<string, string>, ttlSeconds?: number }) => Promise<string>
  log: Logger
}

export async function startSshRoles (_init: SshRolesInit): Promise<void> {
  // filled in by the SSH distributor work (issue 9)
}
