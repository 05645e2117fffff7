/**
 * Turns one query (bytes) into one response (bytes), or nothing: decode with limits, answer
 * from the zone, forward the rest, count everything. Never throws.
 */
import dnsPacket from 'dns-packet'
import type { DecodedPacket, Question } from 'dns-packet'
import type { Logger } from 'pino'
import type { DnsConfig } from './config.js'
import type { Forwarder } from './forward.js'
import { LogLimiter } from './log-limiter.js'
import type { DnsMetrics } from './metrics.js'
import { isWireSafeName } from './names.js'
import { emptyReply, encodeResponse, headerOnlyResponse, OPCODE_QUERY, peekHeader, queryEdns, RCODE, type Reply } from './wire.js'
import type { Zone } from './zone.js'

export type Transport = 'udp' | 'tcp'
export type Respond = (response: Buffer) => void
/** Who asked (logged as `client`; `peer` is reserved for libp2p peer ids). */
export interface Client { address: string, port: number }
/** `sent`: respond() was already called; `pending`: it will be (forwarding); `dropped`: never. */
export type Outcome = 'sent' | 'pending' | 'dropped'

const NO_FORWARD_TYPES = new Set(['AXFR', 'IXFR'])
const UDP_PLAIN_LIMIT = 512
const TCP_LIMIT = 65535
/** Larger queries (padding, many EDNS options) are answered but not kept pre-encoded. */
const ANSWER_CACHE_MAX_QUERY = 300

export class QueryHandler {
  private readonly malformedLog: LogLimiter
  /** Pre-encoded zone answers keyed by the query bytes after the id. */
  private readonly answers = new Map<string, Buffer>()
  private answersVersion = -1

  constructor (
    private readonly cfg: DnsConfig,
    private readonly zone: Zone,
    private readonly forwarder: Forwarder,
    private readonly metrics: DnsMetrics,
    private readonly log: Logger
  ) {
    this.malformedLog = new LogLimiter(log, cfg.limits.malformedLogsPerMinute)
  }

  handle (msg: Buffer, transport: Transport, respond: Respond, client: Client): Outcome {
    try {
      return this.dispatch(msg, transport, respond, client)
    } catch (err) {
      this.metrics.internalErrors++
      this.log.error({ err, client }, 'query handler failed')
      const h = peekHeader(msg)
      if (h === undefined || h.qr) return 'dropped'
      this.send(headerOnlyResponse(h, RCODE.SERVFAIL), respond)
      return 'sent'
    }
  }

