/**
 * Forwarding of names outside the zone: upstreams tried in order (UDP, TCP when truncated),
 * identical concurrent questions coalesced, answers cached by TTL. Throws when every upstream
 * failed; the server turns that into SERVFAIL.
 */
import { randomInt } from 'node:crypto'
import { setMaxListeners } from 'node:events'
import dnsPacket from 'dns-packet'
import type { Answer, DecodedPacket, Question } from 'dns-packet'
import type { Logger } from 'pino'
import { AnswerCache, type CachedAnswer } from './cache.js'
import type { DnsConfig } from './config.js'
import { ForwardAbortedError, ForwardOverloadError, UpstreamBadResponseError, UpstreamRcodeError } from './errors.js'
import type { DnsMetrics } from './metrics.js'
import { isWireSafeName } from './names.js'
import { exchangeTcp, exchangeUdp } from './upstream.js'

const RETRY_NEXT = new Set([1, 2, 4, 5]) // FORMERR, SERVFAIL, NOTIMP, REFUSED: ask the next upstream
const RCODE_NAMES = ['NOERROR', 'FORMERR', 'SERVFAIL', 'NXDOMAIN', 'NOTIMP', 'REFUSED']

export class Forwarder {
  private readonly cache: AnswerCache
  private readonly inflight = new Map<string, Promise<CachedAnswer>>()
  private controller = unlimitedController()

  constructor (private readonly cfg: DnsConfig, private readonly log: Logger, private readonly metrics: DnsMetrics) {
    this.cache = new AnswerCache({ entries: cfg.forward.cacheEntries, maxTtl: cfg.forward.maxTtl, maxNegativeTtl: cfg.forward.maxNegativeTtl })
  }

  get enabled (): boolean {
    return this.cfg.upstreams.length > 0
  }

  /** Answer for `q` (name already lower case) from cache or upstreams. */
  async resolve (q: Question): Promise<CachedAnswer> {
    const key = `${q.name}|${q.type}|${q.class ?? 'IN'}`
    const cached = this.cache.get(key)
    if (cached !== undefined) {
      this.metrics.cacheHits++
      return cached
    }
    const pending = this.inflight.get(key)
    if (pending !== undefined) return await pending
    if (this.inflight.size >= this.cfg.forward.maxInflight) throw new ForwardOverloadError(this.cfg.forward.maxInflight)
    const p = this.ask(q).then(answer => {
      this.cache.set(key, answer)
      return answer
    }).finally(() => { this.inflight.delete(key) })
    this.inflight.set(key, p)
    return await p
  }

  /** Aborts everything in flight; resolve() keeps working afterwards. */
  stop (): void {
    this.controller.abort()
    this.controller = unlimitedController()
    this.cache.clear()
  }

  private async ask (q: Question): Promise<CachedAnswer> {
    const signal = this.controller.signal
    const opts = { timeoutMs: this.cfg.forward.timeoutMs, signal }
    let lastError: Error = new ForwardAbortedError()
    for (const upstream of this.cfg.upstreams) {
      const id = randomInt(0x10000)
      const query = dnsPacket.encode({
        type: 'query',
        id,
        flags: dnsPacket.RECURSION_DESIRED,
        questions: [q],
        additionals: [{ type: 'OPT', name: '.', udpPayloadSize: this.cfg.limits.udpPayloadBytes, extendedRcode: 0, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
      })
      try {
        this.metrics.upstreamQueries++
        let res = await exchangeUdp(upstream, query, id, q, opts)
        if (res.flag_tc) {
          this.metrics.upstreamTcpRetries++
          res = await exchangeTcp(upstream, query, id, q, opts)
        }
        const rcode = (res.flags ?? 0) & 0xf
        if (RETRY_NEXT.has(rcode)) throw new UpstreamRcodeError(upstream.label, RCODE_NAMES[rcode] ?? String(rcode))
        if (!allNamesSafe(res)) throw new UpstreamBadResponseError(upstream.label, 'names that cannot be relayed')
        return {
          rcode,
          answers: res.answers ?? [],
          authorities: res.authorities ?? [],
          additionals: (res.additionals ?? []).filter(rr => rr.type !== 'OPT')
        }
      } catch (err) {
        if (signal.aborted) throw new ForwardAbortedError()
        this.metrics.upstreamFailures++
        lastError = err as Error
        this.log.debug({ err, upstream: upstream.label, name: q.name, type: q.type }, 'upstream failed')
      }
    }
    throw lastError
  }
}

/** One signal is shared by every exchange in flight (bounded by forward.maxInflight). */
function unlimitedController (): AbortController {
  const controller = new AbortController()
  setMaxListeners(0, controller.signal)
  return controller
}

function allNamesSafe (res: DecodedPacket): boolean {
  const lists: Answer[][] = [res.answers ?? [], res.authorities ?? [], res.additionals ?? []]
  for (const list of lists) {
    for (const rr of list) {
      if (!isWireSafeName(rr.name)) return false
      if (!dataNamesSafe(rr)) return false
    }
  }
  return true
}

function dataNamesSafe (rr: Answer): boolean {
  switch (rr.type) {
    case 'CNAME': case 'DNAME': case 'NS': case 'PTR': return isWireSafeName(rr.data)
    case 'MX': return isWireSafeName(rr.data.exchange)
    case 'SRV': return isWireSafeName(rr.data.target)
    case 'SOA': return isWireSafeName(rr.data.mname) && isWireSafeName(rr.data.rname)
    default: return true
  }
}
