/**
 * Errors of the SSH distributor. One class per condition; callers and tests match on `code`.
 * Per-host failures end up in a host's result as `{ code, message }` (see `HostError`); only
 * invalid options are thrown from `runOnHosts` itself.
 */

function errorMessage (cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause)
}

/** The options given to `runOnHosts` (or a key line) are invalid; thrown, never per host. */
export class SshConfigError extends Error {
  static readonly code = 'ERR_SSH_CONFIG'
  readonly code = SshConfigError.code
  override readonly name = 'SshConfigError'
  constructor (message: string) {
    super(message)
  }
}

/** A string could not be read as an OpenSSH public key line or a `SHA256:` fingerprint. */
export class InvalidKeyError extends Error {
  static readonly code = 'ERR_SSH_INVALID_KEY'
  readonly code = InvalidKeyError.code
  override readonly name = 'InvalidKeyError'
  constructor (reason: string) {
    super(`invalid SSH key: ${reason}`)
  }
}

/** The host presented a host key other than the pinned one; no credentials were sent. */
export class HostKeyMismatchError extends Error {
  static readonly code = 'ERR_SSH_HOST_KEY_MISMATCH'
  readonly code = HostKeyMismatchError.code
  override readonly name = 'HostKeyMismatchError'
  constructor (readonly host: string, readonly seenFingerprint: string, readonly expected: string) {
    super(`host ${host} presented host key ${seenFingerprint}, expected ${expected}: refused before authentication`)
  }
}

/** The TCP connection could not be made (refused, no route, network down). */
export class HostUnreachableError extends Error {
  static readonly code = 'ERR_SSH_UNREACHABLE'
  readonly code = HostUnreachableError.code
  override readonly name = 'HostUnreachableError'
  constructor (readonly host: string, options?: ErrorOptions) {
    super(`host ${host} is unreachable: ${errorMessage(options?.cause)}`, options)
  }
}

/** TCP connect, SSH handshake and authentication did not finish within `connectTimeoutMs`. */
export class ConnectTimeoutError extends Error {
  static readonly code = 'ERR_SSH_CONNECT_TIMEOUT'
  readonly code = ConnectTimeoutError.code
  override readonly name = 'ConnectTimeoutError'
  constructor (readonly host: string, readonly timeoutMs: number, readonly stage: string) {
    super(`host ${host}: no SSH session within ${timeoutMs} ms (stuck at ${stage})`)
  }
}

/** The host refused our key. */
export class AuthFailedError extends Error {
  static readonly code = 'ERR_SSH_AUTH_FAILED'
  readonly code = AuthFailedError.code
  override readonly name = 'AuthFailedError'
  constructor (readonly host: string, readonly user: string) {
    super(`host ${host} refused public-key authentication for user ${user}`)
  }
}

/** The SSH handshake failed for another reason than the host key (no common algorithm, garbage). */
export class HandshakeError extends Error {
  static readonly code = 'ERR_SSH_HANDSHAKE'
  readonly code = HandshakeError.code
  override readonly name = 'HandshakeError'
  constructor (readonly host: string, options?: ErrorOptions) {
    super(`host ${host}: SSH handshake failed: ${errorMessage(options?.cause)}`, options)
  }
}

/** The connection dropped (or stopped answering keepalives) after it was established. */
export class ConnectionLostError extends Error {
  static readonly code = 'ERR_SSH_CONNECTION_LOST'
  readonly code = ConnectionLostError.code
  override readonly name = 'ConnectionLostError'
  constructor (readonly host: string, options?: ErrorOptions) {
    super(`host ${host}: connection lost${options?.cause !== undefined ? `: ${errorMessage(options.cause)}` : ''}`, options)
  }
}

/** The host would not open a session channel or run the command. */
export class ExecRefusedError extends Error {
  static readonly code = 'ERR_SSH_EXEC_REFUSED'
  readonly code = ExecRefusedError.code
  override readonly name = 'ExecRefusedError'
  constructor (readonly host: string, options?: ErrorOptions) {
    super(`host ${host} refused to run the command: ${errorMessage(options?.cause)}`, options)
  }
}

/** An SFTP upload (a file or the script) failed. */
export class UploadFailedError extends Error {
  static readonly code = 'ERR_SSH_UPLOAD_FAILED'
  readonly code = UploadFailedError.code
  override readonly name = 'UploadFailedError'
  constructor (readonly host: string, readonly path: string, options?: ErrorOptions) {
    super(`host ${host}: upload to ${path} failed: ${errorMessage(options?.cause)}`, options)
  }
}

/** The command ran longer than `timeoutMs`; it was signalled (TERM, then KILL) and its channel closed. */
export class CommandTimeoutError extends Error {
  static readonly code = 'ERR_SSH_TIMEOUT'
  readonly code = CommandTimeoutError.code
  override readonly name = 'CommandTimeoutError'
  constructor (readonly host: string, readonly timeoutMs: number) {
    super(`host ${host}: command still running after ${timeoutMs} ms; killed`)
  }
}

/** The command exited with a non-zero status. */
export class CommandFailedError extends Error {
  static readonly code = 'ERR_SSH_COMMAND_FAILED'
  readonly code = CommandFailedError.code
  override readonly name = 'CommandFailedError'
  constructor (readonly host: string, readonly exitCode: number) {
    super(`host ${host}: command exited with status ${exitCode}`)
  }
}

/** The command was ended by a signal (that we did not send). */
export class CommandKilledError extends Error {
  static readonly code = 'ERR_SSH_COMMAND_KILLED'
  readonly code = CommandKilledError.code
  override readonly name = 'CommandKilledError'
  constructor (readonly host: string, readonly signal: string) {
    super(`host ${host}: command killed by SIG${signal}`)
  }
}

/** The run was cancelled (the caller's signal, or `failFast` after another host failed). */
export class CancelledError extends Error {
  static readonly code = 'ERR_SSH_CANCELLED'
  readonly code = CancelledError.code
  override readonly name = 'CancelledError'
  constructor (readonly host: string, readonly reason: string) {
    super(`host ${host}: cancelled (${reason})`)
  }
}

/** Every per-host error class; each has a `code`. */
export type SshHostError =
  | HostKeyMismatchError | HostUnreachableError | ConnectTimeoutError | AuthFailedError
  | HandshakeError | ConnectionLostError | ExecRefusedError | UploadFailedError
  | CommandTimeoutError | CommandFailedError | CommandKilledError | CancelledError | InvalidKeyError
