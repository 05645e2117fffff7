/**
 * The membership service: redeems invite tokens on the join protocol, publishes membership
 * records (member, tags, revocation) into replicated state under `members/<type>/<peer>` —
 * whose gossip and anti-entropy carry them to every member — and cuts off revoked peers and
 * non-members that linger.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { jsonStream } from '../codec.js'
import { JOIN_PROTOCOL, MAX_RECORD_BYTES, MAX_SNAPSHOT_BYTES, NON_MEMBER_GRACE_MS, REVOKED_GRACE_MS, PROTOCOL_TIMEOUT_MS } from './constants.js'
import { JoinFailedError, MembershipError, NotAdminError, PeerRevokedError, RecordInvalidError, TokenForeignMeshError, TokenReusedError, TokenWrongInviterError } from './errors.js'
import { signRecord, tagsRecordSchema } from './records.js'
import { createToken, decodeToken, newNonce, verifyToken } from './token.js'
import type { MemberRegistry } from './registry.js'
import type { AnyRecord, MemberRecord, Revocation, Tags, TagsRecord } from './records.js'
import type { Sublevel } from '../../store/index.js'
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'

const joinRequestSchema = z.object({ token: z.string().max(8192), tags: tagsRecordSchema })
const errorBody = z.object({ code: z.string().max(64), message: z.string().max(1024) })
const joinResponseSchema = z.union([
  z.object({ ok: z.literal(true), records: z.array(z.unknown()).max(100_000) }),
  z.object({ ok: z.literal(false), error: errorBody })
])

export interface MembershipComponents {
  peerId: string
  privateKey: PrivateKey
  registry: MemberRegistry
  /** Invite nonces this agent has redeemed (single use). */
  nonces: Sublevel<number>
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'hangUp' | 'addEventListener' | 'removeEventListener'>
  /** Writes a verified record into replicated state at `members/<type>/<peer>`. */
  write: (key: string, record: AnyRecord) => Promise<void>
  /** The state records under `members/`, sent to a joiner with its own. */
  snapshot: () => unknown[]
  logger: Logger
}

export function membershipKey (record: AnyRecord): string {
  return `members/${record.type}/${record.peer}`
}

export interface MembershipMetrics {
  refusedStreams: number
  joinsAccepted: number
  joinsRefused: number
}

export interface InviteInit {
  tags?: Tags
  caps?: string[]
  ttlSeconds?: number
  addrs: string[]
}

export class MembershipService {
  readonly metrics: MembershipMetrics = { refusedStreams: 0, joinsAccepted: 0, joinsRefused: 0 }
  readonly #c: MembershipComponents
  readonly #redeeming = new Set<string>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #unsubscribe: Array<() => void> = []
  #started = false

