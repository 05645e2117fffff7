/**
 * Errors raised by the DHCP wire codec. Every class has a stable `code`; callers and tests
 * switch on `code`, never on message text.
 */
export abstract class DhcpCodecError extends Error {
  abstract readonly code: string
}

/** The datagram ends before the fixed BOOTP header, the magic cookie or an option's value. */
export class TruncatedPacketError extends DhcpCodecError {
  override readonly name = 'TruncatedPacketError'
  readonly code = 'ERR_DHCP_TRUNCATED'
}

/** The datagram is larger than any DHCP message we accept. */
export class PacketTooLargeError extends DhcpCodecError {
  override readonly name = 'PacketTooLargeError'
  readonly code = 'ERR_DHCP_TOO_LARGE'
}

/** The four bytes after the BOOTP header are not 99.130.83.99. */
export class BadMagicCookieError extends DhcpCodecError {
  override readonly name = 'BadMagicCookieError'
  readonly code = 'ERR_DHCP_BAD_COOKIE'
}

/** A header field holds a value DHCP does not allow (op, hlen). */
export class InvalidHeaderError extends DhcpCodecError {
  override readonly name = 'InvalidHeaderError'
  readonly code = 'ERR_DHCP_INVALID_HEADER'
}

/** An option's length or content does not fit its type (e.g. option 53 with two bytes). */
export class InvalidOptionError extends DhcpCodecError {
  override readonly name = 'InvalidOptionError'
  readonly code = 'ERR_DHCP_INVALID_OPTION'
  constructor (readonly option: number, message: string) {
    super(`option ${option}: ${message}`)
  }
}

/** Encoding was asked for something the wire cannot carry (bad address, oversized field). */
export class EncodeError extends DhcpCodecError {
  override readonly name = 'EncodeError'
  readonly code = 'ERR_DHCP_ENCODE'
}
