/** Builds the template context from what the agent knows, and caches compiled profile templates. */
import { normalizeArch, normalizeMac, normalizeUuid } from './normalize.js'
import { Template } from './template.js'
import type { HostFacts } from './groups.js'
import type { Group, Profile } from './schema.js'
import type { TemplateContext } from './variables.js'

/** Everything a template can be rendered with. */
export interface RenderInput {
  profile: Profile
  host: HostFacts
  group?: Pick<Group, 'name' | 'metadata'>
  /** Authorized SSH public keys for this host (ssh.authorizedKeys). */
  authorizedKeys?: readonly string[]
  /** phoneHome.url and phoneHome.token (a freshly minted token; only its hash is stored). */
  phoneHome?: { url: string, token: string }
  mesh?: { id?: string, domain?: string }
  /** Base URL of the scripts endpoint that answered (mesh.baseUrl), e.g. http://10.0.0.1:8080 */
  baseUrl?: string
  /** URLs of this host's installer configs (urls.*). */
  urls?: TemplateContext['urls']
}

export function templateContext (input: RenderInput): TemplateContext {
  const h = input.host
  return {
    host: {
      hostname: h.hostname,
      mac: h.mac != null ? normalizeMac(h.mac) ?? h.mac : undefined,
      uuid: h.uuid != null ? normalizeUuid(h.uuid) ?? h.uuid : undefined,
      arch: h.arch != null ? normalizeArch(h.arch, h.platform) ?? h.arch : undefined,
      dc: h.dc,
      addresses: h.addresses,
      tags: h.tags
    },
    ssh: { authorizedKeys: input.authorizedKeys },
    phoneHome: input.phoneHome,
    group: input.group != null ? { name: input.group.name, metadata: input.group.metadata } : undefined,
    profile: { name: input.profile.name },
    mesh: { id: input.mesh?.id, domain: input.mesh?.domain, baseUrl: input.baseUrl },
    urls: input.urls
  }
}

const cache = new WeakMap<Profile, Map<string, Template>>()

/** The compiled template of `field` (see profileTemplates for field names), compiled once per profile object. */
export function profileTemplate (profile: Profile, field: string, source: string): Template {
  let m = cache.get(profile)
  if (m == null) { m = new Map(); cache.set(profile, m) }
  let t = m.get(field)
  if (t == null || t.source !== source) { t = new Template(source, field); m.set(field, t) }
  return t
}
