/**
 * Errors of the Hetzner Cloud adapter. One class per condition; callers match on `code`.
 * Messages never contain the API token, the invite token or request bodies.
 */

export abstract class HetznerError extends Error {
  abstract readonly code: string
}

/** Invalid adapter options or server spec (caught before any request is made). */
export class HetznerConfigError extends HetznerError {
  static readonly code = 'ERR_HETZNER_CONFIG'
  readonly code = HetznerConfigError.code
  override readonly name = 'HetznerConfigError'
  constructor (reason: string) {
    super(`invalid Hetzner adapter configuration: ${reason}`)
  }
}

/** 401: the API token is missing, wrong or revoked. */
export class HetznerUnauthorizedError extends HetznerError {
  static readonly code = 'ERR_HETZNER_UNAUTHORIZED'
  readonly code = HetznerUnauthorizedError.code
  override readonly name = 'HetznerUnauthorizedError'
  constructor (readonly apiCode: string) {
    super('the Hetzner Cloud API refused the token (401): check the project token')
  }
}

/** 404 on a resource (server or action). */
export class HetznerNotFoundError extends HetznerError {
  static readonly code = 'ERR_HETZNER_NOT_FOUND'
  readonly code = HetznerNotFoundError.code
  override readonly name = 'HetznerNotFoundError'
  constructor (readonly resource: string) {
    super(`${resource} does not exist in the Hetzner Cloud project`)
  }
}

/** 429 and still rate limited after every retry. */
export class HetznerRateLimitedError extends HetznerError {
  static readonly code = 'ERR_HETZNER_RATE_LIMITED'
  readonly code = HetznerRateLimitedError.code
  override readonly name = 'HetznerRateLimitedError'
  constructor (readonly attempts: number, readonly resetAt?: number) {
    super(`the Hetzner Cloud API is rate limiting this project (${attempts} attempts)` +
      (resetAt != null ? `; full quota again at ${new Date(resetAt).toISOString()}` : ''))
  }
}

/** Any other error answer of the API: `apiCode` is Hetzner's `error.code` (`invalid_input`, `uniqueness_error`, …). */
export class HetznerApiError extends HetznerError {
  static readonly code = 'ERR_HETZNER_API'
  readonly code = HetznerApiError.code
  override readonly name = 'HetznerApiError'
  constructor (readonly status: number, readonly apiCode: string, apiMessage: string) {
    super(`Hetzner Cloud API error ${status} ${apiCode}: ${apiMessage}`)
  }
}

/** The API answered something that is not the documented shape, or too much of it. */
export class HetznerBadResponseError extends HetznerError {
  static readonly code = 'ERR_HETZNER_BAD_RESPONSE'
  readonly code = HetznerBadResponseError.code
  override readonly name = 'HetznerBadResponseError'
  constructor (what: string, reason: string) {
    super(`unexpected answer from the Hetzner Cloud API to ${what}: ${reason}`)
  }
}

/** No answer within the per-request timeout (after retries, where the request may be retried). */
export class HetznerTimeoutError extends HetznerError {
  static readonly code = 'ERR_HETZNER_TIMEOUT'
  readonly code = HetznerTimeoutError.code
  override readonly name = 'HetznerTimeoutError'
  constructor (what: string, readonly timeoutMs: number) {
    super(`${what} got no answer from the Hetzner Cloud API within ${timeoutMs} ms`)
  }
}

/** The API could not be reached (DNS, TCP, TLS). */
export class HetznerNetworkError extends HetznerError {
  static readonly code = 'ERR_HETZNER_NETWORK'
  readonly code = HetznerNetworkError.code
  override readonly name = 'HetznerNetworkError'
  constructor (what: string, reason: string) {
    super(`${what} could not reach the Hetzner Cloud API: ${reason}`)
  }
}

/** The caller's AbortSignal fired. */
export class HetznerAbortedError extends HetznerError {
  static readonly code = 'ERR_HETZNER_ABORTED'
  readonly code = HetznerAbortedError.code
  override readonly name = 'HetznerAbortedError'
  constructor (what: string) {
    super(`${what} was aborted`)
  }
}

/** An asynchronous action (create_server, delete_server) ended with status `error`. */
export class HetznerActionFailedError extends HetznerError {
  static readonly code = 'ERR_HETZNER_ACTION_FAILED'
  readonly code = HetznerActionFailedError.code
  override readonly name = 'HetznerActionFailedError'
  constructor (readonly actionId: number, readonly command: string, readonly apiCode: string, apiMessage: string) {
    super(`Hetzner action ${actionId} (${command}) failed: ${apiCode}: ${apiMessage}`)
  }
}

/** An action did not finish within the wait limit. */
export class HetznerActionTimeoutError extends HetznerError {
  static readonly code = 'ERR_HETZNER_ACTION_TIMEOUT'
  readonly code = HetznerActionTimeoutError.code
  override readonly name = 'HetznerActionTimeoutError'
  constructor (readonly actionId: number, readonly timeoutMs: number) {
    super(`Hetzner action ${actionId} did not finish within ${timeoutMs} ms`)
  }
}

/** Refusing to touch a server that does not carry this mesh's label. */
export class HetznerNotOursError extends HetznerError {
  static readonly code = 'ERR_HETZNER_NOT_OURS'
  readonly code = HetznerNotOursError.code
  override readonly name = 'HetznerNotOursError'
  constructor (readonly serverId: number, readonly meshId: string) {
    super(`server ${serverId} is not labelled ctpf-mesh=${meshId}: not deleting a server this mesh did not create`)
  }
}

/** The rendered cloud-init user-data is larger than the API accepts (32 KiB). */
export class UserDataTooLargeError extends HetznerError {
  static readonly code = 'ERR_HETZNER_USER_DATA_TOO_LARGE'
  readonly code = UserDataTooLargeError.code
  override readonly name = 'UserDataTooLargeError'
  constructor (readonly size: number, readonly limit: number) {
    super(`cloud-init user-data is ${size} bytes; Hetzner accepts at most ${limit}`)
  }
}
