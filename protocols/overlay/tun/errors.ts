/**
 * Errors of the TUN device layer. One class per condition; callers match on `code`.
 * The agent turns ERR_TUN_PERMISSION, ERR_TUN_UNAVAILABLE and ERR_TUN_ADDON_MISSING into
 * "overlay is off" with the message as the reason.
 */

function causeMessage (cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

/** No CAP_NET_ADMIN (or no permission on /dev/net/tun). */
export class TunPermissionError extends Error {
  static readonly code = 'ERR_TUN_PERMISSION'
  readonly code = TunPermissionError.code
  override readonly name = 'TunPermissionError'
  constructor (what: string, options?: ErrorOptions) {
    super(`${what}: operation not permitted — a TUN device needs CAP_NET_ADMIN ` +
      '(run as root, or as a service with AmbientCapabilities=CAP_NET_ADMIN so `ip` inherits it too)', options)
  }
}

/** /dev/net/tun is missing or the kernel has no TUN driver. */
export class TunUnavailableError extends Error {
  static readonly code = 'ERR_TUN_UNAVAILABLE'
  readonly code = TunUnavailableError.code
  override readonly name = 'TunUnavailableError'
  constructor (options?: ErrorOptions) {
    super(`/dev/net/tun is not available (${causeMessage(options?.cause)}): load the tun module ` +
      '(modprobe tun) or, in a container, pass the device through (--device /dev/net/tun)', options)
  }
}

/** The native addon is not built (or cannot be loaded on this machine). */
export class TunAddonMissingError extends Error {
  static readonly code = 'ERR_TUN_ADDON_MISSING'
  readonly code = TunAddonMissingError.code
  override readonly name = 'TunAddonMissingError'
  constructor (readonly path: string, options?: ErrorOptions) {
    super(`the TUN addon ${path} cannot be loaded (${causeMessage(options?.cause)}); ` +
      'build it with `node protocols/overlay/tun/native/build.mjs` (needs a C compiler, make, python3)', options)
  }
}

/** The requested interface name exists already and is not a free TUN device. */
export class TunNameInUseError extends Error {
  static readonly code = 'ERR_TUN_NAME_IN_USE'
  readonly code = TunNameInUseError.code
  override readonly name = 'TunNameInUseError'
  constructor (readonly ifname: string, options?: ErrorOptions) {
    super(`interface ${ifname} exists already and cannot be attached as a TUN device`, options)
  }
}

/** Any other failure of open/ioctl on /dev/net/tun. */
export class TunOpenError extends Error {
  static readonly code = 'ERR_TUN_OPEN'
  readonly code = TunOpenError.code
  override readonly name = 'TunOpenError'
  constructor (readonly ifname: string, options?: ErrorOptions) {
    super(`cannot open TUN device ${ifname}: ${causeMessage(options?.cause)}`, options)
  }
}

/** Invalid options (name, MTU, address, batch size). */
export class TunConfigError extends Error {
  static readonly code = 'ERR_TUN_CONFIG'
  readonly code = TunConfigError.code
  override readonly name = 'TunConfigError'
  constructor (message: string) {
    super(message)
  }
}

/** `ip` failed to set the MTU, an address or the link state. The device is closed again. */
export class TunSetupError extends Error {
  static readonly code = 'ERR_TUN_SETUP'
  readonly code = TunSetupError.code
  override readonly name = 'TunSetupError'
  constructor (readonly ifname: string, readonly argv: readonly string[], options?: ErrorOptions) {
    super(`setting up ${ifname} failed: ip ${argv.join(' ')}: ${causeMessage(options?.cause).trim()}`, options)
  }
}

/** Reading from the device failed (the device was deleted under us). The device stops reading. */
export class TunReadError extends Error {
  static readonly code = 'ERR_TUN_READ'
  readonly code = TunReadError.code
  override readonly name = 'TunReadError'
  constructor (readonly ifname: string, options?: ErrorOptions) {
    super(`reading from ${ifname} failed: ${causeMessage(options?.cause)}`, options)
  }
}

/** `write()` on a device that was closed. */
export class TunClosedError extends Error {
  static readonly code = 'ERR_TUN_CLOSED'
  readonly code = TunClosedError.code
  override readonly name = 'TunClosedError'
  constructor (readonly ifname: string) {
    super(`TUN device ${ifname} is closed`)
  }
}
