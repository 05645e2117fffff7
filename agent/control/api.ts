/**
 * The control API's shapes (zod schemas, the one schema library of the project) and the
 * narrow interface the HTTP server needs from the agent. The OpenAPI document is generated
 * from these schemas, so the document and the validation cannot drift apart.
 */
import { z } from 'zod'
import { capSchema, peerIdSchema, tagsSchema } from '../../protocols/membership/index.js'
import type { Emitter } from '../../protocols/events.js'

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

export interface ControlApi {
  status: () => StatusView
  members: () => MemberView[]
  peers: () => PeerView[]
  createInvite: (body: InviteRequest) => Promise<{ token: string }>
  revoke: (peerId: string) => Promise<void>
  setTags: (tags: Record<string, string>) => Promise<void>
  metrics: () => Record<string, number>
  events: Emitter<any>
}
