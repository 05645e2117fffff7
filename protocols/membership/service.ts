/**
 * The membership service: redeems invite tokens on the join protocol, keeps every member's
 * registry in step (gossip of single records plus a pull of the whole set on connect and
 * every so often), cuts off revoked peers and non-members that linger.
 */
import { multiaddr } from '@multiformats/multiaddr'
import { peerIdFromString } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { z } from 'zod'
import { jsonStream } from '../codec.js'
import { JOIN_PROTOCOL, MAX_RECORD_BYTES, MAX_SNAPSHOT_BYTES, NON_MEMBER_GRACE_MS, REVOKED_GRACE_MS, PROTOCOL_TIMEOUT_MS, SYNC_PROTOCOL, membersTopic } from './constants.js'
import { JoinFailedError, MembershipError, NotAdminError, PeerRevokedError, RecordInvalidError, TokenForeignMeshError, TokenReusedError, TokenWrongInviterError } from './errors.js'
import { signRecord, tagsRecordSchema } from './records.js'
import { createToken, decodeToken, newNonce, verifyToken } from './token.js'
import type { MemberRegistry } from './registry.js'
import type { AnyRecord, MemberRecord, Revocation, Tags, TagsRecord } from './records.js'
import type { Sublevel } from '../../store/index.js'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Connection, Libp2p, PrivateKey, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'

const joinRequestSchema = z.object({ token: z.string().max(8192), tags: tagsRecordSchema })
const errorBody = z.object({ code: z.string().max(64), message: z.string().max(1024) })
const joinResponseSchema = z.union([
  z.object({ ok: z.literal(true), records: z.array(z.unknown()).max(100_000) }),
  z.object({ ok: z.literal(false), error: errorBody })
])
const syncResponseSchema = z.object({ records: z.array(z.unknown()).max(100_000) })

export interface MembershipComponents {
  peerId: string
  privateKey: PrivateKey
  registry: MemberRegistry
  /** Invite nonces this agent has redeemed (single use). */
  nonces: Sublevel<number>
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'hangUp' | 'getConnections' | 'addEventListener' | 'removeEventListener'>
  pubsub: GossipSub
  logger: Logger
}

export interface MembershipMetrics {
  gossipAccepted: number
  gossipRejected: number
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
  readonly metrics: MembershipMetrics = { gossipAccepted: 0, gossipRejected: 0, refusedStreams: 0, joinsAccepted: 0, joinsRefused: 0 }
  readonly #c: MembershipComponents
  readonly #topic: string
  readonly #redeeming = new Set<string>()
  readonly #timers = new Set<NodeJS.Timeout>()
  readonly #unsubscribe: Array<() => void> = []
  #started = false

