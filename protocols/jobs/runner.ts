/**
 * Jobs without a scheduler. A job is a state record; every agent whose tags match its
 * selector and that handles its kind ranks itself by a rendezvous hash of (job, attempt,
 * peer). The best-ranked agent claims at once, the others wait a delay that grows with their
 * rank and claim only if nobody has. A claim is a lease the claimant renews while it works;
 * when it dies the lease runs out and the next agent takes over.
 *
 * Claims are records of their own, `jobclaims/<id>/<attempt>/<peer>`, so that concurrent
 * claims never overwrite each other: of the claims on one attempt the best-ranked wins, which
 * every agent works out the same way whatever order the records arrived in. A claimant waits
 * a short settle time for competing claims, and stops if a better-ranked claim turns up later.
 *
 * Only the claimant writes a job after it is claimed. Cancellation (`jobcancel/<id>`) and the
 * reason a job waits (`jobreason/<id>`) are separate keys, so that no other writer can undo
 * a claimant's write.
 */
import { createHash, randomUUID } from 'node:crypto'
import { TopicValidatorResult } from '@libp2p/gossipsub'
import { Emitter } from '../events.js'
import { parseSelector } from './selector.js'
import { AGENTS_PREFIX, CANCEL_PREFIX, CLAIMS_PREFIX, JOBS_PREFIX, LOGS_PREFIX, REASON_PREFIX, TERMINAL, jobLogsTopic, kindSchema } from './types.js'
import type { AgentJobInfo, Job, LogLine } from './types.js'
import { askYield, handleYield, YIELD_PROTOCOL } from './yield.js'
import type { YieldLibp2p } from './yield.js'
import type { StateService } from '../state/index.js'
import type { GossipSub, Message } from '@libp2p/gossipsub'
import type { Logger } from 'pino'

export interface JobContext {
  job: Job
  spec: unknown
  signal: AbortSignal
  log: (line: string) => void
}
export type JobHandler = (ctx: JobContext) => Promise<unknown>

export interface JobRunnerTiming {
  leaseMs: number
  rankStepMs: number
  settleMs: number
  scanMs: number
  /** Claim records of a job are deleted this long after it finished (checked every half of it). */
  claimRetentionMs: number
}
export const DEFAULT_TIMING: JobRunnerTiming = { leaseMs: 6000, rankStepMs: 250, settleMs: 60, scanMs: 500, claimRetentionMs: 60_000 }

export interface JobRunnerComponents {
  self: string
  meshId: string
  state: StateService
  members: () => Array<{ peerId: string, tags: Record<string, string> }>
  pubsub: GossipSub
  logger: Logger
  timing?: Partial<JobRunnerTiming>
  /** For asking better-ranked candidates before a lower-ranked claim (see yield.ts); optional in unit tests. */
  libp2p?: YieldLibp2p
}

export interface JobEvents {
  'job:submitted': { id: string, kind: string }
  'job:claimed': { id: string, peer: string }
  'job:finished': { id: string, status: string }
  'job:log': LogLine
}

export interface JobMetrics { claimed: number, lostClaims: number, succeeded: number, failed: number, cancelled: number, takeovers: number, yielded: number, claimsHeldBack: number }

export class JobError extends Error {
  constructor (readonly code: string, message: string) { super(message); this.name = 'JobError' }
}

const MAX_LOG_LINES = 2000
const MAX_LOG_BYTES = 60 * 1024
/** Logs up to this size are kept in the finished job's record instead of `joblogs/<id>`. */
const INLINE_LOG_BYTES = 8 * 1024
const MAX_LINE = 2000

interface Running { controller: AbortController, lines: LogLine[], renew: NodeJS.Timeout, attempt: number, rank: number }

export class JobRunner extends Emitter<JobEvents> {
  readonly metrics: JobMetrics = { claimed: 0, lostClaims: 0, succeeded: 0, failed: 0, cancelled: 0, takeovers: 0, yielded: 0, claimsHeldBack: 0 }
  /** `<id>/<attempt>` this agent promised not to claim, until the time given. */
  readonly #yielded = new Map<string, number>()
  readonly #c: JobRunnerComponents
  readonly #t: JobRunnerTiming
  readonly #handlers = new Map<string, { handler: JobHandler, capacity: number }>()
  readonly #running = new Map<string, Running>()
  readonly #pendingClaims = new Map<string, NodeJS.Timeout>()
  readonly #offs: Array<() => void> = []
  #scan?: NodeJS.Timeout
  #sweep?: NodeJS.Timeout
  #started = false

