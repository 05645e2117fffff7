/** Errors of the DHCP server role; tests and the control API switch on `code`. */
export abstract class DhcpServerError extends Error {
  abstract readonly code: string
}

/** The configuration failed validation; the message lists every problem. */
export class InvalidConfigError extends DhcpServerError {
  override readonly name = 'InvalidConfigError'
  readonly code = 'ERR_DHCP_INVALID_CONFIG'
}

/** A port below 1024 could not be bound: the process lacks root or CAP_NET_BIND_SERVICE. */
export class PrivilegedPortError extends DhcpServerError {
  override readonly name = 'PrivilegedPortError'
  readonly code = 'ERR_DHCP_PRIVILEGED_PORT'
  constructor (readonly port: number, options?: ErrorOptions) {
    super(`binding UDP port ${port} needs root or CAP_NET_BIND_SERVICE ` +
      '(run as root, grant it with `setcap cap_net_bind_service=+ep $(which node)` or systemd AmbientCapabilities=, ' +
      'or configure high ports)', options)
  }
}

/** Another process (another DHCP server?) already holds the port. */
export class PortInUseError extends DhcpServerError {
  override readonly name = 'PortInUseError'
  readonly code = 'ERR_DHCP_PORT_IN_USE'
  constructor (readonly port: number, options?: ErrorOptions) {
    super(`UDP port ${port} is already in use (is another DHCP server running?)`, options)
  }
}

/** Any other failure to bind a socket. */
export class BindError extends DhcpServerError {
  override readonly name = 'BindError'
  readonly code = 'ERR_DHCP_BIND'
}
