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
          summary: 'Server-sent events: peer:connect, peer:disconnect, member:joined, member:updated, member:revoked, job:submitted, job:claimed, job:finished, host:status, artifact:progress',
          responses: { '200': { description: 'an event stream', content: { 'text/event-stream': {} } }, '401': errors['401'] }
        }
      },
      ...artifactPaths(),
      ...provisionPaths(),
      ...overlayAndClusterPaths()
    }
  }
}

const named = (what: string): object => ({ name: 'name', in: 'path', required: true, schema: { type: 'string' }, description: what })
const anyJson = ok(z.unknown())
const refused = (code: string, description: string): object => ({ [code]: { description, ...json(errorSchema) } })

function artifactPaths (): Record<string, object> {
  const ref = { name: 'ref', in: 'path', required: true, schema: { type: 'string' }, description: 'a CID or a name' }
  return {
    '/artifacts': {
      get: { summary: 'Pinned artifacts of this agent', responses: anyJson },
      post: { summary: 'Import the raw body (application/octet-stream) as an artifact; ?name= also points a name at it', responses: anyJson }
    },
    '/artifacts/{ref}': { get: { summary: 'The bytes (Range supported), fetched through the mesh when absent', parameters: [ref], responses: { '200': { description: 'the bytes', content: { 'application/octet-stream': {} } }, ...errors } } },
    '/artifacts/{ref}/stat': { get: { summary: 'Size, blocks, local and pinned', parameters: [ref], responses: anyJson } },
    '/artifacts/{ref}/car': { get: { summary: 'A CAR export', parameters: [ref], responses: { '200': { description: 'a CAR', content: { 'application/vnd.ipld.car': {} } }, ...errors } } },
    '/artifacts/gc': { post: { summary: 'Remove blocks no pinned artifact needs', responses: anyJson } },
    '/pins/{ref}': { put: { summary: 'Keep an artifact (fetching it if needed)', parameters: [ref], responses: anyJson }, delete: { summary: 'Let garbage collection take it', parameters: [ref], responses: anyJson } },
    '/cars': { post: { summary: 'Import a CAR (raw body)', responses: anyJson } },
    '/names/{name}': { get: { summary: 'A name: its CID and history', parameters: [named('e.g. ipxe/undionly.kpxe')], responses: anyJson }, put: { summary: 'Point a name at a CID', parameters: [named('the name')], responses: anyJson } }
  }
}

