/**
 * Authoritative answers for the mesh zone (`<name>.<dc>.<domain>`, `<name>.<domain>`) and for
 * the PTR names of the zone's addresses. Pure: question in, {@link Reply} out.
 */
import type { Answer, Question, StringAnswer } from 'dns-packet'
import type { DnsConfig } from './config.js'
import { isInDomain, reverseNameIPv4, reverseNameIPv6 } from './names.js'
import { emptyReply, RCODE, type Reply } from './wire.js'
import type { ZoneSource } from './zone-source.js'

export class Zone {
  readonly domain: string
  private readonly nsNames: string[]
  private serialValue: number
  private versionValue = 0
  private indexedVersion = -1
  private readonly reverse = new Map<string, string[]>()
  private readonly nonTerminals = new Set<string>()
  private readonly unsubscribe: () => void

  constructor (private readonly cfg: DnsConfig, private readonly source: ZoneSource) {
    this.domain = cfg.domain
    this.nsNames = cfg.nameservers.map(n => `${n}.${cfg.domain}`)
    this.serialValue = nowSeconds()
    this.unsubscribe = source.onChange(() => {
      this.versionValue++
      this.serialValue = Math.max((this.serialValue + 1) >>> 0, nowSeconds())
    })
  }

  /** Bumped on every change of the source. */
  get version (): number {
    return this.versionValue
  }

  get serial (): number {
    return this.serialValue
  }

  close (): void {
    this.unsubscribe()
  }

  /** `lowerName` is the question name in lower case, without a trailing dot. */
  contains (lowerName: string): boolean {
    return isInDomain(lowerName, this.domain)
  }

  /** Answer for a name inside the zone (always authoritative). */
  answer (q: Question, lowerName: string): Reply {
    if (q.class !== undefined && q.class !== 'IN' && q.class !== 'ANY') return emptyReply(RCODE.REFUSED)
    if (lowerName === this.domain) return this.apex(q)
    const relative = lowerName.slice(0, lowerName.length - this.domain.length - 1)
    const found = this.source.lookup(relative)
    if (found === undefined) {
      this.refreshIndex()
      return this.negative(this.nonTerminals.has(relative) ? RCODE.NOERROR : RCODE.NXDOMAIN)
    }
    const ttl = this.cfg.ttl.records
    const reply = emptyReply(RCODE.NOERROR, true)
    if (q.type === 'A' || isAny(q)) for (const a of found.a) reply.answers.push({ type: 'A', name: q.name, ttl, data: a })
    if (q.type === 'AAAA' || isAny(q)) for (const a of found.aaaa) reply.answers.push({ type: 'AAAA', name: q.name, ttl, data: a })
    return reply.answers.length > 0 ? reply : this.negative(RCODE.NOERROR)
  }

  /** PTR answer for one of the zone's addresses, or undefined when the address is not ours. */
  answerReverse (q: Question, lowerName: string): Reply | undefined {
    if (q.type !== 'PTR' && !isAny(q)) return undefined
    if (!lowerName.endsWith('.in-addr.arpa') && !lowerName.endsWith('.ip6.arpa')) return undefined
    this.refreshIndex()
    const targets = this.reverse.get(lowerName)
    if (targets === undefined) return undefined
    const reply = emptyReply(RCODE.NOERROR, true)
    for (const target of targets) reply.answers.push({ type: 'PTR', name: q.name, ttl: this.cfg.ttl.records, data: target })
    return reply
  }

  private apex (q: Question): Reply {
    const reply = emptyReply(RCODE.NOERROR, true)
    if (q.type === 'SOA' || isAny(q)) reply.answers.push(this.soa(q.name))
    if (q.type === 'NS' || isAny(q)) {
      for (const ns of this.nsNames) reply.answers.push({ type: 'NS', name: q.name, ttl: this.cfg.ttl.apex, data: ns })
      reply.additionals.push(...this.glue())
    }
    return reply.answers.length > 0 ? reply : this.negative(RCODE.NOERROR)
  }

  /** NXDOMAIN, or NODATA (NOERROR, no answers), with the SOA in authority (RFC 2308). */
  private negative (rcode: number): Reply {
    const reply = emptyReply(rcode, true)
    const soa = this.soa(this.domain)
    soa.ttl = Math.min(this.cfg.ttl.apex, this.cfg.ttl.negative)
    reply.authorities.push(soa)
    return reply
  }

  private soa (owner: string): Answer & { ttl: number } {
    const t = this.cfg.ttl
    return {
      type: 'SOA',
      name: owner,
      ttl: t.apex,
      data: {
        mname: this.nsNames[0] as string,
        rname: `${this.cfg.hostmaster}.${this.domain}`,
        serial: this.serialValue,
        refresh: t.refresh,
        retry: t.retry,
        expire: t.expire,
        minimum: t.negative
      }
    }
  }

  private glue (): StringAnswer[] {
    const out: StringAnswer[] = []
    for (const ns of this.nsNames) {
      const found = this.source.lookup(ns.slice(0, ns.length - this.domain.length - 1))
      if (found === undefined) continue
      for (const a of found.a) out.push({ type: 'A', name: ns, ttl: this.cfg.ttl.records, data: a })
      for (const a of found.aaaa) out.push({ type: 'AAAA', name: ns, ttl: this.cfg.ttl.records, data: a })
    }
    return out
  }

  /** Rebuilds the PTR index and the set of empty non-terminals after a change. */
  private refreshIndex (): void {
    if (this.indexedVersion === this.versionValue) return
    this.indexedVersion = this.versionValue
    this.reverse.clear()
    this.nonTerminals.clear()
    for (const [name, addresses] of this.source.entries()) {
      const fqdn = `${name}.${this.domain}`
      for (const a of addresses.a) push(this.reverse, reverseNameIPv4(a), fqdn)
      for (const a of addresses.aaaa) push(this.reverse, reverseNameIPv6(a), fqdn)
      let dot = name.indexOf('.')
      while (dot !== -1) {
        this.nonTerminals.add(name.slice(dot + 1))
        dot = name.indexOf('.', dot + 1)
      }
    }
  }
}

function isAny (q: Question): boolean {
  return (q.type as string) === 'ANY'
}

function push (map: Map<string, string[]>, key: string, value: string): void {
  const list = map.get(key)
  if (list === undefined) map.set(key, [value])
  else if (!list.includes(value)) list.push(value)
}

function nowSeconds (): number {
  return Math.floor(Date.now() / 1000) >>> 0
}