  private dispatch (msg: Buffer, transport: Transport, respond: Respond, client: Client): Outcome {
    const h = peekHeader(msg)
    // too short for a header, or a response: never answer (answering responses invites loops)
    if (h === undefined || h.qr || msg.length > this.cfg.limits.maxMessageBytes) {
      this.metrics.dropped++
      if (h === undefined) this.metrics.malformed++
      return 'dropped'
    }
    const cacheKey = this.cfg.limits.answerCacheEntries > 0 && msg.length <= ANSWER_CACHE_MAX_QUERY ? transport + msg.toString('latin1', 2) : undefined
    if (cacheKey !== undefined) {
      if (this.answersVersion !== this.zone.version) {
        this.answers.clear()
        this.answersVersion = this.zone.version
      }
      const hit = this.answers.get(cacheKey)
      if (hit !== undefined) {
        const out = Buffer.from(hit)
        out.writeUInt16BE(h.id, 0)
        this.metrics.authoritative++
        this.countRcode(out)
        respond(out)
        return 'sent'
      }
    }
    let query: DecodedPacket
    try {
      query = dnsPacket.decode(msg)
    } catch (err) {
      this.metrics.malformed++
      this.malformedLog.warn({ client, transport, bytes: msg.length, reason: (err as Error).message }, 'malformed query')
      this.send(headerOnlyResponse(h, RCODE.FORMERR), respond)
      return 'sent'
    }
    if (h.opcode !== OPCODE_QUERY) {
      this.send(headerOnlyResponse(h, RCODE.NOTIMP), respond)
      return 'sent'
    }
    const edns = queryEdns(query)
    const q = query.questions?.[0]
    if (edns === 'invalid' || query.questions?.length !== 1 || q === undefined || !isWireSafeName(q.name)) {
      this.metrics.malformed++
      this.malformedLog.warn({ client, transport, bytes: msg.length }, 'query without exactly one valid question or EDNS record')
      this.send(headerOnlyResponse(h, RCODE.FORMERR), respond)
      return 'sent'
    }
    const maxBytes = transport === 'tcp' ? TCP_LIMIT : edns === undefined ? UDP_PLAIN_LIMIT : Math.min(edns.payload, this.cfg.limits.udpPayloadBytes)
    const opts = { maxBytes, ednsPayload: edns === undefined ? undefined : this.cfg.limits.udpPayloadBytes, ra: this.forwarder.enabled }
    const finish = (reply: Reply): Buffer => this.send(encodeResponse(query, reply, opts), respond)
    if (edns !== undefined && edns.version > 0) {
      finish(emptyReply(RCODE.BADVERS))
      return 'sent'
    }
    const lower = q.name.toLowerCase()
    const authoritative = this.zone.contains(lower) ? this.zone.answer(q, lower) : this.zone.answerReverse(q, lower)
    if (authoritative !== undefined) {
      this.metrics.authoritative++
      const out = finish(authoritative)
      if (cacheKey !== undefined) this.remember(cacheKey, out)
      return 'sent'
    }
    if (!this.forwarder.enabled || NO_FORWARD_TYPES.has(q.type)) {
      finish(emptyReply(RCODE.REFUSED))
      return 'sent'
    }
    this.forward(query, { ...q, name: lower }, finish, client)
    return 'pending'
  }

  private forward (query: DecodedPacket, q: Question, finish: (reply: Reply) => Buffer, client: Client): void {
    this.forwarder.resolve(q).then(answer => {
      this.metrics.forwarded++
      finish({ ...answer, aa: false, answers: recase(answer.answers, q.name, query) })
    }, (err: unknown) => {
      if ((err as { code?: string }).code === 'ERR_DNS_FORWARD_ABORTED') return
      this.log.debug({ err, client, name: q.name }, 'forwarding failed')
      finish(emptyReply(RCODE.SERVFAIL))
    }).catch(err => {
      this.metrics.internalErrors++
      this.log.error({ err, client }, 'sending a forwarded answer failed')
    })
  }

  private remember (key: string, response: Buffer): void {
    if (this.answers.size >= this.cfg.limits.answerCacheEntries) this.answers.clear()
    this.answers.set(key, Buffer.from(response))
  }

  private send (response: Buffer, respond: Respond): Buffer {
    this.countRcode(response)
    respond(response)
    return response
  }

  private countRcode (response: Buffer): void {
    const flags = response.readUInt16BE(2)
    if ((flags & 0x0200) !== 0) this.metrics.truncated++
    switch (flags & 0xf) {
      case RCODE.NOERROR: this.metrics.noerror++; break
      case RCODE.FORMERR: this.metrics.formerr++; break
      case RCODE.SERVFAIL: this.metrics.servfail++; break
      case RCODE.NXDOMAIN: this.metrics.nxdomain++; break
      case RCODE.NOTIMP: this.metrics.notimp++; break
      case RCODE.REFUSED: this.metrics.refused++; break
    }
  }
}

/** Answers owned by the (lower-cased) question name go back with the client's spelling. */
function recase<T extends { name: string }> (records: T[], lowerName: string, query: DecodedPacket): T[] {
  const asked = query.questions?.[0]?.name
  if (asked === undefined || asked === lowerName) return records
  return records.map(rr => rr.name.toLowerCase() === lowerName ? { ...rr, name: asked } : rr)
}
