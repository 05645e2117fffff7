/**
 * The control endpoint: HTTP on loopback, every request needs the bearer token from
 * `<data-dir>/control.token` (or the web dashboard's session cookie, see dashboard/). JSON API
 * under /v1, an OpenAPI document, a server-sent event stream, Prometheus metrics at /metrics.
 * Bodies are validated with the API's zod schemas.
 */
import { createHash, timingSafeEqual } from 'node:crypto'
import Fastify from 'fastify'
import { z } from 'zod'
import { describeIssues } from '../config.js'
import { AddressInUseError } from '../errors.js'
import { API_VERSION, inviteRequestSchema, peerParamSchema, tagsRequestSchema, statePrefixSchema, blockSchema } from './api.js'
import { HttpError, httpStatusOf } from './errors.js'
import { jobRoutes } from './jobs.js'
import { provisionRoutes } from './provision.js'
import { clusterRoutes } from './clusters.js'
import { netRoutes } from './net.js'
import { artifactRoutes } from './artifacts.js'
import { openApiDocument } from './openapi.js'
import { SessionStore, authHook, dashboardRoutes } from './dashboard/index.js'
import { metricsRoutes } from './metrics.js'
import type { ControlApi } from './api.js'
import type { FastifyReply } from 'fastify'
import type { ServerResponse } from 'node:http'
import type { Logger } from 'pino'

export interface ControlServerInit {
  api: ControlApi
  token: string
  host: string
  port: number
  logger: Logger
}

export interface ControlServer {
  url: string
  close: () => Promise<void>
}

const digest = (s: string): Buffer => createHash('sha256').update(s).digest()

function parse<T> (schema: z.ZodType<T>, value: unknown): T {
  const r = schema.safeParse(value)
  if (!r.success) throw new HttpError('BAD_REQUEST', describeIssues(r.error))
  return r.data
}

export async function createControlServer (init: ControlServerInit): Promise<ControlServer> {
  const { api, logger } = init
  const app = Fastify({ logger: false, bodyLimit: 64 * 1024, forceCloseConnections: true, return503OnClosing: true })
  const wanted = digest(init.token)
  const streams = new Set<ServerResponse>()
  const prefix = `/${API_VERSION}`

  // the bearer token, or the dashboard's session cookie (see dashboard/auth.ts)
  const auth = { checkToken: (t: string): boolean => timingSafeEqual(digest(t), wanted), sessions: new SessionStore() }
  app.addHook('onRequest', authHook(auth))

  app.setErrorHandler((err: Error & { code?: string, statusCode?: number }, _req, reply: FastifyReply) => {
    let code = err instanceof HttpError || typeof err.code === 'string' ? String(err.code) : 'INTERNAL'
    let status = httpStatusOf(code)
    if (!(err instanceof HttpError) && err.statusCode != null && err.statusCode >= 400 && err.statusCode < 500) {
      status = err.statusCode
      code = status === 413 ? 'PAYLOAD_TOO_LARGE' : status === 415 ? 'UNSUPPORTED_MEDIA_TYPE' : status === 404 ? 'NOT_FOUND' : 'BAD_REQUEST'
    }
    if (status >= 500) logger.error({ err }, 'control request failed')
    void reply.status(status).send({ error: { code, message: status >= 500 && code === 'INTERNAL' ? 'internal error' : err.message } })
  })
  app.setNotFoundHandler((req, reply) => {
    void reply.status(404).send({ error: { code: 'NOT_FOUND', message: `no route ${req.method} ${req.url.split('?')[0]}` } })
  })

  app.get(`${prefix}/status`, async () => api.status())
  app.get(`${prefix}/members`, async () => api.members())
  app.get(`${prefix}/peers`, async () => api.peers())
  app.get(`${prefix}/metrics`, async () => api.metrics())
  app.get(`${prefix}/openapi.json`, async () => openApiDocument(api.status().version))
  app.post(`${prefix}/invites`, async req => await api.createInvite(parse(inviteRequestSchema, req.body ?? {})))
  app.post(`${prefix}/members/:peerId/revoke`, async req => {
    const { peerId } = parse(peerParamSchema, req.params)
    await api.revoke(peerId)
    return { ok: true }
  })
  app.put(`${prefix}/tags`, async req => {
    const { tags } = parse(tagsRequestSchema, req.body)
    await api.setTags(tags)
    return { ok: true }
  })

  jobRoutes(app, prefix, api.jobs, parse)
  provisionRoutes(app, prefix, api.provision, parse)
  if (api.clusters != null) clusterRoutes(app, prefix, api.clusters, parse)
  dashboardRoutes(app, prefix, auth)
  metricsRoutes(app, api)
  artifactRoutes(app, prefix, api.artifacts, api.events, parse)
  if (api.net != null) netRoutes(app, prefix, api.net)
  app.get(`${prefix}/state`, async req => api.state.list(parse(statePrefixSchema, req.query).prefix))
  app.get(`${prefix}/state/digest`, async () => api.state.digest())
  const hooks = api.testHooks
  if (hooks != null) {
    logger.warn('test hooks are on (CTPF_TEST_HOOKS=1): /v1/test routes can cut this agent\'s connections')
    app.put(`${prefix}/test/blocked`, async req => {
      await hooks.block(parse(blockSchema, req.body).peers)
      return { ok: true }
    })
  }

  app.get(`${prefix}/events`, (req, reply) => {
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive' })
    res.write(': ctpf events\n\n')
    streams.add(res)
    const off = api.events.onAny((name, detail) => { res.write(`event: ${name}\ndata: ${JSON.stringify(detail)}\n\n`) })
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000)
    keepAlive.unref()
    req.raw.on('close', () => {
      off()
      clearInterval(keepAlive)
      streams.delete(res)
    })
  })

  app.addHook('onClose', async () => {
    for (const res of streams) res.end()
  })

  try {
    await app.listen({ host: init.host, port: init.port })
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new AddressInUseError('the control endpoint', `${init.host}:${init.port}`, err)
    throw err
  }
  const address = app.server.address()
  const port = typeof address === 'object' && address != null ? address.port : init.port
  const host = init.host.includes(':') ? `[${init.host}]` : init.host
  return {
    url: `http://${host}:${port}`,
    close: async () => { await app.close() }
  }
}
