/**
 * The overlay's firewall by tags, enforced where packets enter an agent from the overlay
 * (the receiver decides; it knows the sending member from the authenticated stream).
 *
 * Rules are state records `firewall/<name>` → `{ from, to, proto, ports?, action }`:
 * `from` and `to` are tag selectors (`dc=nbg1,role=db`; empty matches every agent) over the
 * sending agent's and the receiving agent's tags (a host behind an advertised subnet counts
 * as its agent), `proto` is tcp | udp | icmp | any, `ports` an inclusive destination-port
 * range for tcp/udp.
 *
 * Decision for a packet that is not a reply: among the rules that match it, the most specific
 * ones decide — a rule naming ports beats one naming only a protocol, which beats one with
 * `proto: any`; at equal specificity deny beats allow. No matching rule: allowed. So
 * `{ from: 'dc=a', to: 'dc=b', proto: 'any', action: 'deny' }` marks the pair of groups
 * default-deny, and `{ …, proto: 'tcp', ports: [22, 22], action: 'allow' }` opens one port.
 *
 * Connection tracking: flows this agent starts (packets it sends that are not replies) are
 * remembered; packets coming back on them pass without rules. Rule changes take effect on
 * the next packet (verdicts are cached per peer, protocol and port and the cache is cleared).
 */
import { z } from 'zod'
import { parseSelector } from '../jobs/index.js'
import { CONNTRACK_MAX, CONNTRACK_TTL_MS } from './constants.js'
import { protoName } from './packet.js'
import type { PacketInfo } from './packet.js'
import type { Selector } from '../jobs/index.js'

export const firewallRuleSchema = z.object({
  from: z.string().max(512).default(''),
  to: z.string().max(512).default(''),
  proto: z.enum(['tcp', 'udp', 'icmp', 'any']).default('any'),
  ports: z.tuple([z.number().int().min(0).max(65535), z.number().int().min(0).max(65535)]).refine(([a, b]) => a <= b, 'ports: [low, high]').optional(),
  action: z.enum(['allow', 'deny'])
}).strict()

export type FirewallRuleInput = z.input<typeof firewallRuleSchema>
export interface FirewallRule extends z.output<typeof firewallRuleSchema> { name: string }

interface Compiled { rule: FirewallRule, from: Selector, to: Selector, specificity: number }

/** Validates and compiles a rule; throws on a bad selector or shape. */
export function compileRule (name: string, value: unknown): Compiled {
  const rule = { ...firewallRuleSchema.parse(value), name }
  const specificity = rule.ports != null ? 2 : rule.proto !== 'any' ? 1 : 0
  return { rule, from: parseSelector(rule.from), to: parseSelector(rule.to), specificity }
}

function flowKey (i: PacketInfo): string { return `${i.proto}|${i.src}|${i.sport}|${i.dst}|${i.dport}` }
function replyKey (i: PacketInfo): string { return `${i.proto}|${i.dst}|${i.dport}|${i.src}|${i.sport}` }

export interface FirewallStats { allowed: number, denied: number, replies: number, flows: number }

export class Firewall {
  readonly stats: FirewallStats = { allowed: 0, denied: 0, replies: 0, flows: 0 }
  #rules: Compiled[] = []
  #verdicts = new Map<string, boolean>()
  /** Flows this agent started: key → last seen. */
  #outbound = new Map<string, number>()
  /** Flows the rules let in: key → last seen (so their replies do not count as new flows). */
  #inbound = new Map<string, number>()
  #errors: Array<{ name: string, error: string }> = []

  /** Replaces the rule set; invalid rules are skipped and listed in `errors()`. */
  setRules (records: Array<{ name: string, value: unknown }>): void {
    const compiled: Compiled[] = []
    const errors: Array<{ name: string, error: string }> = []
    for (const { name, value } of records) {
      try { compiled.push(compileRule(name, value)) } catch (err) { errors.push({ name, error: (err as Error).message }) }
    }
    this.#rules = compiled
    this.#errors = errors
    this.invalidate()
    // flows let in under the old rules are judged again
    this.#inbound.clear()
  }

  rules (): FirewallRule[] { return this.#rules.map(c => c.rule) }
  errors (): Array<{ name: string, error: string }> { return [...this.#errors] }

  /** Forget cached verdicts (rules, memberships or tags changed). */
  invalidate (): void { this.#verdicts.clear() }

  /** A packet this agent sends into the overlay: starts (or refreshes) a tracked flow. */
  egress (info: PacketInfo, now: number): void {
    const reverse = replyKey(info)
    if (this.#inbound.has(reverse)) { this.#inbound.set(reverse, now); return }
    const key = flowKey(info)
    if (!this.#outbound.has(key) && this.#outbound.size >= CONNTRACK_MAX) this.sweep(now, true)
    this.#outbound.set(key, now)
  }

  /** A packet from the overlay, sent by a member with tags `fromTags`, to this agent (`toTags`). */
  ingress (info: PacketInfo, peer: string, fromTags: Record<string, string>, toTags: Record<string, string>, now: number): boolean {
    const reverse = replyKey(info)
    const seen = this.#outbound.get(reverse)
    if (seen !== undefined && now - seen < CONNTRACK_TTL_MS) {
      this.#outbound.set(reverse, now)
      this.stats.replies++
      return true
    }
    const ok = this.decide(info, peer, fromTags, toTags)
    if (ok) {
      const key = flowKey(info)
      if (!this.#inbound.has(key) && this.#inbound.size >= CONNTRACK_MAX) this.sweep(now, true)
      this.#inbound.set(key, now)
      this.stats.allowed++
    } else {
      this.stats.denied++
    }
    return ok
  }

  /** The rules' verdict (no connection tracking). */
  decide (info: PacketInfo, peer: string, fromTags: Record<string, string>, toTags: Record<string, string>): boolean {
    if (this.#rules.length === 0) return true
    const name = protoName(info.proto)
    const port = name === 'tcp' || name === 'udp' ? info.dport : -1
    const cacheKey = `${peer}|${info.proto}|${port}`
    const cached = this.#verdicts.get(cacheKey)
    if (cached !== undefined) return cached
    let best = -1
    let verdict = true
    for (const c of this.#rules) {
      const r = c.rule
      if (r.proto !== 'any' && r.proto !== name) continue
      if (r.ports != null && (port < r.ports[0] || port > r.ports[1])) continue
      if (!c.from.matches(fromTags) || !c.to.matches(toTags)) continue
      if (c.specificity > best) { best = c.specificity; verdict = r.action === 'allow' } else if (c.specificity === best && r.action === 'deny') verdict = false
    }
    if (this.#verdicts.size > 10_000) this.#verdicts.clear()
    this.#verdicts.set(cacheKey, verdict)
    return verdict
  }

  /** Drops flows idle longer than the TTL (all of them when `full` and still over the cap). */
  sweep (now: number, full = false): void {
    for (const table of [this.#outbound, this.#inbound]) {
      for (const [k, t] of table) if (now - t >= CONNTRACK_TTL_MS) table.delete(k)
      if (full && table.size >= CONNTRACK_MAX) table.clear()
    }
    this.stats.flows = this.#outbound.size + this.#inbound.size
  }
}
