/**
 * Errors of the dashboard's authentication. The auth hook answers these itself (the shared
 * status table in ../errors.ts does not know them), with the usual `{ error: { code, message } }`.
 */
export class CsrfHeaderMissingError extends Error {
  static readonly code = 'CSRF_HEADER_MISSING'
  readonly code = CsrfHeaderMissingError.code
  readonly status = 403
  constructor () {
    super('a request authenticated by the session cookie that changes state must carry the header x-ctpf-csrf: 1')
    this.name = 'CsrfHeaderMissingError'
  }
}