  constructor (components: MembershipComponents) {
    this.#c = components
  }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { libp2p, registry } = this.#c
    await libp2p.handle(JOIN_PROTOCOL, (s, c) => this.#onJoin(s, c), { runOnLimitedConnection: true, maxInboundStreams: 8 })
    libp2p.addEventListener('connection:open', this.#onConnectionOpen)
    this.#unsubscribe.push(registry.on('member:revoked', ({ peerId }) => { void this.#disconnect(peerId) }))
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    const { libp2p } = this.#c
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const off of this.#unsubscribe.splice(0)) off()
    libp2p.removeEventListener('connection:open', this.#onConnectionOpen)
    await libp2p.unhandle(JOIN_PROTOCOL)
  }

  /** Makes a single-use invite token redeemable at this agent. Admins only. */
  async createInvite (init: InviteInit, rootRaw: string): Promise<string> {
    const { registry, peerId, privateKey } = this.#c
    if (!registry.isAdmin(peerId)) throw new NotAdminError('creating an invite')
    const ttl = init.ttlSeconds ?? 3600
    return await createToken({
      v: 1,
      mesh: registry.meshId,
      root: rootRaw,
      addrs: init.addrs,
      tags: init.tags ?? {},
      caps: init.caps ?? [],
      exp: Date.now() + ttl * 1000,
      nonce: newNonce(),
      inviter: peerId
    }, privateKey)
  }

  /** Revokes a member for good. Admins only; an agent cannot revoke itself. */
  async revoke (peer: string): Promise<void> {
    const { registry, peerId, privateKey } = this.#c
    if (!registry.isAdmin(peerId)) throw new NotAdminError('revoking a member')
    if (peer === peerId) throw new MembershipError('REVOKE_SELF', 'an agent cannot revoke itself; revoke it from another admin')
    if (registry.isRevoked(peer)) return
    const rev = await signRecord<Revocation>({ type: 'revocation', mesh: registry.meshId, peer, issuer: peerId, issuedAt: Date.now() }, privateKey)
    await this.publish(rev)
  }

  /** Replaces the tags this agent declares for itself; they propagate to every member. */
  async setSelfTags (tags: Tags): Promise<void> {
    const { registry, peerId, privateKey } = this.#c
    const rec = await signRecord<TagsRecord>({ type: 'tags', mesh: registry.meshId, peer: peerId, tags, issuedAt: Date.now() }, privateKey)
    await this.publish(rec)
  }

  /** Applies a record to the registry, then writes it into replicated state (which gossips it). */
  async publish (record: AnyRecord): Promise<void> {
    await this.#c.registry.apply(record)
    await this.#c.write(membershipKey(record), record)
  }

  async #onJoin (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(PROTOCOL_TIMEOUT_MS)
    const io = jsonStream(stream, { maxBytes: MAX_RECORD_BYTES })
    const joiner = connection.remotePeer.toString()
    try {
      const request = await io.read(joinRequestSchema, { signal })
      await this.#redeem(request.token, request.tags, joiner)
      await io.write({ ok: true, records: this.#c.snapshot() }, { signal })
      await stream.close({ signal })
      this.metrics.joinsAccepted++
      this.#c.logger.info({ peer: joiner }, 'member joined by invite')
    } catch (err) {
      this.metrics.joinsRefused++
      const code = err instanceof MembershipError ? err.code : 'JOIN_BAD_REQUEST'
      const message = err instanceof MembershipError ? err.message : 'join request could not be read'
      this.#c.logger.warn({ peer: joiner, code, reason: err instanceof MembershipError ? undefined : (err as Error).message }, 'join refused')
      try {
        await io.write({ ok: false, error: { code, message } }, { signal })
        await stream.close({ signal })
      } catch {
        stream.abort(err as Error)
      }
    }
  }

  async #redeem (text: string, selfTags: TagsRecord, joiner: string): Promise<void> {
    const { registry, peerId, privateKey, nonces } = this.#c
    const token = decodeToken(text)
    await verifyToken(token)
    const p = token.payload
    if (p.mesh !== registry.meshId) throw new TokenForeignMeshError(p.mesh, registry.meshId)
    if (p.inviter !== peerId) throw new TokenWrongInviterError()
    if (!registry.isAdmin(peerId)) throw new NotAdminError('redeeming an invite')
    if (registry.isRevoked(joiner)) throw new PeerRevokedError(joiner)
    if (this.#redeeming.has(p.nonce) || (await nonces.get(p.nonce)) !== undefined) throw new TokenReusedError()
    if (selfTags.peer !== joiner || selfTags.mesh !== registry.meshId) throw new RecordInvalidError('the tags record must be the joiner\'s own')
    this.#redeeming.add(p.nonce)
    try {
      await nonces.put(p.nonce, Date.now())
      const record = await signRecord<MemberRecord>({ type: 'member', mesh: registry.meshId, peer: joiner, tags: p.tags, caps: p.caps, issuer: peerId, issuedAt: Date.now() }, privateKey)
      await this.publish(record)
      await this.publish(selfTags)
    } finally {
      this.#redeeming.delete(p.nonce)
    }
  }

  async #disconnect (peer: string): Promise<void> {
    try {
      await this.#c.libp2p.hangUp(peerIdFromString(peer))
      this.#c.logger.info({ peer }, 'revoked peer disconnected')
    } catch (err) {
      this.#c.logger.warn({ peer, err }, 'could not disconnect revoked peer')
    }
  }

  readonly #onConnectionOpen = (evt: CustomEvent<Connection>): void => {
    const conn = evt.detail
    const peer = conn.remotePeer.toString()
    const { registry } = this.#c
    if (registry.isMember(peer)) return
    const t = setTimeout(() => {
      this.#timers.delete(t)
      if (!registry.isMember(peer) && conn.status === 'open') {
        this.#c.logger.debug({ peer }, 'closing connection of a non-member')
        void conn.close().catch(() => {})
      }
    }, registry.isRevoked(peer) ? REVOKED_GRACE_MS : NON_MEMBER_GRACE_MS)
    t.unref()
    this.#timers.add(t)
  }
}

export interface JoinOutcome {
  inviter: string
  records: unknown[]
}

/** The joiner's side: presents a token (and its own signed tags) to the inviter. */
export async function requestJoin (
  libp2p: Pick<Libp2p, 'dialProtocol'>,
  token: string,
  tags: TagsRecord,
  options: { signal?: AbortSignal } = {}
): Promise<JoinOutcome> {
  const { payload } = decodeToken(token)
  const errors: string[] = []
  for (const addr of payload.addrs) {
    const signal = options.signal ?? AbortSignal.timeout(PROTOCOL_TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      const ma = multiaddr(addr)
      if (ma.getComponents().find(c => c.name === 'p2p')?.value !== payload.inviter) {
        errors.push(`${addr}: not the inviter's address`)
        continue
      }
      stream = await libp2p.dialProtocol(ma, JOIN_PROTOCOL, { signal, runOnLimitedConnection: true })
      const io = jsonStream(stream, { maxBytes: MAX_SNAPSHOT_BYTES })
      await io.write({ token, tags }, { signal })
      const response = await io.read(joinResponseSchema, { signal })
      await stream.close({ signal }).catch(() => {})
      if (!response.ok) throw new JoinFailedError(response.error.code, response.error.message)
      return { inviter: payload.inviter, records: response.records }
    } catch (err) {
      stream?.abort(err as Error)
      if (err instanceof JoinFailedError) throw err
      errors.push(`${addr}: ${(err as Error).message}`)
    }
  }
  throw new JoinFailedError('JOIN_UNREACHABLE', `could not reach the inviter at any address in the token (${errors.join('; ')}); if the handshake was refused, this identity may have been revoked`)
}

