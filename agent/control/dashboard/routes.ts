/**
 * The dashboard's routes: the page and its files (public: static, no data), and the session
 * a browser opens with the control token and closes again.
 */
import { z } from 'zod'
import { HttpError } from '../errors.js'
import { ASSETS, PAGE } from './assets.js'
import { PUBLIC_ROUTE, hasCsrfHeader, liveSession, sendError, sessionCookieName } from './auth.js'
import { CsrfHeaderMissingError } from './errors.js'
import type { AuthInit } from './auth.js'
import type { Asset } from './assets.js'
import type { FastifyInstance, FastifyReply } from 'fastify'

const loginSchema = z.object({ token: z.string().min(1).max(1024) }).strict()

/** Only our own files: no inline script, no other origin, not framed. */
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'x-frame-options': 'DENY',
  'referrer-policy': 'no-referrer',
  'cache-control': 'no-cache'
}

function sendAsset (reply: FastifyReply, asset: Asset): FastifyReply {
  return reply.headers(SECURITY_HEADERS).header('content-type', asset.type).send(asset.body)
}

export function dashboardRoutes (app: FastifyInstance, prefix: string, init: AuthInit): void {
  const { sessions } = init

  app.get('/', { config: PUBLIC_ROUTE }, async (_req, reply) => sendAsset(reply, PAGE))
  app.get('/ui/*', { config: PUBLIC_ROUTE }, async (req, reply) => {
    const name = (req.params as { '*': string })['*']
    const asset = Object.hasOwn(ASSETS, name) ? ASSETS[name] : undefined
    if (asset == null) throw new HttpError('NOT_FOUND', `no file /ui/${name}`)
    return sendAsset(reply, asset)
  })

  // login: the token in the body (never in a URL), a random session id in the cookie
  app.post(`${prefix}/session`, { config: PUBLIC_ROUTE }, async (req, reply) => {
    if (!hasCsrfHeader(req)) return sendError(reply, new CsrfHeaderMissingError())
    const parsed = loginSchema.safeParse(req.body)
    if (!parsed.success) throw new HttpError('BAD_REQUEST', 'send { "token": "<the control token>" }')
    if (!init.checkToken(parsed.data.token)) throw new HttpError('UNAUTHORIZED', 'that is not this agent\'s control token')
    const old = liveSession(req, sessions)
    if (old != null) sessions.delete(old.id)
    const { id, expiresAt } = sessions.create()
    const maxAge = Math.floor(sessions.ttlMs / 1000)
    void reply.header('set-cookie', `${sessionCookieName(req)}=${id}; HttpOnly; SameSite=Strict; Path=/; Max-Age=${maxAge}`)
    void reply.header('cache-control', 'no-store')
    return { ok: true, expiresAt }
  })

  app.get(`${prefix}/session`, async req => {
    const session = liveSession(req, sessions)
    return session != null && req.headers.authorization == null ? { via: 'cookie', expiresAt: session.expiresAt } : { via: 'bearer', expiresAt: null }
  })

  app.delete(`${prefix}/session`, async (req, reply) => {
    const session = liveSession(req, sessions)
    if (session != null) sessions.delete(session.id)
    void reply.header('set-cookie', `${sessionCookieName(req)}=; HttpOnly; SameSite=Strict; Path=/; Max-Age=0`)
    return { ok: true }
  })
}
