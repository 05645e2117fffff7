/**
 * Errors of the TFTP server role. One class per condition, each with a stable `code`.
 * Path errors carry the TFTP error code they are answered with (`tftpCode`).
 */
import { TFTP_ERROR } from '../../../protocols/tftp/index.js'

export abstract class TftpServerError extends Error {
  abstract readonly code: string
}

/** The init options failed schema validation. */
export class InvalidConfigError extends TftpServerError {
  override readonly name = 'InvalidConfigError'
  readonly code = 'ERR_TFTP_CONFIG'
}

/** Binding a port below the unprivileged-port limit without the privilege to do so. */
export class PrivilegedPortError extends TftpServerError {
  override readonly name = 'PrivilegedPortError'
  readonly code = 'ERR_TFTP_PRIVILEGED_PORT'
  constructor (readonly address: string, readonly port: number, options?: ErrorOptions) {
    super(`cannot bind UDP ${address}:${port}: binding a privileged port needs root or CAP_NET_BIND_SERVICE ` +
      '(or a lower net.ipv4.ip_unprivileged_port_start); or configure a port >= 1024', options)
  }
}

/** Another socket already holds the address and port. */
export class AddressInUseError extends TftpServerError {
  override readonly name = 'AddressInUseError'
  readonly code = 'ERR_TFTP_ADDRESS_IN_USE'
  constructor (readonly address: string, readonly port: number, options?: ErrorOptions) {
    super(`cannot bind UDP ${address}:${port}: address already in use`, options)
  }
}

/** Any other bind failure (address not on this host, …). */
export class BindError extends TftpServerError {
  override readonly name = 'BindError'
  readonly code = 'ERR_TFTP_BIND'
}

/** Base of the errors answered with TFTP "access violation". */
export abstract class AccessDeniedError extends TftpServerError {
  readonly tftpCode = TFTP_ERROR.ACCESS_VIOLATION
}

/** The requested name contains `..`, NUL, control characters or is empty. */
export class PathTraversalError extends AccessDeniedError {
  override readonly name = 'PathTraversalError'
  readonly code = 'ERR_TFTP_PATH_TRAVERSAL'
}

/** The name resolves (through a symlink) to somewhere outside the served root. */
export class PathOutsideRootError extends AccessDeniedError {
  override readonly name = 'PathOutsideRootError'
  readonly code = 'ERR_TFTP_PATH_OUTSIDE_ROOT'
}

/** The name is a directory, device, FIFO or socket, or cannot be opened for reading. */
export class NotReadableError extends AccessDeniedError {
  override readonly name = 'NotReadableError'
  readonly code = 'ERR_TFTP_NOT_READABLE'
}

/** The peer stopped answering: retries exhausted. */
export class TransferTimeoutError extends TftpServerError {
  override readonly name = 'TransferTimeoutError'
  readonly code = 'ERR_TFTP_TRANSFER_TIMEOUT'
}

/** The client aborted the transfer with an ERROR packet. */
export class ClientAbortError extends TftpServerError {
  override readonly name = 'ClientAbortError'
  readonly code = 'ERR_TFTP_CLIENT_ABORT'
  constructor (readonly tftpCode: number, readonly remoteMessage: string) {
    super(`client sent error ${tftpCode}: ${remoteMessage}`)
  }
}

/** The client sent a packet that has no place in a read transfer. */
export class IllegalOperationError extends TftpServerError {
  override readonly name = 'IllegalOperationError'
  readonly code = 'ERR_TFTP_ILLEGAL_OPERATION'
}

/** The file source failed or delivered a different number of bytes than it announced. */
export class SourceError extends TftpServerError {
  override readonly name = 'SourceError'
  readonly code = 'ERR_TFTP_SOURCE'
}

/** The server was stopped while the transfer ran. */
export class ServerStoppedError extends TftpServerError {
  override readonly name = 'ServerStoppedError'
  readonly code = 'ERR_TFTP_SERVER_STOPPED'
}