  constructor (components: MembershipComponents) {
    this.#c = components
    this.#topic = membersTopic(components.registry.meshId)
  }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { libp2p, pubsub, registry } = this.#c
    await libp2p.handle(JOIN_PROTOCOL, (s, c) => this.#onJoin(s, c), { runOnLimitedConnection: true, maxInboundStreams: 8 })
    await libp2p.handle(SYNC_PROTOCOL, (s, c) => this.#onSync(s, c), { runOnLimitedConnection: true })
    pubsub.topicValidators.set(this.#topic, async (from, msg) => await this.#validate(from.toString(), msg))
    pubsub.subscribe(this.#topic)
    libp2p.addEventListener('connection:open', this.#onConnectionOpen)
    libp2p.addEventListener('peer:connect', this.#onPeerConnect)
    this.#unsubscribe.push(registry.on('member:revoked', ({ peerId }) => { void this.#disconnect(peerId) }))
    const antiEntropy = setInterval(() => { void this.#syncRandom() }, 5_000)
    antiEntropy.unref()
    this.#timers.add(antiEntropy)
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    const { libp2p, pubsub } = this.#c
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    for (const off of this.#unsubscribe.splice(0)) off()
    libp2p.removeEventListener('connection:open', this.#onConnectionOpen)
    libp2p.removeEventListener('peer:connect', this.#onPeerConnect)
    pubsub.unsubscribe(this.#topic)
    pubsub.topicValidators.delete(this.#topic)
    await libp2p.unhandle([JOIN_PROTOCOL, SYNC_PROTOCOL])
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

  /** Applies a record locally, then gossips it. */
  async publish (record: AnyRecord): Promise<void> {
    await this.#c.registry.apply(record)
    await this.#gossip(record)
  }

  async #gossip (record: AnyRecord): Promise<void> {
    try {
      await this.#c.pubsub.publish(this.#topic, new TextEncoder().encode(JSON.stringify(record)))
    } catch (err) {
      // no subscribed peer yet: the anti-entropy pull carries it later
      this.#c.logger.debug({ err }, 'membership gossip not sent')
    }
  }

  async #validate (from: string, msg: Message): Promise<TopicValidatorResult> {
    const { registry } = this.#c
    if (msg.type !== 'signed' || !registry.isMember(from) || !registry.isMember(msg.from.toString()) || msg.data.byteLength > MAX_RECORD_BYTES) {
      this.metrics.gossipRejected++
      return TopicValidatorResult.Reject
    }
    try {
      const result = await registry.apply(JSON.parse(new TextDecoder().decode(msg.data)))
      if (result === 'accepted') {
        this.metrics.gossipAccepted++
        return TopicValidatorResult.Accept
      }
      if (result === 'pending') void this.#pull(from)
      return TopicValidatorResult.Ignore
    } catch {
      this.metrics.gossipRejected++
      return TopicValidatorResult.Reject
    }
  }

  async #onJoin (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(PROTOCOL_TIMEOUT_MS)
    const io = jsonStream(stream, { maxBytes: MAX_RECORD_BYTES })
    const joiner = connection.remotePeer.toString()
    try {
      const request = await io.read(joinRequestSchema, { signal })
      const issued = await this.#redeem(request.token, request.tags, joiner)
      await io.write({ ok: true, records: this.#c.registry.records() }, { signal })
      await stream.close({ signal })
      this.metrics.joinsAccepted++
      this.#c.logger.info({ peer: joiner }, 'member joined by invite')
      for (const r of issued) await this.#gossip(r)
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

  async #redeem (text: string, selfTags: TagsRecord, joiner: string): Promise<AnyRecord[]> {
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
      await registry.apply(record)
      await registry.apply(selfTags)
      return [record, selfTags]
    } finally {
      this.#redeeming.delete(p.nonce)
    }
  }

  async #onSync (stream: Stream, _connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(PROTOCOL_TIMEOUT_MS)
    try {
      const io = jsonStream(stream, { maxBytes: MAX_SNAPSHOT_BYTES })
      await io.write({ records: this.#c.registry.records() }, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /** Pulls a member's whole record set and applies what is new. */
  async #pull (peer: string): Promise<void> {
    const signal = AbortSignal.timeout(PROTOCOL_TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      stream = await this.#c.libp2p.dialProtocol(peerIdFromString(peer), SYNC_PROTOCOL, { signal, runOnLimitedConnection: true })
      const io = jsonStream(stream, { maxBytes: MAX_SNAPSHOT_BYTES })
      const { records } = await io.read(syncResponseSchema, { signal })
      await stream.close({ signal })
      await this.#c.registry.applyMany(records)
    } catch (err) {
      stream?.abort(err as Error)
      this.#c.logger.debug({ peer, err }, 'membership sync failed')
    }
  }

  async #syncRandom (): Promise<void> {
    const { registry, libp2p } = this.#c
    const peers = [...new Set(libp2p.getConnections().map(c => c.remotePeer.toString()))].filter(p => registry.isMember(p))
    if (peers.length === 0) return
    await this.#pull(peers[Math.floor(Math.random() * peers.length)])
  }

  async #disconnect (peer: string): Promise<void> {
    try {
      await this.#c.libp2p.hangUp(peerIdFromString(peer))
      this.#c.logger.info({ peer }, 'revoked peer disconnected')
    } catch (err) {
      this.#c.logger.warn({ peer, err }, 'could not disconnect revoked peer')
    }
  }

  readonly #onPeerConnect = (evt: CustomEvent): void => {
    const peer = String(evt.detail)
    if (!this.#c.registry.isMember(peer)) return
    void this.#pull(peer)
    // a member that joined a moment ago may not be known to this peer yet: try once more
    const t = setTimeout(() => { this.#timers.delete(t); void this.#pull(peer) }, 1500)
    t.unref()
    this.#timers.add(t)
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

