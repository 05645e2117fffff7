/** Protocol id, limits and timings of the overlay. Wire changes bump the version (see wire.ts). */

/** The packet transport between members: one long-lived stream per peer and direction. */
export const OVERLAY_PROTOCOL = '/ctpf/overlay/1.1.0'
/** The first version (no forwarding through member relays): still accepted and spoken. */
export const OVERLAY_PROTOCOL_1_0 = '/ctpf/overlay/1.0.0'
/** How long an end-to-end handshake through a member relay may take before the next relay is tried. */
export const FORWARD_HANDSHAKE_MS = 3_000
/** Bytes of whole frames held for a peer while its stream opens (forwarded ones, at a relay or a sender); more are dropped. */
export const MAX_PENDING_FRAME_BYTES = 4 << 20

/** Largest frame on the wire (a batch of packets). */
export const MAX_FRAME_BYTES = 4 << 20
/** Largest packet in a batch: a GSO super-packet of 64 KiB behind its 10-byte virtio header. */
export const MAX_PACKET_BYTES = 65_535 + 10
/** Packets held for a peer while its stream opens; more are dropped (as on a congested link). */
export const MAX_PENDING_PACKETS = 512
/** Every peer with a session is pinged this often over its stream (latency in the stats). */
export const PING_INTERVAL_MS = 5_000
/** A ping without a pong after this long counts as lost. */
export const PING_TIMEOUT_MS = 5_000
/** How often sessions look for a better path (a direct connection replacing a relayed one). */
export const PATH_CHECK_MS = 2_000
/** How often an agent makes sure it is connected to every member relay (tag relay=true). */
export const RELAY_CHECK_MS = 5_000
/** Connection tracking: idle time after which a flow is forgotten. */
export const CONNTRACK_TTL_MS = 120_000
export const CONNTRACK_MAX = 65_536

/** State prefixes the overlay reads and writes. */
export const ADDRESSES_PREFIX = 'addresses/'
export const ROUTES_PREFIX = 'routes/'
export const FIREWALL_PREFIX = 'firewall/'
