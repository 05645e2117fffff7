/**
 * The control API's shapes (zod schemas, the one schema library of the project) and the
 * narrow interface the HTTP server needs from the agent. The OpenAPI document is generated
 * from these schemas, so the document and the validation cannot drift apart.
 */
import { z } from 'zod'
import { capSchema, peerIdSchema, tagsSchema } from '../../protocols/membership/index.js'
import type { Emitter } from '../../protocols/events.js'
import type { ProvisionApi } from '../provision.js'
import type { ClustersApi } from './clusters.js'
import type { Artifacts } from '../../protocols/artifacts/index.js'

export const API_VERSION = 'v1'

export const statusSchema = z.object({
  peerId: z.string(),
  meshId: z.string(),
  tags: z.record(z.string(), z.string()),
  caps: z.array(z.string()),
  addresses: z.array(z.string()),
  version: z.string()
})
export type StatusView = z.infer<typeof statusSchema>

export const memberSchema = z.object({ peerId: z.string(), tags: z.record(z.string(), z.string()), caps: z.array(z.string()) })
export const membersSchema = z.array(memberSchema)
export type MemberView = z.infer<typeof memberSchema>

export const peerSchema = z.object({
  peerId: z.string(),
  path: z.enum(['direct', 'relayed']),
  addresses: z.array(z.string()),
  member: z.boolean()
})
export const peersSchema = z.array(peerSchema)
export type PeerView = z.infer<typeof peerSchema>

export const inviteRequestSchema = z.object({
  tags: tagsSchema.optional(),
  caps: z.array(capSchema).max(16).optional(),
  ttlSeconds: z.number().int().min(1).max(30 * 24 * 3600).optional()
}).strict()
export type InviteRequest = z.infer<typeof inviteRequestSchema>
export const inviteResponseSchema = z.object({ token: z.string() })

export const tagsRequestSchema = z.object({ tags: tagsSchema }).strict()
export const peerParamSchema = z.object({ peerId: peerIdSchema })
export const okSchema = z.object({ ok: z.literal(true) })
export const errorSchema = z.object({ error: z.object({ code: z.string(), message: z.string() }) })
export const metricsSchema = z.record(z.string(), z.number())

export type JobView = z.infer<typeof jobSchema>
export type LogLineView = z.infer<typeof logLineSchema>

export interface JobsApi {
  submit: (body: z.infer<typeof jobSubmitSchema>) => Promise<{ id: string }>
  list: () => JobView[]
  get: (id: string) => JobView | undefined
  cancel: (id: string) => Promise<JobView>
  logs: (id: string) => LogLineView[]
  isFinished: (id: string) => boolean
  onLog: (id: string, fn: (line: LogLineView) => void) => () => void
  onFinished: (id: string, fn: () => void) => () => void
}

export interface StateApi {
  list: (prefix: string) => Array<{ key: string, stamp: { t: number, c: number }, author: string }>
  digest: () => { records: number, digest: string }
}

export interface ControlApi {
  jobs: JobsApi
  provision: ProvisionApi
  clusters?: ClustersApi
  /** The artifacts service itself: its methods are the API the routes need. */
  artifacts: Artifacts
  state: StateApi
  /** Present only with CTPF_TEST_HOOKS=1. */
  testHooks?: { block: (peers: string[]) => Promise<void> }
  status: () => StatusView
  members: () => MemberView[]
  peers: () => PeerView[]
  createInvite: (body: InviteRequest) => Promise<{ token: string }>
  revoke: (peerId: string) => Promise<void>
  setTags: (tags: Record<string, string>) => Promise<void>
  metrics: () => Record<string, number>
  events: Emitter<any>
  /** The overlay, once started (GET /v1/net/…): a getter, since the control endpoint starts first. */
  net?: () => import('../overlay.js').Overlay | undefined
}

export const jobSubmitSchema = z.object({
  kind: z.string().regex(/^[a-z][a-z0-9-]{0,31}$/, 'job kinds are lowercase words'),
  selector: z.string().max(1024).default(''),
  spec: z.unknown().optional(),
  maxAttempts: z.number().int().min(1).max(20).optional()
}).strict()
export const jobSchema = z.object({
  id: z.string(),
  kind: z.string(),
  selector: z.string(),
  status: z.enum(['queued', 'claimed', 'running', 'succeeded', 'failed', 'cancelled']),
  attempts: z.number(),
  maxAttempts: z.number(),
  claim: z.object({ peer: z.string(), until: z.number(), attempt: z.number() }).nullable(),
  result: z.unknown(),
  error: z.object({ code: z.string(), message: z.string() }).nullable(),
  reason: z.string().nullable(),
  submitter: z.string(),
  createdAt: z.number(),
  updatedAt: z.number()
})
export const jobsSchema = z.array(jobSchema)
export const jobIdSchema = z.object({ id: z.string().uuid() })
export const logLineSchema = z.object({ id: z.string(), seq: z.number(), at: z.number(), line: z.string() })

export const statePrefixSchema = z.object({ prefix: z.string().max(256).default('') })
export const stateEntriesSchema = z.array(z.object({ key: z.string(), stamp: z.object({ t: z.number(), c: z.number() }), author: z.string() }))
export const stateDigestSchema = z.object({ records: z.number(), digest: z.string() })
export const blockSchema = z.object({ peers: z.array(peerIdSchema).max(1000) }).strict()
