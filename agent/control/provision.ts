/** The provisioning routes of the control API: profiles, groups, hosts, SSH keys. */
import { z } from 'zod'
import type { ProvisionApi } from '../provision.js'
import type { FastifyInstance } from 'fastify'

const nameParam = z.object({ name: z.string().min(1).max(128) })
const idParam = z.object({ id: z.string().min(1).max(128) })
const hostBody = z.object({
  hostname: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/).optional(),
  tags: z.record(z.string().max(63), z.string().max(128)).optional(),
  dc: z.string().regex(/^[A-Za-z0-9._-]{1,64}$/).optional(),
  arch: z.string().max(16).optional(),
  addresses: z.array(z.string().regex(/^[0-9a-fA-F:.]{2,45}$/)).max(32).optional(),
  sshHostKey: z.string().regex(/^[a-z0-9@.-]+ [A-Za-z0-9+/=]+( [^\n]{0,200})?$/).optional(),
  user: z.string().regex(/^[a-z_][a-z0-9_-]{0,31}$/).optional(),
  port: z.number().int().min(1).max(65535).optional(),
  status: z.enum(['discovered', 'booting', 'installing', 'installed', 'ready', 'failed', 'reprovision']).optional()
}).strict()
const keyBody = z.object({ key: z.string().min(1).max(16_384), dc: z.string().max(64).optional(), tags: z.record(z.string(), z.string()).optional() }).strict()

export function provisionRoutes (app: FastifyInstance, prefix: string, api: ProvisionApi, parse: <T>(schema: z.ZodType<T>, value: unknown) => T): void {
  app.get(`${prefix}/profiles`, async () => api.profiles())
  app.get(`${prefix}/profiles/:name`, async req => api.profile(parse(nameParam, req.params).name))
  app.put(`${prefix}/profiles/:name`, async req => {
    const { name } = parse(nameParam, req.params)
    return await api.putProfile({ ...(req.body as object ?? {}), name })
  })
  app.delete(`${prefix}/profiles/:name`, async req => { await api.deleteProfile(parse(nameParam, req.params).name); return { ok: true } })

  app.get(`${prefix}/groups`, async () => api.groups())
  app.get(`${prefix}/groups/:name`, async req => api.group(parse(nameParam, req.params).name))
  app.put(`${prefix}/groups/:name`, async req => {
    const { name } = parse(nameParam, req.params)
    return await api.putGroup({ ...(req.body as object ?? {}), name })
  })
  app.delete(`${prefix}/groups/:name`, async req => { await api.deleteGroup(parse(nameParam, req.params).name); return { ok: true } })

  app.get(`${prefix}/hosts`, async () => api.hosts())
  app.get(`${prefix}/hosts/:id`, async req => api.host(parse(idParam, req.params).id))
  app.put(`${prefix}/hosts/:id`, async req => {
    const { status, ...facts } = parse(hostBody, req.body)
    return await api.putHost(parse(idParam, req.params).id, facts, status)
  })
  app.post(`${prefix}/hosts/:id/reprovision`, async req => await api.reprovision(parse(idParam, req.params).id))

  app.get(`${prefix}/keys`, async () => api.keys())
  app.put(`${prefix}/keys/:id`, async req => { await api.addKey(parse(idParam, req.params).id, parse(keyBody, req.body)); return { ok: true } })
  app.delete(`${prefix}/keys/:id`, async req => { await api.removeKey(parse(idParam, req.params).id); return { ok: true } })
  app.get(`${prefix}/dcs/keys`, async () => api.dcKeys())
  app.get(`${prefix}/dcs`, async () => api.dcs())
  // the provider's API token arrives here over loopback and is sealed before it is stored
  app.put(`${prefix}/dcs/:name`, async req => await api.putDc(parse(nameParam, req.params).name, req.body))
  app.post(`${prefix}/dcs/:name/key`, async req => await api.generateDcKey(parse(nameParam, req.params).name))
}
