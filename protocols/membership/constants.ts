/**
 * Protocol ids of the membership layer. Changelog: 1.0.0 (2026-11-22) first version;
 * 2026-11-22 later: the members topic and `/ctpf/members/1.0.0` sync are gone — records travel
 * in replicated state under `members/`, and the join response carries those state records.
 * The join protocol is now 2.0.0.
 */
export const JOIN_PROTOCOL = '/ctpf/join/2.0.0'
export const KAD_PROTOCOL = '/ctpf/kad/1.0.0'

/** Largest join request or gossip record, in bytes. */
export const MAX_RECORD_BYTES = 16 * 1024
/** Largest membership snapshot, in bytes. */
export const MAX_SNAPSHOT_BYTES = 8 * 1024 * 1024
/** How long a non-member may stay connected (to finish a join) before it is cut off. */
export const NON_MEMBER_GRACE_MS = 15_000
/** How long a revoked peer stays connected: long enough to be told so on the join protocol. */
export const REVOKED_GRACE_MS = 2_000
export const PROTOCOL_TIMEOUT_MS = 10_000
