/**
 * Dashboard sessions: random ids held in memory, never the control token. A browser gets the
 * id in an HttpOnly cookie after it proved it knows the token; ids expire after `ttlMs`.
 * Only a hash of each id is kept, so a heap dump does not hand out live sessions.
 */
import { createHash, randomBytes } from 'node:crypto'

export interface SessionStoreInit {
  /** Lifetime of a session (default 12 h). */
  ttlMs?: number
  /** Most live sessions; the oldest is dropped beyond it (default 256). */
  max?: number
  now?: () => number
}

export const DEFAULT_SESSION_TTL_MS = 12 * 3600_000

const hash = (id: string): string => createHash('sha256').update(id).digest('base64url')

export class SessionStore {
  readonly ttlMs: number
  readonly #max: number
  readonly #now: () => number
  /** hash of id → expiry (ms since the epoch), in creation order */
  readonly #sessions = new Map<string, number>()

  constructor (init: SessionStoreInit = {}) {
    this.ttlMs = init.ttlMs ?? DEFAULT_SESSION_TTL_MS
    this.#max = init.max ?? 256
    this.#now = init.now ?? Date.now
  }

  /** A new session: its id (for the cookie) and when it expires. */
  create (): { id: string, expiresAt: number } {
    this.#sweep()
    while (this.#sessions.size >= this.#max) this.#sessions.delete(this.#sessions.keys().next().value as string)
    const id = randomBytes(32).toString('base64url')
    const expiresAt = this.#now() + this.ttlMs
    this.#sessions.set(hash(id), expiresAt)
    return { id, expiresAt }
  }

  /** When the session ends, or undefined when the id is unknown or expired. */
  check (id: string): number | undefined {
    const key = hash(id)
    const until = this.#sessions.get(key)
    if (until == null) return undefined
    if (until <= this.#now()) { this.#sessions.delete(key); return undefined }
    return until
  }

  delete (id: string): void { this.#sessions.delete(hash(id)) }

  get size (): number { this.#sweep(); return this.#sessions.size }

  #sweep (): void {
    const now = this.#now()
    for (const [k, until] of this.#sessions) if (until <= now) this.#sessions.delete(k)
  }
}
