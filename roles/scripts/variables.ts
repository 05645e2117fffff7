/**
 * The variables a template may use — the whole set, nothing else. A name ending in `.*` is a
 * map: `host.tags.rack` is the host's `rack` tag (keys usable this way match
 * `[A-Za-z_][A-Za-z0-9_-]*`; `{{ host.tags | json }}` gives all of them).
 */

export type VariableType = 'string' | 'list' | 'map'

export interface VariableInfo {
  readonly path: string
  readonly type: VariableType
  readonly description: string
}

export const TEMPLATE_VARIABLES: readonly VariableInfo[] = Object.freeze([
  { path: 'host.hostname', type: 'string', description: 'host name (short or FQDN, as the registry knows it)' },
  { path: 'host.mac', type: 'string', description: 'MAC address of the booting NIC, lowercase, colon-separated' },
  { path: 'host.uuid', type: 'string', description: 'SMBIOS UUID, lowercase' },
  { path: 'host.arch', type: 'string', description: 'architecture: x86_64, i386, arm64, arm32, riscv64' },
  { path: 'host.dc', type: 'string', description: 'datacenter the host is in' },
  { path: 'host.addresses', type: 'list', description: 'IP addresses known for the host' },
  { path: 'host.tags', type: 'map', description: 'host tags: host.tags.<key>' },
  { path: 'ssh.authorizedKeys', type: 'list', description: 'authorized SSH public keys for this host (its dc and tags)' },
  { path: 'phoneHome.url', type: 'string', description: 'URL the installed system calls back' },
  { path: 'phoneHome.token', type: 'string', description: 'one-time phone-home token (a secret)' },
  { path: 'group.name', type: 'string', description: 'name of the matched group' },
  { path: 'group.metadata', type: 'map', description: 'metadata of the matched group: group.metadata.<key>' },
  { path: 'profile.name', type: 'string', description: 'name of the profile being rendered' },
  { path: 'mesh.id', type: 'string', description: 'mesh id' },
  { path: 'mesh.domain', type: 'string', description: 'DNS domain of the mesh (e.g. mesh.internal)' },
  { path: 'mesh.baseUrl', type: 'string', description: 'base URL of the scripts endpoint that answered' },
  { path: 'urls.kickstart', type: 'string', description: 'URL of this host\'s rendered kickstart' },
  { path: 'urls.preseed', type: 'string', description: 'URL of this host\'s rendered preseed' },
  { path: 'urls.cloudInit', type: 'string', description: 'NoCloud seed prefix (ends in /): user-data and meta-data live under it' },
  { path: 'urls.preInstall', type: 'string', description: 'URL of this host\'s rendered pre-install script' },
  { path: 'urls.postInstall', type: 'string', description: 'URL of this host\'s rendered post-install script' }
] as const)

export type TemplateVariable = typeof TEMPLATE_VARIABLES[number]['path']

const byPath = new Map(TEMPLATE_VARIABLES.map(v => [v.path, v]))
const roots = new Set(TEMPLATE_VARIABLES.map(v => v.path.split('.')[0]))

/** Names a loop variable may not take. */
export function isRootName (name: string): boolean {
  return roots.has(name)
}

/**
 * The type of a dotted path, or a reason it is not a variable. `host.tags.rack` → string,
 * `host.tags` → map, `host` → not a value.
 */
export function variableType (path: readonly string[]): { type: VariableType } | { error: string } {
  const joined = path.join('.')
  const exact = byPath.get(joined)
  if (exact != null) return { type: exact.type }
  if (path.length >= 2) {
    const parent = byPath.get(path.slice(0, -1).join('.'))
    if (parent?.type === 'map') return { type: 'string' }
    if (parent != null) return { error: `"${parent.path}" is a ${parent.type}, it has no field "${path[path.length - 1]}"` }
  }
  if (roots.has(path[0]) && path.length === 1) {
    const fields = TEMPLATE_VARIABLES.filter(v => v.path.startsWith(`${path[0]}.`)).map(v => v.type === 'map' ? `${v.path}.<key>` : v.path)
    return { error: `"${joined}" is not a value; use one of ${fields.join(', ')}` }
  }
  return { error: `unknown variable "${joined}"` }
}

/** The values a template is rendered with; the shape of TEMPLATE_VARIABLES. Absent = no value. */
export interface TemplateContext {
  host: {
    hostname?: string
    mac?: string
    uuid?: string
    arch?: string
    dc?: string
    addresses?: readonly string[]
    tags?: Readonly<Record<string, string>>
  }
  ssh?: { authorizedKeys?: readonly string[] }
  phoneHome?: { url?: string, token?: string }
  group?: { name?: string, metadata?: Readonly<Record<string, string>> }
  profile?: { name?: string }
  mesh?: { id?: string, domain?: string, baseUrl?: string }
  urls?: { kickstart?: string, preseed?: string, cloudInit?: string, preInstall?: string, postInstall?: string }
}
