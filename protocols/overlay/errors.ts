/**
 * Errors of the overlay. One class per condition; callers match on `code`.
 */

/** An address, range or prefix that cannot be used. */
export class OverlayConfigError extends Error {
  static readonly code = 'ERR_OVERLAY_CONFIG'
  readonly code = OverlayConfigError.code
  override readonly name = 'OverlayConfigError'
}

/** The mesh range has no free address left for this agent. */
export class AddressExhaustedError extends Error {
  static readonly code = 'ERR_OVERLAY_ADDRESS_EXHAUSTED'
  readonly code = AddressExhaustedError.code
  override readonly name = 'AddressExhaustedError'
  constructor (readonly range: string) {
    super(`no free overlay address left in ${range}`)
  }
}

/** No member owns the address (ping, route lookups). */
export class NoRouteError extends Error {
  static readonly code = 'ERR_OVERLAY_NO_ROUTE'
  readonly code = NoRouteError.code
  override readonly name = 'NoRouteError'
  constructor (readonly address: string) {
    super(`no member of the mesh owns or routes ${address}`)
  }
}

/** The address is this agent's own (ping). */
export class SelfAddressError extends Error {
  static readonly code = 'ERR_OVERLAY_SELF'
  readonly code = SelfAddressError.code
  override readonly name = 'SelfAddressError'
  constructor (readonly address: string) {
    super(`${address} is this agent's own overlay address`)
  }
}

/** A peer did not answer an overlay ping in time, or its stream could not be opened. */
export class PeerUnreachableError extends Error {
  static readonly code = 'ERR_OVERLAY_UNREACHABLE'
  readonly code = PeerUnreachableError.code
  override readonly name = 'PeerUnreachableError'
  constructor (readonly peer: string, why: string, options?: ErrorOptions) {
    super(`overlay peer ${peer} is unreachable: ${why}`, options)
  }
}

/** A frame on the wire broke the format or its limits; the stream is aborted. */
export class OverlayWireError extends Error {
  static readonly code = 'ERR_OVERLAY_WIRE'
  readonly code = OverlayWireError.code
  override readonly name = 'OverlayWireError'
}

/** The peer on a stream is not (or no longer) a member. */
export class NotMemberError extends Error {
  static readonly code = 'ERR_OVERLAY_NOT_MEMBER'
  readonly code = NotMemberError.code
  override readonly name = 'NotMemberError'
  constructor (readonly peer: string) {
    super(`${peer} is not a member of the mesh`)
  }
}

/** The overlay was stopped. */
export class OverlayStoppedError extends Error {
  static readonly code = 'ERR_OVERLAY_STOPPED'
  readonly code = OverlayStoppedError.code
  override readonly name = 'OverlayStoppedError'
  constructor () {
    super('the overlay is stopped')
  }
}

/** An end-to-end message (INIT, RESP, DATA) is truncated, too long or of the wrong type. */
export class E2eMessageError extends Error {
  static readonly code = 'ERR_OVERLAY_E2E_MESSAGE'
  readonly code = E2eMessageError.code
  override readonly name = 'E2eMessageError'
}

/** An end-to-end handshake message was refused; `reason` says why (never key material). */
export class E2eHandshakeError extends Error {
  static readonly code = 'ERR_OVERLAY_E2E_HANDSHAKE'
  readonly code = E2eHandshakeError.code
  override readonly name = 'E2eHandshakeError'
  constructor (readonly reason: string) {
    super(`end-to-end handshake refused: ${reason}`)
  }
}

/** No end-to-end session exists yet to seal with. */
export class E2eNotReadyError extends Error {
  static readonly code = 'ERR_OVERLAY_E2E_NOT_READY'
  readonly code = E2eNotReadyError.code
  override readonly name = 'E2eNotReadyError'
  constructor (readonly peer: string) {
    super(`no end-to-end session with ${peer} yet`)
  }
}

/** The session's send counter reached its limit: a new handshake is needed before sealing more. */
export class E2eCounterExhaustedError extends Error {
  static readonly code = 'ERR_OVERLAY_E2E_COUNTER_EXHAUSTED'
  readonly code = E2eCounterExhaustedError.code
  override readonly name = 'E2eCounterExhaustedError'
  constructor (readonly peer: string) {
    super(`the end-to-end session with ${peer} has sealed its last message`)
  }
}

/** A DATA message was already received, or is older than the replay window. */
export class E2eReplayError extends Error {
  static readonly code = 'ERR_OVERLAY_E2E_REPLAY'
  readonly code = E2eReplayError.code
  override readonly name = 'E2eReplayError'
}

/** A DATA message did not authenticate (bad tag) or names no session this endpoint knows. */
export class E2eAuthError extends Error {
  static readonly code = 'ERR_OVERLAY_E2E_AUTH'
  readonly code = E2eAuthError.code
  override readonly name = 'E2eAuthError'
}
