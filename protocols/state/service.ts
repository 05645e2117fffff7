/**
 * Replication of the state store: each write is gossiped on `/ctpf/<mesh>/state/1`; an
 * anti-entropy protocol heals what gossip missed. The initiator sends the digests of its 256
 * key buckets; the responder answers which buckets differ and sends its records in them; the
 * initiator sends back its own records in those buckets. Late joiners and healed partitions
 * converge without replaying history.
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { z } from 'zod'
import { jsonStream } from '../codec.js'
import { StateRecordRefusedError } from './errors.js'
import { BUCKETS } from './store.js'
import type { StateStore } from './store.js'
import type { StateRecord } from './records.js'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Connection, Libp2p, Stream } from '@libp2p/interface'
import type { Logger } from 'pino'

export const STATE_SYNC_PROTOCOL = '/ctpf/state/1.0.0'
export const stateTopic = (meshId: string): string => `/ctpf/${meshId}/state/1`
const MAX_MESSAGE_BYTES = 8 * 1024 * 1024
const CHUNK = 500
const SYNC_TIMEOUT_MS = 15_000
const MAX_GOSSIP_BYTES = 80 * 1024
/** A round with one random member: cheap (256 short digests) and bounds how long gossip losses last. */
const ANTI_ENTROPY_MS = 2_000

const digestsMsg = z.object({ digests: z.array(z.string().max(32)).length(BUCKETS) })
const bucketsMsg = z.object({ buckets: z.array(z.number().int().min(0).max(BUCKETS - 1)).max(BUCKETS) })
const chunkMsg = z.union([z.object({ records: z.array(z.unknown()).max(CHUNK) }), z.object({ end: z.literal(true) })])

export interface StateServiceComponents {
  store: StateStore
  meshId: string
  isMember: (peerId: string) => boolean
  libp2p: Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections' | 'addEventListener' | 'removeEventListener'>
  pubsub: GossipSub
  logger: Logger
}

export interface StateMetrics { gossipAccepted: number, gossipRejected: number, syncs: number, syncedRecords: number }

export class StateService {
  readonly metrics: StateMetrics = { gossipAccepted: 0, gossipRejected: 0, syncs: 0, syncedRecords: 0 }
  readonly #c: StateServiceComponents
  readonly #topic: string
  readonly #timers = new Set<NodeJS.Timeout>()
  #started = false

  constructor (components: StateServiceComponents) {
    this.#c = components
    this.#topic = stateTopic(components.meshId)
  }

