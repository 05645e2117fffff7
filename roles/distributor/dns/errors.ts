/**
 * Errors of the DNS server. One class per condition; tests and callers match on `code`.
 */

export class DnsConfigError extends Error {
  static readonly code = 'ERR_DNS_CONFIG'
  readonly code = DnsConfigError.code
  override readonly name = 'DnsConfigError'
  constructor (message: string, readonly issues: readonly string[] = []) {
    super(message)
  }
}

/** Binding a port below 1024 without root or CAP_NET_BIND_SERVICE. */
export class PrivilegedPortError extends Error {
  static readonly code = 'ERR_DNS_PRIVILEGED_PORT'
  readonly code = PrivilegedPortError.code
  override readonly name = 'PrivilegedPortError'
  constructor (readonly address: string, readonly port: number, options?: ErrorOptions) {
    super(`cannot bind ${address}:${port}: ports below 1024 need root or CAP_NET_BIND_SERVICE ` +
      '(e.g. systemd AmbientCapabilities=CAP_NET_BIND_SERVICE), or configure a port >= 1024', options)
  }
}

export class AddressInUseError extends Error {
  static readonly code = 'ERR_DNS_ADDRESS_IN_USE'
  readonly code = AddressInUseError.code
  override readonly name = 'AddressInUseError'
  constructor (readonly address: string, readonly port: number, readonly transport: 'udp' | 'tcp', options?: ErrorOptions) {
    super(`cannot bind ${transport} ${address}:${port}: address already in use`, options)
  }
}

/** Any other failure to bind the listening sockets (address not on this machine, …). */
export class BindError extends Error {
  static readonly code = 'ERR_DNS_BIND'
  readonly code = BindError.code
  override readonly name = 'BindError'
  constructor (readonly address: string, readonly port: number, readonly transport: 'udp' | 'tcp', options?: ErrorOptions) {
    super(`cannot bind ${transport} ${address}:${port}: ${errorMessage(options?.cause)}`, options)
  }
}

export class UpstreamTimeoutError extends Error {
  static readonly code = 'ERR_DNS_UPSTREAM_TIMEOUT'
  readonly code = UpstreamTimeoutError.code
  override readonly name = 'UpstreamTimeoutError'
  constructor (readonly upstream: string, readonly timeoutMs: number) {
    super(`upstream ${upstream} did not answer within ${timeoutMs} ms`)
  }
}

export class UpstreamUnreachableError extends Error {
  static readonly code = 'ERR_DNS_UPSTREAM_UNREACHABLE'
  readonly code = UpstreamUnreachableError.code
  override readonly name = 'UpstreamUnreachableError'
  constructor (readonly upstream: string, options?: ErrorOptions) {
    super(`upstream ${upstream} is unreachable: ${errorMessage(options?.cause)}`, options)
  }
}

/** The upstream answered with something that is not a usable answer to our question. */
export class UpstreamBadResponseError extends Error {
  static readonly code = 'ERR_DNS_UPSTREAM_BAD_RESPONSE'
  readonly code = UpstreamBadResponseError.code
  override readonly name = 'UpstreamBadResponseError'
  constructor (readonly upstream: string, reason: string) {
    super(`upstream ${upstream} sent a bad response: ${reason}`)
  }
}

/** The upstream answered SERVFAIL/REFUSED/NOTIMP/FORMERR. */
export class UpstreamRcodeError extends Error {
  static readonly code = 'ERR_DNS_UPSTREAM_RCODE'
  readonly code = UpstreamRcodeError.code
  override readonly name = 'UpstreamRcodeError'
  constructor (readonly upstream: string, readonly rcode: string) {
    super(`upstream ${upstream} answered ${rcode}`)
  }
}

export class ForwardAbortedError extends Error {
  static readonly code = 'ERR_DNS_FORWARD_ABORTED'
  readonly code = ForwardAbortedError.code
  override readonly name = 'ForwardAbortedError'
  constructor () {
    super('forwarding was aborted')
  }
}

export class InvalidZoneNameError extends Error {
  static readonly code = 'ERR_DNS_INVALID_NAME'
  readonly code = InvalidZoneNameError.code
  override readonly name = 'InvalidZoneNameError'
  constructor (readonly value: string, reason: string) {
    super(`invalid zone name ${JSON.stringify(value)}: ${reason}`)
  }
}

export class InvalidAddressError extends Error {
  static readonly code = 'ERR_DNS_INVALID_ADDRESS'
  readonly code = InvalidAddressError.code
  override readonly name = 'InvalidAddressError'
  constructor (readonly value: string, readonly family: 'IPv4' | 'IPv6') {
    super(`invalid ${family} address ${JSON.stringify(value)}`)
  }
}

function errorMessage (cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

/** Too many upstream queries in flight: new ones fail fast instead of piling up. */
export class ForwardOverloadError extends Error {
  static readonly code = 'ERR_DNS_FORWARD_OVERLOAD'
  readonly code = ForwardOverloadError.code
  override readonly name = 'ForwardOverloadError'
  constructor (readonly limit: number) {
    super(`more than ${limit} upstream queries in flight`)
  }
}