  constructor (components: JobRunnerComponents) {
    super()
    this.#c = components
    this.#t = { ...DEFAULT_TIMING, ...components.timing }
  }

  register (kind: string, handler: JobHandler, { capacity = 4 }: { capacity?: number } = {}): void {
    kindSchema.parse(kind)
    this.#handlers.set(kind, { handler, capacity })
    if (this.#started) void this.#advertise()
  }

  async start (): Promise<void> {
    if (this.#started) return
    this.#started = true
    const store = this.#c.state.store
    await this.#advertise()
    this.#offs.push(store.watch(JOBS_PREFIX, r => { this.#onJob(r.value as Job | null, r.key) }))
    this.#offs.push(store.watch(CANCEL_PREFIX, r => { this.#onCancel(r.key.slice(CANCEL_PREFIX.length)) }))
    for (const { key, value } of store.list(CLAIMS_PREFIX)) this.#indexClaim(key, value)
    this.#offs.push(store.watch(CLAIMS_PREFIX, r => { this.#indexClaim(r.key, r.value); this.#observeDelay(r.author, r.value); this.#onClaim(r.key) }))
    if (this.#c.libp2p != null) await handleYield(this.#c.libp2p, (id, attempt) => this.#decideYield(id, attempt))
    this.#c.pubsub.topicValidators.set(jobLogsTopic(this.#c.meshId), (from, msg) => this.#validateLog(from.toString(), msg))
    this.#c.pubsub.subscribe(jobLogsTopic(this.#c.meshId))
    this.#scan = setInterval(() => { this.#scanAll() }, this.#t.scanMs)
    this.#scan.unref()
    this.#sweep = setInterval(() => { void this.collectClaims(this.#t.claimRetentionMs).catch(() => {}) }, Math.max(500, this.#t.claimRetentionMs / 2))
    this.#sweep.unref()
    this.#scanAll()
  }

  async stop (): Promise<void> {
    if (!this.#started) return
    this.#started = false
    clearInterval(this.#scan)
    clearInterval(this.#sweep)
    await this.#c.libp2p?.unhandle(YIELD_PROTOCOL).catch(() => {})
    for (const off of this.#offs.splice(0)) off()
    for (const t of this.#pendingClaims.values()) clearTimeout(t)
    this.#pendingClaims.clear()
    for (const r of this.#running.values()) {
      clearInterval(r.renew)
      r.controller.abort(new JobError('AGENT_STOPPING', 'the agent is stopping'))
    }
    this.#c.pubsub.unsubscribe(jobLogsTopic(this.#c.meshId))
    this.#c.pubsub.topicValidators.delete(jobLogsTopic(this.#c.meshId))
  }

  async #advertise (): Promise<void> {
    const info: AgentJobInfo = { kinds: [...this.#handlers.keys()].sort(), capacity: Object.fromEntries([...this.#handlers].map(([k, v]) => [k, v.capacity])) }
    const current = this.#c.state.store.get<AgentJobInfo>(`${AGENTS_PREFIX}${this.#c.self}`)
    if (JSON.stringify(current) !== JSON.stringify(info)) await this.#c.state.write(`${AGENTS_PREFIX}${this.#c.self}`, info)
  }

  // ---- the operator's side ----

  async submit (init: { kind: string, selector?: string, spec?: unknown, maxAttempts?: number }): Promise<Job> {
    const kind = kindSchema.parse(init.kind)
    const selector = parseSelector(init.selector ?? '').text
    const now = Date.now()
    const job: Job = {
      id: randomUUID(),
      kind,
      selector,
      spec: init.spec ?? null,
      status: 'queued',
      attempts: 0,
      maxAttempts: Math.max(1, Math.min(init.maxAttempts ?? 3, 20)),
      claim: null,
      result: null,
      error: null,
      submitter: this.#c.self,
      createdAt: now,
      updatedAt: now,
      notBefore: 0
    }
    await this.#c.state.write(`${JOBS_PREFIX}${job.id}`, job)
    this.emit('job:submitted', { id: job.id, kind })
    await this.#updateReason(job)
    return job
  }

  /**
   * A job as the operator sees it. Between a claim and the claimant's first write to the job
   * record (the settle time), the record still says `queued`: the view says `claimed`, from
   * the claim records.
   */
  get (id: string): (Job & { reason: string | null }) | undefined {
    const stored = this.#c.state.store.get<Job>(`${JOBS_PREFIX}${id}`)
    if (stored == null) return undefined
    const { logs: _logs, ...job } = stored
    if (job.status === 'queued') {
      const next = job.attempts + 1
      const winner = this.#winner(id, next)
      const at = this.#claims(id).find(c => c.attempt === next && c.peer === winner)?.at
      if (winner != null && at != null && Date.now() - at < this.#t.leaseMs) {
        return { ...job, status: 'claimed', claim: { peer: winner, until: at + this.#t.leaseMs, attempt: next }, reason: null }
      }
    }
    return { ...job, reason: TERMINAL.has(job.status) ? null : this.#c.state.store.get<string>(`${REASON_PREFIX}${id}`) ?? null }
  }

  list (): Array<Job & { reason: string | null }> {
    return this.#c.state.store.list<Job>(JOBS_PREFIX).map(({ value }) => this.get(value.id) as Job & { reason: string | null }).sort((a, b) => a.createdAt - b.createdAt)
  }

  async cancel (id: string): Promise<Job> {
    const job = this.get(id)
    if (job == null) throw new JobError('JOB_NOT_FOUND', `no job ${id}`)
    if (TERMINAL.has(job.status)) return job
    await this.#c.state.write(`${CANCEL_PREFIX}${id}`, { at: Date.now(), by: this.#c.self })
    // a queued job has no claimant to finish it: the agent asked to cancel does. Should a claim
    // race with this write, the claimant sees a terminal status and stops.
    if (job.status === 'queued') await this.#finish(job, 'cancelled', null, { code: 'CANCELLED', message: 'cancelled before it started' })
    return this.get(id) as Job
  }

  /** Log lines kept so far: the stored ones of a finished job, or those seen of a running one. */
  logs (id: string): LogLine[] {
    const inRecord = this.#c.state.store.get<Job>(`${JOBS_PREFIX}${id}`)?.logs
    if (inRecord != null) return inRecord.lines
    const stored = this.#c.state.store.get<{ lines: LogLine[] }>(`${LOGS_PREFIX}${id}`)
    if (stored != null) return stored.lines
    return this.#seen.get(id) ?? []
  }

  readonly #seen = new Map<string, LogLine[]>()

  #remember (line: LogLine): void {
    let lines = this.#seen.get(line.id)
    if (lines == null) {
      if (this.#seen.size > 200) this.#seen.delete(this.#seen.keys().next().value as string)
      lines = []
      this.#seen.set(line.id, lines)
    }
    if (lines.length < MAX_LOG_LINES) lines.push(line)
    this.emit('job:log', line)
  }

  async #updateReason (job: Job): Promise<void> {
    let reason: string | null = null
    if (!TERMINAL.has(job.status) && job.status === 'queued') {
      const sel = parseSelector(job.selector)
      const matching = this.#c.members().filter(m => sel.matches(m.tags))
      if (matching.length === 0) reason = `no agent matches selector "${job.selector}"`
      else if (!matching.some(m => this.#handles(m.peerId, job.kind))) reason = `no agent matching "${job.selector}" handles job kind "${job.kind}"`
    }
    const key = `${REASON_PREFIX}${job.id}`
    if ((this.#c.state.store.get<string>(key) ?? null) !== reason) await this.#c.state.write(key, reason)
  }

  #handles (peer: string, kind: string): boolean {
    return this.#c.state.store.get<AgentJobInfo>(`${AGENTS_PREFIX}${peer}`)?.kinds.includes(kind) === true
  }

  /**
   * Deletes this agent's claim records of jobs that finished more than `afterMs` ago (or are
   * gone): each agent deletes only its own, as only it may write them; the tombstones are
   * collected with all others. Returns how many.
   */
  async collectClaims (afterMs = this.#t.claimRetentionMs): Promise<number> {
    const store = this.#c.state.store
    let n = 0
    for (const { key } of store.list(CLAIMS_PREFIX)) {
      const [, id, , peer] = key.split('/')
      if (peer !== this.#c.self) continue
      const job = store.get<Job>(`${JOBS_PREFIX}${id}`)
      if (job != null && (!TERMINAL.has(job.status) || Date.now() - job.updatedAt < afterMs)) continue
      await this.#c.state.delete(key)
      n++
    }
    for (const id of [...this.#claimIndex.keys()]) if (!this.#claimIndex.get(id)?.some(c => store.get(`${CLAIMS_PREFIX}${id}/${c.attempt}/${c.peer}`) != null)) this.#claimIndex.delete(id)
    return n
  }

  // ---- the agents' side ----

  #scanAll (): void {
    for (const { value } of this.#c.state.store.list<Job>(JOBS_PREFIX)) {
      if (TERMINAL.has(value.status)) continue
      this.#consider(value)
      if (value.submitter === this.#c.self) void this.#updateReason(value).catch(() => {})
    }
  }

  #onJob (job: Job | null, key: string): void {
    const id = key.slice(JOBS_PREFIX.length)
    if (job == null || TERMINAL.has(job.status)) this.#claimIndex.delete(id)
    const running = this.#running.get(id)
    const finishedByMe = job != null && TERMINAL.has(job.status) && job.claim?.peer === this.#c.self && job.claim.attempt === running?.attempt
    if (running != null && !finishedByMe && (job == null || TERMINAL.has(job.status) || (job.claim != null && job.claim.attempt > running.attempt))) {
      this.metrics.lostClaims++
      running.controller.abort(new JobError('CLAIM_LOST', 'the job ended or another agent took it over'))
    }
    if (job != null && !TERMINAL.has(job.status)) this.#consider(job)
  }

  #onCancel (id: string): void {
    this.#running.get(id)?.controller.abort(new JobError('CANCELLED', 'cancelled by the operator'))
    const pending = this.#pendingClaims.get(id)
    if (pending != null) { clearTimeout(pending); this.#pendingClaims.delete(id) }
    const job = this.get(id)
    if (job != null && job.status === 'queued' && job.submitter === this.#c.self) void this.#finish(job, 'cancelled', null, { code: 'CANCELLED', message: 'cancelled before it started' })
  }

  /** Claim records of a job: `jobclaims/<id>/<attempt>/<peer>` → `{ peer, at }`. */
  #claims (id: string): Array<{ attempt: number, peer: string, at: number }> {
    return this.#claimIndex.get(id) ?? []
  }

  /** Claims by job, kept from the claim records as they arrive (a scan would cost O(records) per look). */
  readonly #claimIndex = new Map<string, Array<{ attempt: number, peer: string, at: number }>>()

  #indexClaim (key: string, value: unknown): void {
    const [, id, attempt, peer] = key.split('/')
    const v = value as { at?: unknown } | null
    if (id == null || peer == null || v == null || typeof v.at !== 'number') return
    const list = this.#claimIndex.get(id) ?? []
    if (!list.some(c => c.attempt === Number(attempt) && c.peer === peer)) list.push({ attempt: Number(attempt), peer, at: v.at })
    this.#claimIndex.set(id, list)
  }

  /**
   * The attempt an agent would claim now, or undefined when the job is not up for claiming:
   * finished, cancelled, waiting for its retry time, held under a live lease, or freshly
   * claimed by someone whose claim has not yet reached the job record.
   */
  #nextAttempt (job: Job, now = Date.now()): number | undefined {
    if (TERMINAL.has(job.status)) return undefined
    if (this.#c.state.store.get(`${CANCEL_PREFIX}${job.id}`) != null) return undefined
    if (job.status === 'queued' && job.notBefore > now) return undefined
    if (job.status !== 'queued' && (job.claim == null || job.claim.until >= now)) return undefined
    const claims = this.#claims(job.id)
    const latest = Math.max(job.attempts, ...claims.map(c => c.attempt))
    if (latest > job.attempts && claims.some(c => c.attempt === latest && now - c.at < this.#t.leaseMs)) return undefined
    return latest + 1
  }

  #free (kind: string): boolean {
    const h = this.#handlers.get(kind)
    if (h == null) return false
    let n = 0
    for (const id of this.#running.keys()) if (this.#c.state.store.get<Job>(`${JOBS_PREFIX}${id}`)?.kind === kind) n++
    return n < h.capacity
  }

  #consider (job: Job): void {
    if (this.#running.has(job.id) || this.#pendingClaims.has(job.id)) return
    const attempt = this.#nextAttempt(job)
    if (attempt == null || !this.#free(job.kind)) return
    const sel = parseSelector(job.selector)
    const members = this.#c.members()
    const me = members.find(m => m.peerId === this.#c.self)
    if (me == null || !sel.matches(me.tags)) return
    if (this.#isYielded(job.id, attempt)) return
    const candidates = this.#candidates(job, attempt)
    const rank = Math.max(0, candidates.findIndex(c => c.peer === this.#c.self))
    const delay = rank * this.rankStepMs
    const t = setTimeout(() => {
      // pending until the claim is decided: asking better-ranked agents takes a moment
      void this.#claim(job.id, rank)
        .catch(err => { this.#c.logger.warn({ job: job.id, err }, 'claim failed') })
        .finally(() => { if (this.#pendingClaims.get(job.id) === t) this.#pendingClaims.delete(job.id) })
    }, delay)
    t.unref()
    this.#pendingClaims.set(job.id, t)
  }

  /**
   * How late other agents' claims arrive here, as a decaying maximum. On a loaded mesh gossip
   * can take longer than the rank step; a lower-ranked agent then waits longer before it
   * claims and before it reports, so a better-ranked claim still reaches it in time.
   */
  #delayEstimate = 0
  #delayAt = 0

  #observeDelay (author: string, value: unknown): void {
    const at = (value as { at?: unknown } | null)?.at
    if (author === this.#c.self || typeof at !== 'number') return
    const now = Date.now()
    const sample = Math.min(10_000, Math.max(0, now - at))
    // halves every 10 s without a slower sample
    const decayed = this.#delayEstimate * 0.5 ** ((now - this.#delayAt) / 10_000)
    this.#delayAt = now
    this.#delayEstimate = Math.max(sample, decayed)
  }

  /** The rank step in use: the configured one, or twice the recent claim delay if that is longer. */
  get rankStepMs (): number {
    return Math.max(this.#t.rankStepMs, Math.round(2 * this.#delayEstimate))
  }

  /** The agents that may run an attempt, best-ranked first (a claimant whose lease ran out is left out). */
  #candidates (job: Job, attempt: number): Array<{ peer: string, score: string }> {
    const sel = parseSelector(job.selector)
    const expired = job.status !== 'queued' ? job.claim?.peer : undefined
    return this.#c.members()
      .filter(m => m.peerId !== expired && sel.matches(m.tags) && (m.peerId === this.#c.self || this.#handles(m.peerId, job.kind)))
      .map(m => ({ peer: m.peerId, score: rendezvous(job.id, attempt - 1, m.peerId) }))
      .sort((a, b) => a.score < b.score ? 1 : a.score > b.score ? -1 : 0)
  }

  #isYielded (id: string, attempt: number): boolean {
    const until = this.#yielded.get(`${id}/${attempt}`)
    if (until == null) return false
    if (until > Date.now()) return true
    this.#yielded.delete(`${id}/${attempt}`)
    return false
  }

  /** A lower-ranked agent asks: synchronous, so that no claim of ours can slip in between. */
  #decideYield (id: string, attempt: number): 'claimed' | 'yielded' {
    const running = this.#running.get(id)
    if ((running != null && running.attempt === attempt) || this.#claims(id).some(c => c.attempt === attempt && c.peer === this.#c.self)) return 'claimed'
    if (this.#yielded.size > 10_000) for (const [k, until] of this.#yielded) if (until < Date.now()) this.#yielded.delete(k)
    this.#yielded.set(`${id}/${attempt}`, Date.now() + this.#t.leaseMs)
    this.metrics.yielded++
    return 'yielded'
  }

  /**
   * Before a lower-ranked claim: every better-ranked candidate this agent is connected to must
   * have yielded. False when one has claimed (or did not answer in time: the scan tries again).
   */
  async #betterOnesYield (job: Job, attempt: number): Promise<boolean> {
    const libp2p = this.#c.libp2p
    if (libp2p == null) return true
    const candidates = this.#candidates(job, attempt)
    const mine = candidates.findIndex(c => c.peer === this.#c.self)
    const better = candidates.slice(0, Math.max(0, mine)).map(c => c.peer)
    const answers = await Promise.all(better.map(async p => await askYield(libp2p, p, job.id, attempt, 2000)))
    if (answers.includes('claimed') || answers.includes('timeout')) {
      this.metrics.claimsHeldBack++
      return false
    }
    return true
  }

  /** The best-ranked claimant of an attempt, from the claim records every agent holds. */
  #winner (id: string, attempt: number): string | undefined {
    let best: { peer: string, score: string } | undefined
    for (const c of this.#claims(id)) {
      if (c.attempt !== attempt) continue
      const score = rendezvous(id, attempt - 1, c.peer)
      if (best == null || score > best.score) best = { peer: c.peer, score }
    }
    return best?.peer
  }

  #onClaim (key: string): void {
    const [, id, attempt] = key.split('/')
    const running = this.#running.get(id)
    if (running == null || String(running.attempt) !== attempt) return
    const winner = this.#winner(id, running.attempt)
    if (winner != null && winner !== this.#c.self) {
      this.metrics.lostClaims++
      running.controller.abort(new JobError('CLAIM_LOST', `a better-ranked agent (${winner}) claimed it too`))
    }
  }

  async #claim (id: string, rank: number): Promise<void> {
    const store = this.#c.state.store
    if (rank > 0) {
      // records that reached this agent but wait in its apply queue may hold a better claim
      await store.settled()
      const before = store.get<Job>(`${JOBS_PREFIX}${id}`)
      const next = before == null ? undefined : this.#nextAttempt(before)
      if (before == null || next == null || !(await this.#betterOnesYield(before, next))) return
    }
    const job = store.get<Job>(`${JOBS_PREFIX}${id}`)
    const attempt = job == null ? undefined : this.#nextAttempt(job)
    if (job == null || attempt == null || this.#running.has(id) || !this.#free(job.kind) || this.#isYielded(id, attempt)) return
    const handler = this.#handlers.get(job.kind)
    if (handler == null) return
    if (job.status !== 'queued' || attempt > job.attempts + 1) this.metrics.takeovers++
    if (attempt > job.maxAttempts) {
      await this.#finish(job, 'failed', null, { code: 'ATTEMPTS_EXHAUSTED', message: `gave up after ${attempt - 1} attempts (the last claimant stopped renewing its lease)` })
      return
    }
    const controller = new AbortController()
    const running: Running = { controller, lines: [], attempt, rank, renew: setInterval(() => { void this.#renew(id, attempt) }, Math.floor(this.#t.leaseMs / 3)) }
    running.renew.unref()
    this.#running.set(id, running)
    try {
      await this.#c.state.write(`${CLAIMS_PREFIX}${id}/${attempt}/${this.#c.self}`, { peer: this.#c.self, at: Date.now() })
      this.emit('job:claimed', { id, peer: this.#c.self })
      await sleep(this.#t.settleMs)
      const now = store.get<Job>(`${JOBS_PREFIX}${id}`)
      if (this.#winner(id, attempt) !== this.#c.self || controller.signal.aborted || now == null || TERMINAL.has(now.status) || (now.claim != null && now.claim.attempt > attempt)) {
        this.metrics.lostClaims++
        return
      }
      this.metrics.claimed++
      // `claimed` is what the claim records say (see get); the job record goes straight to running
      const claim = { peer: this.#c.self, until: Date.now() + this.#t.leaseMs, attempt }
      const started: Job = { ...now, status: 'running', attempts: attempt, claim, updatedAt: Date.now() }
      await this.#c.state.write(`${JOBS_PREFIX}${id}`, started)
      await this.#run(started, handler.handler, running)
    } finally {
      clearInterval(running.renew)
      this.#running.delete(id)
      // a slot is free: look for the next job at once
      setImmediate(() => { if (this.#started) this.#scanAll() })
    }
  }

  async #run (job: Job, handler: JobHandler, running: Running): Promise<void> {
    let seq = 0
    const log = (line: string): void => {
      const l: LogLine = { id: job.id, seq: seq++, at: Date.now(), line: line.slice(0, MAX_LINE) }
      if (running.lines.length < MAX_LOG_LINES) running.lines.push(l)
      this.#remember(l)
      void this.#c.pubsub.publish(jobLogsTopic(this.#c.meshId), new TextEncoder().encode(JSON.stringify(l))).catch(() => {})
    }
    let result: unknown = null
    let error: { code: string, message: string } | null = null
    let retryable = true
    try {
      result = await handler({ job, spec: job.spec, signal: running.controller.signal, log }) ?? null
    } catch (err) {
      const e = err as { code?: string, message?: string, retryable?: boolean }
      error = { code: typeof e.code === 'string' ? e.code : 'JOB_FAILED', message: String(e.message ?? err).slice(0, 2000) }
      // a handler says when trying again cannot help (a bad spec, a deterministic failure)
      retryable = e.retryable !== false
    }
    // an agent that claimed only because better-ranked ones seemed silent gives their claims,
    // slow on a loaded network, one more moment to arrive before it reports the job done
    if (running.rank > 0 && this.#winner(job.id, running.attempt) === this.#c.self) {
      await sleep(this.rankStepMs)
      await this.#c.state.store.settled()
    }
    const current = this.#c.state.store.get<Job>(`${JOBS_PREFIX}${job.id}`)
    if (current == null || TERMINAL.has(current.status) || current.claim?.attempt !== running.attempt || current.claim.peer !== this.#c.self ||
      this.#winner(job.id, running.attempt) !== this.#c.self) return // lost the claim: the winner reports
    // a short log rides in the job record itself (one write less); a long one gets its own key
    const logs = await this.#storeLogs(job.id, running.lines)
    if (this.#c.state.store.get(`${CANCEL_PREFIX}${job.id}`) != null) {
      await this.#finish({ ...current, logs }, 'cancelled', null, { code: 'CANCELLED', message: 'cancelled by the operator' })
    } else if (error == null) {
      await this.#finish({ ...current, logs }, 'succeeded', result, null)
    } else if (retryable && current.attempts < current.maxAttempts) {
      const backoff = Math.min(30_000, 1000 * 2 ** (current.attempts - 1))
      await this.#c.state.write(`${JOBS_PREFIX}${job.id}`, { ...current, logs, status: 'queued', error, claim: null, notBefore: Date.now() + backoff, updatedAt: Date.now() })
    } else {
      await this.#finish({ ...current, logs }, 'failed', null, error)
    }
  }

  /** Returns the logs when they are small enough for the job record; writes `joblogs/<id>` otherwise. */
  async #storeLogs (id: string, lines: LogLine[]): Promise<Job['logs']> {
    const kept = [...lines]
    while (kept.length > 0 && JSON.stringify(kept).length > MAX_LOG_BYTES) kept.shift()
    const logs = { lines: kept, truncated: kept.length < lines.length }
    if (JSON.stringify(kept).length <= INLINE_LOG_BYTES) return logs
    await this.#c.state.write(`${LOGS_PREFIX}${id}`, logs)
    return undefined
  }

  async #finish (job: Job, status: 'succeeded' | 'failed' | 'cancelled', result: unknown, error: Job['error']): Promise<void> {
    await this.#c.state.write(`${JOBS_PREFIX}${job.id}`, { ...job, status, result, error, updatedAt: Date.now() })
    this.metrics[status]++
    this.emit('job:finished', { id: job.id, status })
  }

  async #renew (id: string, attempt: number): Promise<void> {
    const job = this.#c.state.store.get<Job>(`${JOBS_PREFIX}${id}`)
    if (job?.claim?.peer !== this.#c.self || job.claim.attempt !== attempt || TERMINAL.has(job.status)) return
    await this.#c.state.write(`${JOBS_PREFIX}${id}`, { ...job, claim: { ...job.claim, until: Date.now() + this.#t.leaseMs }, updatedAt: Date.now() }).catch(() => {})
  }

  #validateLog (from: string, msg: Message): TopicValidatorResult {
    const members = new Set(this.#c.members().map(m => m.peerId))
    if (msg.type !== 'signed' || !members.has(from) || !members.has(msg.from.toString()) || msg.data.byteLength > MAX_LINE * 2 + 512) return TopicValidatorResult.Reject
    try {
      const l = JSON.parse(new TextDecoder().decode(msg.data)) as LogLine
      if (typeof l.id !== 'string' || typeof l.seq !== 'number' || typeof l.line !== 'string' || typeof l.at !== 'number') return TopicValidatorResult.Reject
      this.#remember({ id: l.id.slice(0, 64), seq: l.seq, at: l.at, line: l.line.slice(0, MAX_LINE) })
      return TopicValidatorResult.Accept
    } catch {
      return TopicValidatorResult.Reject
    }
  }
}

/** Highest-random-weight score of a peer for one attempt of a job. */
export function rendezvous (jobId: string, attempt: number, peer: string): string {
  return createHash('sha256').update(`${jobId}\u0000${attempt}\u0000${peer}`).digest('hex')
}

async function sleep (ms: number): Promise<void> {
  await new Promise(resolve => setTimeout(resolve, ms))
}
