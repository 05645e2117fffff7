/** The narrow views of the agent's components that the overlay needs. */
import type { StateRecord } from '../state/index.js'

/** Replicated state, as the overlay uses it. */
export interface OverlayState {
  write: (key: string, value: unknown) => Promise<unknown>
  delete: (key: string) => Promise<unknown>
  store: {
    list: <T = unknown>(prefix: string) => Array<{ key: string, value: T, record: StateRecord }>
    watch: (prefix: string, fn: (record: StateRecord) => void) => () => void
  }
}

/** Mesh membership, as the overlay uses it. */
export interface OverlayMembers {
  isMember: (peer: string) => boolean
  tagsOf: (peer: string) => Record<string, string>
  /** Calls `fn` when memberships or tags change; returns an unsubscribe function. */
  onChange: (fn: () => void) => () => void
  /** Every current member. */
  list: () => string[]
}

export type PathKind = 'direct' | 'relayed'

/** What the overlay knows of one peer (GET /v1/net/status). */
export interface PeerStats {
  peer: string
  address?: string
  address6: string
  /** The path of the stream packets go out on; undefined while no stream is open. */
  path?: PathKind
  remoteAddr?: string
  bytesIn: number
  bytesOut: number
  packetsIn: number
  packetsOut: number
  /** Packets dropped for this peer: no stream, queue full, firewall, spoofed source. */
  dropped: number
  /** Round-trip time of the last overlay ping, ms. */
  latencyMs?: number
}
