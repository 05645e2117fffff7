/**
 * The k3s clusters of the control API: `GET /v1/clusters`, `GET /v1/clusters/:name` (members,
 * version, health, failures — never the sealed token or kubeconfig) and
 * `GET /v1/clusters/:name/kubeconfig` (`{ name, kubeconfig }`) — opened here, by the agent the CLI talks to, with its
 * own sealing key; it answers only where this agent is one of the kubeconfig's recipients
 * (the admins and the cluster's datacenter's SSH agents).
 */
import { z } from 'zod'
import { open } from '../../protocols/seal/index.js'
import { loadSealKey } from '../datadir.js'
import { kubeconfigAad, type ClusterRecord } from '../ssh-roles.js'
import { HttpError } from './errors.js'
import type { StateService } from '../../protocols/state/index.js'
import type { FastifyInstance } from 'fastify'

export type ClusterView = Omit<ClusterRecord, 'token' | 'kubeconfig'> & { hasKubeconfig: boolean }

export interface ClustersApi {
  list: () => ClusterView[]
  get: (name: string) => ClusterView
  kubeconfig: (name: string) => string
}

function view (c: ClusterRecord): ClusterView {
  const { token: _t, kubeconfig, ...rest } = c
  return { ...rest, hasKubeconfig: kubeconfig != null }
}

export function clustersApi (c: { self: string, state: StateService, dataDir: string }): ClustersApi {
  const record = (name: string): ClusterRecord => {
    const r = c.state.store.get<ClusterRecord>(`clusters/${name}`)
    if (r == null) throw new HttpError('NOT_FOUND', `no cluster ${name}`)
    return r
  }
  return {
    list: () => c.state.store.list<ClusterRecord>('clusters/').map(e => view(e.value)).sort((a, b) => a.name.localeCompare(b.name)),
    get: name => view(record(name)),
    kubeconfig: name => {
      const r = record(name)
      if (r.kubeconfig == null) throw new HttpError('NOT_FOUND', `cluster ${name} has no kubeconfig yet (status ${r.status})`)
      if (!r.recipients.includes(c.self)) throw new HttpError('NOT_RECIPIENT', `the kubeconfig of ${name} is not sealed to this agent (only admins and the SSH agents of ${r.dc} can open it)`)
      return Buffer.from(open(r.kubeconfig, { id: c.self, privateKey: loadSealKey(c.dataDir) }, { aad: kubeconfigAad(name) })).toString('utf8')
    }
  }
}

const nameParam = z.object({ name: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$/) })

export function clusterRoutes (app: FastifyInstance, prefix: string, api: ClustersApi, parse: <T>(schema: z.ZodType<T>, value: unknown) => T): void {
  app.get(`${prefix}/clusters`, async () => api.list())
  app.get(`${prefix}/clusters/:name`, async req => api.get(parse(nameParam, req.params).name))
  app.get(`${prefix}/clusters/:name/kubeconfig`, async (req, reply) => {
    const { name } = parse(nameParam, req.params)
    const kubeconfig = api.kubeconfig(name)
    void reply.header('cache-control', 'no-store')
    return { name, kubeconfig }
  })
}
