/** Errors of the agent's wiring: config, data directory, listening. Tests assert on `code`. */
export class AgentError extends Error {
  constructor (readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'AgentError'
  }
}

export class ConfigError extends AgentError {
  constructor (message: string) { super('CONFIG_INVALID', message); this.name = 'ConfigError' }
}

export class DataDirError extends AgentError {
  constructor (dir: string, why: string, cause?: unknown) {
    super('DATA_DIR_UNUSABLE', `data directory ${dir} is unusable: ${why}`, { cause })
    this.name = 'DataDirError'
  }
}

export class AddressInUseError extends AgentError {
  constructor (what: string, address: string, cause?: unknown) {
    super('ADDRESS_IN_USE', `${what} cannot listen on ${address}: the address is already in use`, { cause })
    this.name = 'AddressInUseError'
  }
}

export class NotRunningError extends AgentError {
  constructor (dir: string) {
    super('AGENT_NOT_RUNNING', `no agent is running on data directory ${dir} (start one with: ctpf agent --data-dir ${dir})`)
    this.name = 'NotRunningError'
  }
}
