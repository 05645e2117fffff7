/**
 * Errors raised by the TFTP codec. Every decode failure is a `TftpCodecError`
 * subclass with a stable `code`; nothing else escapes `decode()`.
 */

export abstract class TftpCodecError extends Error {
  abstract readonly code: string
}

/** The datagram ends before a required field does. */
export class TruncatedPacketError extends TftpCodecError {
  override readonly name = 'TruncatedPacketError'
  readonly code = 'ERR_TFTP_TRUNCATED'
}

/** The first two bytes are not opcode 1–6. */
export class UnknownOpcodeError extends TftpCodecError {
  override readonly name = 'UnknownOpcodeError'
  readonly code = 'ERR_TFTP_UNKNOWN_OPCODE'
  constructor (readonly opcode: number) {
    super(`unknown TFTP opcode ${opcode}`)
  }
}

/** The datagram is larger than the packet type allows. */
export class PacketTooLargeError extends TftpCodecError {
  override readonly name = 'PacketTooLargeError'
  readonly code = 'ERR_TFTP_PACKET_TOO_LARGE'
}

/** Fields are present but violate the format (bad strings, trailing bytes, odd options…). */
export class MalformedPacketError extends TftpCodecError {
  override readonly name = 'MalformedPacketError'
  readonly code = 'ERR_TFTP_MALFORMED'
}

/** A request names a transfer mode other than netascii, octet or mail. */
export class UnsupportedModeError extends TftpCodecError {
  override readonly name = 'UnsupportedModeError'
  readonly code = 'ERR_TFTP_UNSUPPORTED_MODE'
  constructor (readonly mode: string) {
    super(`unsupported transfer mode "${mode}"`)
  }
}

/** `encode()` was given a value that cannot be put on the wire. */
export class InvalidFieldError extends TftpCodecError {
  override readonly name = 'InvalidFieldError'
  readonly code = 'ERR_TFTP_INVALID_FIELD'
}