function provisionPaths (): Record<string, object> {
  const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'a MAC (52-54-00-…) or a provider id (hetzner-42)' }
  const invalid = refused('400', 'refused: a bad template (TEMPLATE_INVALID, with field, line and reason) or schema')
  return {
    '/profiles': { get: { summary: 'Boot profiles', responses: anyJson } },
    '/profiles/{name}': {
      get: { summary: 'One profile', parameters: [named('profile')], responses: anyJson },
      put: { summary: 'Create or replace a profile: kernel, initrds, command line and installer templates (kickstart, preseed, cloudInit, preInstall, postInstall), checked at write time', parameters: [named('profile')], requestBody: { content: { 'application/json': { schema: { type: 'object' } } } }, responses: { ...anyJson, ...invalid, ...refused('403', 'only admins write profiles') } },
      delete: { summary: 'Remove a profile no group uses', parameters: [named('profile')], responses: { ...anyJson, ...refused('409', 'PROFILE_IN_USE') } }
    },
    '/groups': { get: { summary: 'Groups: selectors over MAC, UUID, arch, hostname and tags that pick a profile', responses: anyJson } },
    '/groups/{name}': {
      get: { summary: 'One group', parameters: [named('group')], responses: anyJson },
      put: { summary: 'Create or replace a group { profile, selector, metadata }', parameters: [named('group')], requestBody: { content: { 'application/json': { schema: { type: 'object' } } } }, responses: { ...anyJson, ...invalid, ...refused('409', 'GROUP_TIE: two groups could match the same machine equally') } },
      delete: { summary: 'Remove a group (refused when two others would then tie)', parameters: [named('group')], responses: anyJson }
    },
    '/hosts': { get: { summary: 'The host inventory with lifecycle status and events', responses: anyJson } },
    '/hosts/{id}': {
      get: { summary: 'One host with its events', parameters: [id], responses: anyJson },
      put: { summary: 'Add or update a host the mesh did not boot { addresses, sshHostKey, dc, hostname, user, port, tags, status }', parameters: [id], responses: anyJson }
    },
    '/hosts/{id}/reprovision': { post: { summary: 'Install the host again at its next network boot', parameters: [id], responses: anyJson } },
    '/keys': { get: { summary: 'Authorized SSH public keys (per dc or tag)', responses: anyJson } },
    '/keys/{id}': { put: { summary: 'Add a key { key, dc?, tags? }', parameters: [{ ...id, description: 'a name for the key' }], responses: anyJson }, delete: { summary: 'Remove a key', parameters: [{ ...id, description: 'the key\'s name' }], responses: anyJson } },
    '/dcs': { get: { summary: 'Provider datacenters (tokens never shown)', responses: anyJson } },
    '/dcs/{name}': { put: { summary: 'Add a provider datacenter { kind: hetzner, location, token, endpoint?, agentInstall? }; the token is sealed to the registry agents on arrival', parameters: [named('dc')], responses: { ...anyJson, ...refused('409', 'NO_RECIPIENTS: no registry agent to seal the token to') } } },
    '/dcs/keys': { get: { summary: 'General SSH keys of the datacenters (public halves)', responses: anyJson } },
    '/dcs/{name}/key': { post: { summary: 'Generate the dc\'s general SSH key pair; the private half is sealed to the dc\'s SSH distributors', parameters: [named('dc')], responses: { ...anyJson, ...refused('409', 'NO_RECIPIENTS') } } }
  }
}

function overlayAndClusterPaths (): Record<string, object> {
  return {
    '/net/status': { get: { summary: 'The overlay on this agent: enabled or why not, addresses, name, tun, peers (path direct|relayed, bytes, latency)', responses: anyJson } },
    '/net/routes': { get: { summary: 'Overlay routes: agents\' addresses and advertised subnets, with the peer each goes to', responses: anyJson } },
    '/net/ping': { post: { summary: 'Ping an overlay address { address, timeoutMs? } → { address, peer, rttMs, path }', responses: { ...anyJson, ...refused('404', 'ERR_OVERLAY_NO_ROUTE'), ...refused('409', 'OVERLAY_OFF'), ...refused('504', 'ERR_OVERLAY_UNREACHABLE') } } },
    '/net/firewall': { get: { summary: 'Firewall rules by tags', responses: anyJson } },
    '/net/firewall/{name}': {
      put: { summary: 'Set a rule { from, to, proto, ports?, action } (admins)', parameters: [named('rule')], responses: anyJson },
      delete: { summary: 'Remove a rule', parameters: [named('rule')], responses: anyJson }
    },
    '/clusters': { get: { summary: 'k3s clusters: members, version, health (no secrets)', responses: anyJson } },
    '/clusters/{name}': { get: { summary: 'One cluster', parameters: [named('cluster')], responses: anyJson } },
    '/clusters/{name}/kubeconfig': { get: { summary: 'The cluster\'s kubeconfig, opened with this agent\'s sealing key', parameters: [named('cluster')], responses: { ...anyJson, ...refused('403', 'NOT_RECIPIENT: the kubeconfig is not sealed to this agent') } } },
    '/session': {
      post: { summary: 'The dashboard\'s login: { token } sets an HttpOnly session cookie (needs x-ctpf-csrf: 1)', responses: anyJson },
      get: { summary: 'The current session', responses: anyJson },
      delete: { summary: 'Log out', responses: anyJson }
    }
  }
}
