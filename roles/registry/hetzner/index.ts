/**
 * Hetzner Cloud as a virtual remote datacenter of the registry role: list, create and delete
 * servers of one provider project. A created server's cloud-init installs the agent bundle
 * (sha256-checked) and joins the mesh with an invite token kept in a 0600 file. Servers are
 * mapped to host records `{ id, name, dc: 'hetzner-<location>', addresses, status }`.
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * import { createHetznerRegistry } from './roles/registry/hetzner/index.js'
 *
 * const hetzner = createHetznerRegistry({ meshId, token: readFileSync(tokenFile, 'utf8').trim() }, { logger: pino() })
 * const { host } = await hetzner.createServer({
 *   name: 'edge-1', serverType: 'cx22', image: 'debian-12', location: 'nbg1',
 *   inviteToken, agentInstall: { url: `https://${seed}/artifacts/${cid}`, sha256 },
 *   sshKeys: ['ops']
 * }, { onProgress: p => console.log(p.command, p.progress) })
 * console.log(host.id, host.dc, host.addresses) // hetzner-42 hetzner-nbg1 [ '203.0.113.7', '2001:db8::1' ]
 * for (const h of await hetzner.listServers()) console.log(h.name, h.status)
 * await hetzner.deleteServer(host.serverId) // ERR_HETZNER_NOT_OURS for servers of other meshes
 * ```
 */
import { HetznerRegistry, type HetznerRegistryComponents, type HetznerRegistryInit } from './adapter.js'

/** Validates `init` (throws HetznerConfigError) and builds the adapter. No request is made. */
export function createHetznerRegistry (init: HetznerRegistryInit, components: HetznerRegistryComponents = {}): HetznerRegistry {
  return new HetznerRegistry(init, components)
}

export {
  HetznerRegistry, MESH_LABEL, DC_LABEL,
  type HetznerRegistryInit, type HetznerRegistryComponents, type CreateServerSpec, type CreatedServer, type ActionProgress, type WaitOptions
} from './adapter.js'
export { HetznerClient, DEFAULT_ENDPOINT, MAX_PER_PAGE, type HetznerClientInit, type HetznerClientComponents, type RateLimitState } from './client.js'
export { toHost, dcOfLocation, type HetznerHost, type HetznerHostStatus } from './hosts.js'
export { renderUserData, checkAgentInstall, INSTALL_SCRIPT, PATHS, MAX_USER_DATA_BYTES, HETZNER_METADATA_URL, type AgentInstall, type UserDataSpec } from './user-data.js'
export type { ApiServer, ApiAction } from './schemas.js'
export * from './errors.js'