  get store (): StateStore { return this.#c.store }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    const { libp2p, pubsub } = this.#c
    await libp2p.handle(STATE_SYNC_PROTOCOL, (s, c) => this.#onSync(s, c), { runOnLimitedConnection: true, maxInboundStreams: 4 })
    pubsub.topicValidators.set(this.#topic, async (from, msg) => await this.#validate(from.toString(), msg))
    pubsub.subscribe(this.#topic)
    libp2p.addEventListener('peer:connect', this.#onPeerConnect)
    const t = setInterval(() => { void this.syncWithRandomPeer() }, ANTI_ENTROPY_MS)
    t.unref()
    this.#timers.add(t)
    const gc = setInterval(() => { void this.#c.store.collectTombstones().catch(() => {}) }, 3600_000)
    gc.unref()
    this.#timers.add(gc)
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    for (const t of this.#timers) clearTimeout(t)
    this.#timers.clear()
    this.#c.libp2p.removeEventListener('peer:connect', this.#onPeerConnect)
    this.#c.pubsub.unsubscribe(this.#topic)
    this.#c.pubsub.topicValidators.delete(this.#topic)
    await this.#c.libp2p.unhandle(STATE_SYNC_PROTOCOL)
  }

  /** Writes a key as this agent and gossips it. Resolves once it is persisted locally. */
  async write (key: string, value: unknown): Promise<StateRecord> {
    const record = await this.#c.store.write(key, value)
    void this.#gossip(record)
    return record
  }

  async delete (key: string): Promise<StateRecord> {
    return await this.write(key, null)
  }

  async #gossip (record: StateRecord): Promise<void> {
    try {
      await this.#c.pubsub.publish(this.#topic, new TextEncoder().encode(JSON.stringify(record)))
    } catch (err) {
      this.#c.logger.debug({ err, key: record.key }, 'state gossip not sent; anti-entropy will carry it')
    }
  }

  async #validate (from: string, msg: Message): Promise<TopicValidatorResult> {
    if (msg.type !== 'signed' || !this.#c.isMember(from) || !this.#c.isMember(msg.from.toString()) || msg.data.byteLength > MAX_GOSSIP_BYTES) {
      this.metrics.gossipRejected++
      return TopicValidatorResult.Reject
    }
    try {
      const record: unknown = JSON.parse(new TextDecoder().decode(msg.data))
      if (this.#c.store.holdsOrSupersedes(record)) return TopicValidatorResult.Ignore
      const outcome = await this.#c.store.apply(record)
      if (outcome === 'accepted') {
        this.metrics.gossipAccepted++
        return TopicValidatorResult.Accept
      }
      return TopicValidatorResult.Ignore
    } catch (err) {
      this.metrics.gossipRejected++
      if (!(err instanceof StateRecordRefusedError)) this.#c.store.refused.malformed = (this.#c.store.refused.malformed ?? 0) + 1
      return TopicValidatorResult.Reject
    }
  }

  /** Verifies records from a peer (bad ones are counted and dropped), applies the rest at once. */
  async #applyFromPeer (records: unknown[]): Promise<number> {
    const good = await this.#c.store.verifyMany(records)
    const outcomes = await this.#c.store.applyMany(good)
    const n = outcomes.filter(o => o === 'accepted').length
    this.metrics.syncedRecords += n
    return n
  }

  async #sendRecords (io: ReturnType<typeof jsonStream>, records: StateRecord[], signal: AbortSignal): Promise<void> {
    for (let i = 0; i < records.length; i += CHUNK) await io.write({ records: records.slice(i, i + CHUNK) }, { signal })
    await io.write({ end: true }, { signal })
  }

  async #readRecords (io: ReturnType<typeof jsonStream>, signal: AbortSignal): Promise<number> {
    let n = 0
    for (;;) {
      const m = await io.read(chunkMsg, { signal })
      if ('end' in m) return n
      n += await this.#applyFromPeer(m.records)
    }
  }

  async #onSync (stream: Stream, connection: Connection): Promise<void> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    const io = jsonStream(stream, { maxBytes: MAX_MESSAGE_BYTES })
    try {
      const { digests } = await io.read(digestsMsg, { signal })
      const mine = this.#c.store.digests()
      const differ = mine.map((d, i) => d === digests[i] ? -1 : i).filter(i => i >= 0)
      await io.write({ buckets: differ }, { signal })
      await this.#sendRecords(io, this.#c.store.recordsIn(differ), signal)
      const received = await this.#readRecords(io, signal)
      await stream.close({ signal })
      if (received > 0) this.#spread(connection.remotePeer.toString())
    } catch (err) {
      stream.abort(err as Error)
    }
  }

  /**
   * After a round that changed something, another round with a different member at once:
   * news spreads epidemically in a few hops instead of one hop per anti-entropy period.
   */
  #spread (except: string): void {
    if (!this.#started) return
    const t = setTimeout(() => {
      this.#timers.delete(t)
      void this.#spreadRound(except)
    }, 20)
    t.unref()
    this.#timers.add(t)
  }

  /** One anti-entropy round with a peer; returns how many records were new here. */
  async syncWith (peer: string): Promise<number> {
    const signal = AbortSignal.timeout(SYNC_TIMEOUT_MS)
    let stream: Stream | undefined
    try {
      stream = await this.#c.libp2p.dialProtocol(peerIdFromString(peer), STATE_SYNC_PROTOCOL, { signal, runOnLimitedConnection: true })
      const io = jsonStream(stream, { maxBytes: MAX_MESSAGE_BYTES })
      await io.write({ digests: this.#c.store.digests() }, { signal })
      const { buckets } = await io.read(bucketsMsg, { signal })
      const received = await this.#readRecords(io, signal)
      await this.#sendRecords(io, this.#c.store.recordsIn(buckets), signal)
      await stream.close({ signal })
      this.metrics.syncs++
      if (received > 0) this.#spread(peer)
      return received
    } catch (err) {
      stream?.abort(err as Error)
      this.#c.logger.debug({ peer, err }, 'state sync failed')
      return 0
    }
  }

  #spreading = false

  /**
   * The epidemic follow-up round: one chain at a time, since overlapping chains only re-send
   * the same records. The periodic round and the round on connect are never held back by it.
   */
  async #spreadRound (except: string): Promise<void> {
    if (this.#spreading) return
    this.#spreading = true
    try {
      await this.syncWithRandomPeer(except)
    } finally {
      this.#spreading = false
    }
  }

  async syncWithRandomPeer (except?: string): Promise<void> {
    const peers = [...new Set(this.#c.libp2p.getConnections().map(c => c.remotePeer.toString()))].filter(p => p !== except && this.#c.isMember(p))
    if (peers.length === 0) return
    await this.syncWith(peers[Math.floor(Math.random() * peers.length)])
  }

  readonly #onPeerConnect = (evt: CustomEvent): void => {
    const peer = String(evt.detail)
    // membership of a fresh joiner may arrive a moment after its connection
    const t = setTimeout(() => {
      this.#timers.delete(t)
      if (this.#c.isMember(peer)) void this.syncWith(peer)
    }, 300)
    t.unref()
    this.#timers.add(t)
  }
}
