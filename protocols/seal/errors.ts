/**
 * Errors of sealing and opening. One class per condition; callers and tests match on `code`.
 * No message ever contains key material: only recipient ids, counts and limits.
 */

/** Base class, so a caller can tell "the envelope did not open" from a bug with one `instanceof`. */
export abstract class SealError extends Error {
  abstract readonly code: string
}

/** The envelope is not a well-formed v1 envelope (bad JSON, wrong shape, over a size limit). */
export class SealMalformedError extends SealError {
  static readonly code = 'ERR_SEAL_MALFORMED'
  readonly code = SealMalformedError.code
  override readonly name = 'SealMalformedError'
  constructor (reason: string) {
    super(`sealed envelope is malformed: ${reason}`)
  }
}

/** The opener's id is not among the envelope's recipients. */
export class SealNotRecipientError extends SealError {
  static readonly code = 'ERR_SEAL_NOT_RECIPIENT'
  readonly code = SealNotRecipientError.code
  override readonly name = 'SealNotRecipientError'
  constructor (readonly id: string) {
    super(`${JSON.stringify(id)} is not a recipient of this envelope`)
  }
}

/** The opener is a recipient, but its private key does not match the public key the envelope was sealed to. */
export class SealKeyMismatchError extends SealError {
  static readonly code = 'ERR_SEAL_KEY_MISMATCH'
  readonly code = SealKeyMismatchError.code
  override readonly name = 'SealKeyMismatchError'
  constructor (readonly id: string) {
    super(`the envelope was sealed to another public key of ${JSON.stringify(id)} (key rotated?)`)
  }
}

/** The caller's associated data differs from the one the envelope was sealed with. */
export class SealWrongAadError extends SealError {
  static readonly code = 'ERR_SEAL_WRONG_AAD'
  readonly code = SealWrongAadError.code
  override readonly name = 'SealWrongAadError'
  constructor () {
    super('the envelope was sealed with different associated data')
  }
}

/** Authentication failed: some field of the envelope was changed after sealing. */
export class SealTamperedError extends SealError {
  static readonly code = 'ERR_SEAL_TAMPERED'
  readonly code = SealTamperedError.code
  override readonly name = 'SealTamperedError'
  constructor (what: string) {
    super(`sealed envelope does not authenticate (${what}): it was altered or corrupted`)
  }
}

/** A key given to seal/open is not a usable X25519 key. */
export class SealInvalidKeyError extends SealError {
  static readonly code = 'ERR_SEAL_INVALID_KEY'
  readonly code = SealInvalidKeyError.code
  override readonly name = 'SealInvalidKeyError'
  constructor (whose: string, reason: string) {
    super(`invalid X25519 key of ${whose}: ${reason}`)
  }
}

/** The recipient list is empty, too long, has a duplicate or an invalid id. */
export class SealRecipientsError extends SealError {
  static readonly code = 'ERR_SEAL_RECIPIENTS'
  readonly code = SealRecipientsError.code
  override readonly name = 'SealRecipientsError'
  constructor (reason: string) {
    super(`invalid recipients: ${reason}`)
  }
}

/** The plaintext or the associated data is larger than an envelope may carry. */
export class SealTooLargeError extends SealError {
  static readonly code = 'ERR_SEAL_TOO_LARGE'
  readonly code = SealTooLargeError.code
  override readonly name = 'SealTooLargeError'
  constructor (what: string, size: number, limit: number) {
    super(`${what} is ${size} bytes, more than the ${limit} an envelope carries`)
  }
}
