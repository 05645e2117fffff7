/**
 * The one place where error codes become HTTP statuses. Every error body is
 * `{ "error": { "code", "message" } }` with a stable code.
 */
const statusByCode: Record<string, number> = {
  UNAUTHORIZED: 401,
  BAD_REQUEST: 400,
  NOT_FOUND: 404,
  NOT_ADMIN: 403,
  REVOKE_SELF: 409,
  PAYLOAD_TOO_LARGE: 413,
  UNSUPPORTED_MEDIA_TYPE: 415,
  SELECTOR_INVALID: 400,
  STATE_KEY_INVALID: 400,
  JOB_NOT_FOUND: 404,
  ARTIFACT_NOT_FOUND: 404,
  NAME_NOT_FOUND: 404,
  NOT_PINNED: 404,
  CID_INVALID: 400,
  CID_UNSUPPORTED: 400,
  NAME_INVALID: 400,
  UPLOAD_TRUNCATED: 400,
  CAR_INVALID: 400,
  NOT_A_FILE: 400,
  RANGE_NOT_SATISFIABLE: 416,
  QUOTA_EXCEEDED: 507,
  DISK_FULL: 507,
  FETCH_FAILED: 502,
  ABORTED: 499,
  TEMPLATE_INVALID: 400,
  PROFILE_INVALID: 400,
  GROUP_INVALID: 400,
  GROUP_TIE: 409,
  PROFILE_IN_USE: 409,
  NO_RECIPIENTS: 409,
  STATE_RECORD_REFUSED: 403,
  NOT_RECIPIENT: 403
}

export function httpStatusOf (code: string): number {
  if (code.startsWith('TOKEN_')) return 400
  return statusByCode[code] ?? 500
}

export class HttpError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
    this.name = 'HttpError'
  }
}
