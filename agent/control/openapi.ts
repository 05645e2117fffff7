/** The OpenAPI 3.1 document of the control API, generated from the same zod schemas that validate it. */
import { z } from 'zod'
import {
  jobSchema, jobSubmitSchema, jobsSchema, logLineSchema, stateDigestSchema, stateEntriesSchema,
  errorSchema, inviteRequestSchema, inviteResponseSchema, membersSchema, metricsSchema, okSchema,
  peersSchema, statusSchema, tagsRequestSchema
} from './api.js'

const json = (schema: z.ZodType): object => ({ content: { 'application/json': { schema: z.toJSONSchema(schema, { io: 'input', unrepresentable: 'any' }) } } })
const errors = { '400': { description: 'malformed request', ...json(errorSchema) }, '401': { description: 'missing or wrong bearer token', ...json(errorSchema) } }
const ok = (schema: z.ZodType, description = 'ok'): object => ({ '200': { description, ...json(schema) }, ...errors })

const idParam = { name: 'id', in: 'path', required: true, schema: { type: 'string', format: 'uuid' } }

export function openApiDocument (version: string): object {
  return {
    openapi: '3.1.0',
    info: { title: 'ctpf agent control API', version },
    servers: [{ url: '/v1' }],
    components: { securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } } },
    security: [{ bearer: [] }],
    paths: {
      '/status': { get: { summary: 'This agent: peer id, mesh, tags, addresses, version', responses: ok(statusSchema) } },
      '/members': { get: { summary: 'Current members of the mesh', responses: ok(membersSchema) } },
      '/members/{peerId}/revoke': {
        post: {
          summary: 'Revoke a member (admin only); every member disconnects it within seconds',
          parameters: [{ name: 'peerId', in: 'path', required: true, schema: { type: 'string' } }],
          responses: { ...ok(okSchema), '403': { description: 'this agent is not an admin', ...json(errorSchema) } }
        }
      },
      '/invites': {
        post: {
          summary: 'Create a single-use invite token (admin only)',
          requestBody: json(inviteRequestSchema),
          responses: { ...ok(inviteResponseSchema), '403': { description: 'this agent is not an admin', ...json(errorSchema) } }
        }
      },
      '/peers': { get: { summary: 'Connected peers, each direct or relayed', responses: ok(peersSchema) } },
      '/tags': { put: { summary: 'Replace the tags this agent declares for itself', requestBody: json(tagsRequestSchema), responses: ok(okSchema) } },
      '/jobs': {
        get: { summary: 'All jobs known to this agent', responses: ok(jobsSchema) },
        post: { summary: 'Submit a job; the selector picks the agents that may run it', requestBody: json(jobSubmitSchema), responses: ok(z.object({ id: z.string() })) }
      },
      '/jobs/{id}': {
        get: { summary: 'One job: status, claim, attempts, result, and why it waits', parameters: [idParam], responses: { ...ok(jobSchema), '404': { description: 'no such job', ...json(errorSchema) } } },
        delete: { summary: 'Cancel a job; a running one is stopped', parameters: [idParam], responses: ok(jobSchema) }
      },
      '/jobs/{id}/logs': {
        get: {
          summary: 'Log lines of a job as newline-delimited JSON; with follow=1, live until the job ends',
          parameters: [idParam, { name: 'follow', in: 'query', required: false, schema: { type: 'string', enum: ['0', '1'] } }],
          responses: { '200': { description: 'log lines', content: { 'application/x-ndjson': { schema: z.toJSONSchema(logLineSchema) } } } }
        }
      },
      '/state': { get: { summary: 'Keys of the replicated state under a prefix, with stamp and author', parameters: [{ name: 'prefix', in: 'query', required: false, schema: { type: 'string' } }], responses: ok(stateEntriesSchema) } },
      '/state/digest': { get: { summary: 'Record count and a digest of the whole state: equal digests, equal state', responses: ok(stateDigestSchema) } },
      '/metrics': { get: { summary: 'Counters of this agent', responses: ok(metricsSchema) } },
      '/events': {
        get: {
          summary: 'Server-sent events: peer:connect, peer:disconnect, member:joined, member:updated, member:revoked',
          responses: { '200': { description: 'an event stream', content: { 'text/event-stream': {} } }, '401': errors['401'] }
        }
      }
    }
  }
}
