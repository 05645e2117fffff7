/**
 * Who may use the control endpoint: a request carries the bearer token, or (from the
 * dashboard) the session cookie; a few routes (the static page, its assets, the login) are
 * public. A cookie-authenticated request that changes state must also carry `x-ctpf-csrf: 1`:
 * a page of another origin cannot add that header without a CORS preflight, which this
 * endpoint never grants, and SameSite=Strict keeps the cookie off cross-site requests anyway.
 */
import { HttpError } from '../errors.js'
import { CsrfHeaderMissingError } from './errors.js'
import type { SessionStore } from './sessions.js'
import type { FastifyReply, FastifyRequest } from 'fastify'

export const CSRF_HEADER = 'x-ctpf-csrf'
/** Route config that lets a route through without credentials. */
export const PUBLIC_ROUTE = { ctpfPublic: true } as const
const SAFE_METHODS = new Set(['GET', 'HEAD', 'OPTIONS'])

export interface AuthInit {
  /** Compares a presented token with the control token in constant time. */
  checkToken: (token: string) => boolean
  sessions: SessionStore
}

/**
 * The cookie's name carries the endpoint's port: cookies ignore ports, and two agents on one
 * host must not overwrite each other's dashboard session.
 */
export function sessionCookieName (req: FastifyRequest): string {
  return `ctpf_session_${req.socket.localPort ?? 0}`
}

/** The value of one cookie of a Cookie header. */
export function readCookie (header: string | undefined, name: string): string | undefined {
  if (header == null) return undefined
  for (const part of header.split(';')) {
    const eq = part.indexOf('=')
    if (eq > 0 && part.slice(0, eq).trim() === name) return part.slice(eq + 1).trim()
  }
  return undefined
}

export function isPublic (req: FastifyRequest): boolean {
  return (req.routeOptions.config as { ctpfPublic?: boolean } | undefined)?.ctpfPublic === true
}

export function hasCsrfHeader (req: FastifyRequest): boolean {
  return req.headers[CSRF_HEADER] === '1'
}

/** The session id of a request's cookie when it names a live session. */
export function liveSession (req: FastifyRequest, sessions: SessionStore): { id: string, expiresAt: number } | undefined {
  const id = readCookie(req.headers.cookie, sessionCookieName(req))
  const expiresAt = id != null ? sessions.check(id) : undefined
  return id != null && expiresAt != null ? { id, expiresAt } : undefined
}

export function sendError (reply: FastifyReply, err: CsrfHeaderMissingError): FastifyReply {
  return reply.status(err.status).send({ error: { code: err.code, message: err.message } })
}

/** The control endpoint's onRequest hook. */
export function authHook (init: AuthInit): (req: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined> {
  return async (req, reply) => {
    if (isPublic(req)) return undefined
    const header = req.headers.authorization
    if (header != null) {
      const m = /^Bearer (.+)$/.exec(header)
      if (m != null && init.checkToken(m[1])) return undefined
      throw new HttpError('UNAUTHORIZED', 'a bearer token is required (see <data-dir>/control.token)')
    }
    if (liveSession(req, init.sessions) != null) {
      // answered here: replying and returning the reply ends the request before its handler
      if (!SAFE_METHODS.has(req.method) && !hasCsrfHeader(req)) return sendError(reply, new CsrfHeaderMissingError())
      return undefined
    }
    throw new HttpError('UNAUTHORIZED', 'a bearer token or a dashboard session is required (see <data-dir>/control.token)')
  }
}
