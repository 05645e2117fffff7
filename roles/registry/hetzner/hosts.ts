/** Maps Hetzner servers to ctpf host records of a virtual remote datacenter `hetzner-<location>`. */
import { isIP } from 'node:net'
import type { ApiServer } from './schemas.js'

/**
 * The host lifecycle as far as the provider can tell: a cloud image is an installed OS, so a
 * running server is `installed`; the registry promotes it to `ready` when its agent joins.
 * `off` and `deleting` have no equivalent in the boot lifecycle.
 */
export type HetznerHostStatus = 'booting' | 'installing' | 'installed' | 'off' | 'deleting' | 'failed'

export interface HetznerHost {
  /** `hetzner-<server id>`: stable, unique within the project. */
  id: string
  serverId: number
  name: string
  /** `hetzner-<location>`, e.g. `hetzner-nbg1`. */
  dc: string
  location: string
  /** Public IPv4, the `::1` of the public IPv6 /64, then private network addresses. */
  addresses: string[]
  status: HetznerHostStatus
  /** Hetzner's own status (`initializing`, `running`, `off`, …). */
  providerStatus: string
  serverType?: string
  labels: Record<string, string>
  created?: string
}

const STATUS: Record<string, HetznerHostStatus> = {
  initializing: 'booting',
  starting: 'booting',
  migrating: 'booting',
  rebuilding: 'installing',
  running: 'installed',
  stopping: 'off',
  off: 'off',
  deleting: 'deleting'
}

export function dcOfLocation (location: string): string {
  return `hetzner-${location}`
}

export function toHost (server: ApiServer): HetznerHost {
  const location = server.location?.name ?? server.datacenter?.location.name ?? 'unknown'
  const addresses: string[] = []
  const v4 = server.public_net?.ipv4?.ip
  if (v4 != null && isIP(v4) === 4) addresses.push(v4)
  const v6 = server.public_net?.ipv6?.ip
  if (v6 != null) {
    const net = v6.split('/')[0]
    const host = net.endsWith('::') ? `${net}1` : net
    if (isIP(host) === 6) addresses.push(host)
  }
  for (const p of server.private_net ?? []) if (p.ip != null && isIP(p.ip) !== 0) addresses.push(p.ip)
  return {
    id: `hetzner-${server.id}`,
    serverId: server.id,
    name: server.name,
    dc: dcOfLocation(location),
    location,
    addresses,
    status: STATUS[server.status] ?? 'failed',
    providerStatus: server.status,
    serverType: server.server_type?.name,
    labels: server.labels,
    created: server.created
  }
}
