/**
 * The parts of Hetzner Cloud API answers this adapter reads (docs.hetzner.cloud), validated at
 * the boundary. Unknown fields are dropped. Servers carry their `location` at top level; the
 * older `datacenter.location` (removed from the API in 2026) is still read when present.
 */
import { z } from 'zod'

export const apiErrorBodySchema = z.object({
  error: z.object({
    code: z.string().max(200),
    message: z.string().max(10_000),
    details: z.unknown().optional()
  })
})

export const paginationSchema = z.object({
  page: z.number().int(),
  per_page: z.number().int(),
  previous_page: z.number().int().nullable(),
  next_page: z.number().int().nullable(),
  last_page: z.number().int().nullable(),
  total_entries: z.number().int().nullable()
})

export const metaSchema = z.object({ pagination: paginationSchema })

const locationSchema = z.object({ name: z.string().min(1).max(64) })

export const serverSchema = z.object({
  id: z.number().int().positive(),
  name: z.string().max(255),
  status: z.string().max(64),
  created: z.string().max(64).optional(),
  labels: z.record(z.string(), z.string()).default({}),
  public_net: z.object({
    ipv4: z.object({ ip: z.string().max(64) }).nullable().optional(),
    ipv6: z.object({ ip: z.string().max(64) }).nullable().optional()
  }).optional(),
  private_net: z.array(z.object({ ip: z.string().max(64).optional() })).optional(),
  server_type: z.object({ name: z.string().max(64) }).optional(),
  location: locationSchema.optional(),
  datacenter: z.object({ location: locationSchema }).nullable().optional()
})
export type ApiServer = z.infer<typeof serverSchema>

export const actionSchema = z.object({
  id: z.number().int().positive(),
  command: z.string().max(200),
  status: z.enum(['running', 'success', 'error']),
  progress: z.number().min(0).max(100),
  started: z.string().nullable().optional(),
  finished: z.string().nullable().optional(),
  resources: z.array(z.object({ id: z.number().int(), type: z.string() })).default([]),
  error: z.object({ code: z.string(), message: z.string() }).nullable().optional()
})
export type ApiAction = z.infer<typeof actionSchema>

export const serverResponseSchema = z.object({ server: serverSchema })
export const actionResponseSchema = z.object({ action: actionSchema })
export const createServerResponseSchema = z.object({
  server: serverSchema,
  action: actionSchema,
  next_actions: z.array(actionSchema).default([]),
  // present (and a secret) only when no ssh key was given; read so it can be dropped on purpose
  root_password: z.string().nullable().optional()
})
