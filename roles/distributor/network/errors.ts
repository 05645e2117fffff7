/** Errors of the network distributor. One class per condition; callers and tests match on `code`. */

/** The agent could not be put on the host or started (the SSH error or the script's words say why). */
export class AgentInstallError extends Error {
  static readonly code = 'ERR_NETWORK_AGENT_INSTALL'
  readonly code = AgentInstallError.code
  constructor (readonly host: string, readonly reason: string) {
    super(`agent on host ${host}: ${reason}`)
    this.name = 'AgentInstallError'
  }
}

/** The agent started but never showed up as a member of the mesh. */
export class JoinTimeoutError extends Error {
  static readonly code = 'ERR_NETWORK_JOIN_TIMEOUT'
  readonly code = JoinTimeoutError.code
  constructor (readonly host: string, readonly ms: number) {
    super(`the agent on host ${host} did not join the mesh within ${Math.round(ms / 1000)} s`)
    this.name = 'JoinTimeoutError'
  }
}

/** Invalid parameters. */
export class NetworkConfigError extends Error {
  static readonly code = 'ERR_NETWORK_CONFIG'
  readonly code = NetworkConfigError.code
  constructor (message: string) {
    super(message)
    this.name = 'NetworkConfigError'
  }
}
