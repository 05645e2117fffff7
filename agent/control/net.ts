/**
 * The overlay's routes of the control API:
 *   GET  /v1/net/status  → this agent's overlay (enabled/reason, tun, v4/v6 address, range, its
 *                          overlay name, where names are served: dns { domain, listening,
 *                          errors }) and each peer (name, address, path direct|relayed, bytes
 *                          and packets in/out, latency ms)
 *   GET  /v1/net/routes  → { routes: [{ destination, peer, kind }], advertised }
 *   POST /v1/net/ping { address, timeoutMs? } → { address, peer, rttMs, path }
 *   GET    /v1/net/firewall        → { rules, invalid }
 *   PUT    /v1/net/firewall/:name  { from?, to?, proto?, ports?, action } → the rule (admins only)
 *   DELETE /v1/net/firewall/:name
 * Errors keep the overlay's codes: ERR_OVERLAY_NO_ROUTE 404, ERR_OVERLAY_SELF and
 * ERR_OVERLAY_CONFIG 400, OVERLAY_OFF 409, ERR_OVERLAY_UNREACHABLE 504.
 */
import { isIP } from 'node:net'
import { z } from 'zod'
import type { Overlay } from '../overlay.js'
import type { FastifyInstance, FastifyReply } from 'fastify'

const pingBody = z.object({
  address: z.string().min(2).max(45).refine(a => isIP(a) !== 0, 'not an IP address'),
  timeoutMs: z.number().int().min(100).max(30_000).optional()
}).strict()

const statusOf: Record<string, number> = {
  ERR_OVERLAY_NO_ROUTE: 404,
  ERR_OVERLAY_SELF: 400,
  ERR_OVERLAY_CONFIG: 400,
  OVERLAY_OFF: 409,
  ERR_OVERLAY_UNREACHABLE: 504,
  ERR_OVERLAY_STOPPED: 409,
  STATE_RECORD_REFUSED: 403,
  NOT_FOUND: 404
}

const nameParam = z.object({ name: z.string().min(1).max(63) })

function fail (reply: FastifyReply, err: unknown): FastifyReply | never {
  const code = (err as { code?: unknown }).code
  if (typeof code === 'string' && statusOf[code] != null) {
    return reply.status(statusOf[code]).send({ error: { code, message: (err as Error).message } })
  }
  throw err
}

/** `overlay` is read per request: the agent starts the overlay after the control endpoint. */
export function netRoutes (app: FastifyInstance, prefix: string, overlay: Overlay | (() => Overlay | undefined)): void {
  const get = (): Overlay | undefined => typeof overlay === 'function' ? overlay() : overlay
  const starting = { enabled: false, reason: 'the overlay is starting' }

  app.get(`${prefix}/net/status`, async () => get()?.status() ?? starting)

  app.get(`${prefix}/net/routes`, async (_req, reply) => {
    const o = get()
    if (o == null) return await reply.status(409).send({ error: { code: 'OVERLAY_OFF', message: starting.reason } })
    try { return o.routes() } catch (err) { return fail(reply, err) }
  })

  app.post(`${prefix}/net/ping`, async (req, reply) => {
    const body = pingBody.safeParse(req.body ?? {})
    if (!body.success) return await reply.status(400).send({ error: { code: 'BAD_REQUEST', message: body.error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ') } })
    const o = get()
    if (o == null) return await reply.status(409).send({ error: { code: 'OVERLAY_OFF', message: starting.reason } })
    try { return await o.ping(body.data.address, body.data.timeoutMs) } catch (err) { return fail(reply, err) }
  })

  app.get(`${prefix}/net/firewall`, async (_req, reply) => {
    const o = get()
    if (o == null) return await reply.status(409).send({ error: { code: 'OVERLAY_OFF', message: starting.reason } })
    return o.firewall.list()
  })
  app.put(`${prefix}/net/firewall/:name`, async (req, reply) => {
    const o = get()
    if (o == null) return await reply.status(409).send({ error: { code: 'OVERLAY_OFF', message: starting.reason } })
    const p = nameParam.safeParse(req.params)
    if (!p.success) return await reply.status(400).send({ error: { code: 'BAD_REQUEST', message: 'invalid rule name' } })
    try { return await o.firewall.put(p.data.name, (req.body ?? {}) as never) } catch (err) { return fail(reply, err) }
  })
  app.delete(`${prefix}/net/firewall/:name`, async (req, reply) => {
    const o = get()
    if (o == null) return await reply.status(409).send({ error: { code: 'OVERLAY_OFF', message: starting.reason } })
    const p = nameParam.safeParse(req.params)
    if (!p.success) return await reply.status(400).send({ error: { code: 'BAD_REQUEST', message: 'invalid rule name' } })
    try { await o.firewall.remove(p.data.name); return { ok: true } } catch (err) { return fail(reply, err) }
  })
}
