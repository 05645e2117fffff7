/**
 * A small Hetzner Cloud API client over the global fetch: bearer token (held privately, never
 * logged, never in a URL), a timeout per attempt combined with the caller's AbortSignal,
 * retries with backoff on 429 (always: the request was not processed) and on 5xx/network
 * errors (GET and DELETE only: a POST might have taken effect), rate-limit headers honoured,
 * capped response bodies, and page-by-page listing.
 */
import type { Logger } from 'pino'
import { z } from 'zod'
import {
  HetznerAbortedError, HetznerApiError, HetznerBadResponseError, HetznerConfigError, HetznerNetworkError, HetznerNotFoundError,
  HetznerRateLimitedError, HetznerTimeoutError, HetznerUnauthorizedError
} from './errors.js'
import { apiErrorBodySchema, metaSchema } from './schemas.js'

export const DEFAULT_ENDPOINT = 'https://api.hetzner.cloud/v1'
/** The API's largest page. */
export const MAX_PER_PAGE = 50
const MAX_PAGES = 1000

export interface HetznerClientInit {
  /** Project API token. Kept in a private field; never logged, never put in a URL. */
  token: string
  /** Default https://api.hetzner.cloud/v1. Plain http only for loopback (tests). */
  endpoint?: string
  /** Per attempt; default 30 s. */
  timeoutMs?: number
  /** Retries after the first attempt; default 4. */
  maxRetries?: number
  /** First backoff delay, doubled per retry; default 500 ms. */
  retryBaseMs?: number
  /** No single wait is longer; default 60 s. */
  maxRetryDelayMs?: number
  /** Largest response body accepted; default 4 MiB. */
  maxResponseBytes?: number
}

export interface HetznerClientComponents {
  logger?: Logger
  fetch?: typeof globalThis.fetch
}

export interface RequestOptions<T> {
  schema: z.ZodType<T>
  query?: Record<string, string | number | undefined>
  body?: unknown
  signal?: AbortSignal
  /** Strings scrubbed from any error text, besides the API token (e.g. an invite token in the body). */
  secrets?: readonly string[]
}

export interface RateLimitState {
  limit?: number
  remaining?: number
  /** ms since epoch when the quota is full again */
  resetAt?: number
}

export class HetznerClient {
  readonly #token: string
  readonly #endpoint: URL
  readonly #fetch: typeof globalThis.fetch
  readonly #log: Logger | undefined
  readonly #timeoutMs: number
  readonly #maxRetries: number
  readonly #retryBaseMs: number
  readonly #maxRetryDelayMs: number
  readonly #maxResponseBytes: number
  #nextAllowedAt = 0
  readonly rateLimit: RateLimitState = {}

  constructor (init: HetznerClientInit, components: HetznerClientComponents = {}) {
    if (typeof init.token !== 'string' || !/^[\x21-\x7e]{1,512}$/.test(init.token)) {
      throw new HetznerConfigError('the API token must be 1-512 printable characters without spaces')
    }
    this.#token = init.token
    let url: URL
    try {
      url = new URL(init.endpoint ?? DEFAULT_ENDPOINT)
    } catch {
      throw new HetznerConfigError('endpoint is not a URL')
    }
    const loopback = ['127.0.0.1', 'localhost', '[::1]'].includes(url.hostname)
    if (url.protocol !== 'https:' && !(url.protocol === 'http:' && loopback)) throw new HetznerConfigError('endpoint must be https (plain http only on loopback)')
    if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') throw new HetznerConfigError('endpoint must not carry credentials, a query or a fragment')
    if (!url.pathname.endsWith('/')) url.pathname += '/'
    this.#endpoint = url
    this.#fetch = components.fetch ?? globalThis.fetch
    this.#log = components.logger?.child({ component: 'registry:hetzner' })
    this.#timeoutMs = init.timeoutMs ?? 30_000
    this.#maxRetries = init.maxRetries ?? 4
    this.#retryBaseMs = init.retryBaseMs ?? 500
    this.#maxRetryDelayMs = init.maxRetryDelayMs ?? 60_000
    this.#maxResponseBytes = init.maxResponseBytes ?? 4 * 1024 * 1024
  }

  /** Never reveal the token through inspection or serialisation. */
  toJSON (): unknown { return { endpoint: this.#endpoint.href } }
  [Symbol.for('nodejs.util.inspect.custom')] (): string { return `HetznerClient(${this.#endpoint.href})` }

  async request<T>(method: 'GET' | 'POST' | 'DELETE', path: string, options: RequestOptions<T>): Promise<T> {
    const url = new URL(path.replace(/^\//, ''), this.#endpoint)
    for (const [k, v] of Object.entries(options.query ?? {})) if (v !== undefined) url.searchParams.set(k, String(v))
    const what = `${method} ${url.pathname}`
    const idempotent = method !== 'POST'
    const secrets = [this.#token, ...(options.secrets ?? [])].filter(s => s.length > 0)
    const body = options.body === undefined ? undefined : JSON.stringify(options.body)

    for (let attempt = 0; ; attempt++) {
      await this.#throttle(options.signal, what)
      const started = Date.now()
      const timeout = AbortSignal.timeout(this.#timeoutMs)
      const signal = options.signal != null ? AbortSignal.any([options.signal, timeout]) : timeout
      let res: Response
      try {
        res = await this.#fetch(url, {
          method,
          headers: {
            authorization: `Bearer ${this.#token}`,
            accept: 'application/json',
            ...(body !== undefined ? { 'content-type': 'application/json' } : {})
          },
          body,
          signal,
          redirect: 'error'
        })
      } catch (err) {
        if (options.signal?.aborted === true) throw new HetznerAbortedError(what)
        const timedOut = timeout.aborted
        this.#log?.warn({ method, path: url.pathname, attempt, timedOut, err: timedOut ? undefined : scrub(errorText(err), secrets) }, 'hetzner request failed')
        if (idempotent && attempt < this.#maxRetries) {
          await this.#sleep(this.#backoff(attempt), options.signal, what)
          continue
        }
        if (timedOut) throw new HetznerTimeoutError(what, this.#timeoutMs)
        throw new HetznerNetworkError(what, scrub(errorText(err), secrets))
      }
      this.#noteRateLimit(res.headers)
      let text: string
      try {
        text = await readCapped(res, this.#maxResponseBytes)
      } catch (err) {
        if (options.signal?.aborted === true) throw new HetznerAbortedError(what)
        if (err instanceof HetznerBadResponseError) throw err
        if (timeout.aborted) throw new HetznerTimeoutError(what, this.#timeoutMs)
        throw new HetznerNetworkError(what, scrub(errorText(err), secrets))
      }
      this.#log?.debug({ method, path: url.pathname, status: res.status, attempt, ms: Date.now() - started, rateRemaining: this.rateLimit.remaining }, 'hetzner request')

      if (res.ok) {
        let json: unknown
        try {
          json = text === '' ? {} : JSON.parse(text)
        } catch {
          throw new HetznerBadResponseError(what, 'body is not JSON')
        }
        const parsed = options.schema.safeParse(json)
        if (!parsed.success) throw new HetznerBadResponseError(what, parsed.error.issues.slice(0, 3).map(i => `${i.path.join('.')}: ${i.message}`).join('; '))
        return parsed.data
      }

      const apiError = parseApiError(text, secrets)
      const retryable = res.status === 429 || (idempotent && res.status >= 500 && res.status <= 599)
      if (retryable && attempt < this.#maxRetries) {
        const delay = res.status === 429 ? this.#rateLimitDelay(res.headers, attempt) : this.#backoff(attempt)
        // the server's own answer (Retry-After) replaces the refill estimate taken from the headers
        if (res.status === 429) this.#nextAllowedAt = Date.now() + delay
        this.#log?.warn({ method, path: url.pathname, status: res.status, apiCode: apiError.code, attempt, delayMs: delay }, 'hetzner request will be retried')
        await this.#sleep(delay, options.signal, what)
        continue
      }
      if (res.status === 401) throw new HetznerUnauthorizedError(apiError.code)
      if (res.status === 404) throw new HetznerNotFoundError(url.pathname)
      if (res.status === 429) throw new HetznerRateLimitedError(attempt + 1, this.rateLimit.resetAt)
      throw new HetznerApiError(res.status, apiError.code, apiError.message)
    }
  }

  /** Every item of a paginated collection (`key` is the root key, e.g. `servers`), 50 per page. */
  async list<T>(path: string, key: string, itemSchema: z.ZodType<T>, options: { query?: Record<string, string | number | undefined>, signal?: AbortSignal } = {}): Promise<T[]> {
    const pageSchema = z.object({ [key]: z.array(itemSchema), meta: metaSchema })
    const items: T[] = []
    let page: number | null = 1
    for (let n = 0; page != null; n++) {
      if (n >= MAX_PAGES) throw new HetznerBadResponseError(`GET ${path}`, `more than ${MAX_PAGES} pages`)
      const answer = await this.request('GET', path, { schema: pageSchema, query: { ...options.query, page, per_page: MAX_PER_PAGE }, signal: options.signal }) as Record<string, unknown> & { meta: z.infer<typeof metaSchema> }
      items.push(...(answer[key] as T[]))
      const next: number | null = answer.meta.pagination.next_page
      if (next != null && next <= page) throw new HetznerBadResponseError(`GET ${path}`, `next_page ${next} does not advance from page ${page}`)
      page = next
    }
    return items
  }

  #noteRateLimit (headers: Headers): void {
    const num = (name: string): number | undefined => {
      const v = headers.get(name)
      if (v == null || !/^\d{1,15}$/.test(v.trim())) return undefined
      return Number(v)
    }
    const limit = num('ratelimit-limit')
    const remaining = num('ratelimit-remaining')
    const reset = num('ratelimit-reset')
    if (limit != null) this.rateLimit.limit = limit
    if (remaining != null) this.rateLimit.remaining = remaining
    if (reset != null) this.rateLimit.resetAt = reset * 1000
    // out of quota: the next request waits for one request's worth of refill
    if (remaining === 0) this.#nextAllowedAt = Date.now() + this.#refillMs()
  }

  /** The quota refills evenly over an hour: one request per 3600/limit seconds. */
  #refillMs (): number {
    const limit = this.rateLimit.limit
    let ms = limit != null && limit > 0 ? Math.ceil(3_600_000 / limit) : 1000
    // never wait past the moment the API says the whole quota is back
    if (this.rateLimit.resetAt != null) ms = Math.min(ms, Math.max(0, this.rateLimit.resetAt - Date.now()))
    return Math.min(ms, this.#maxRetryDelayMs)
  }

  #rateLimitDelay (headers: Headers, attempt: number): number {
    const retryAfter = headers.get('retry-after')
    if (retryAfter != null && /^\d{1,6}$/.test(retryAfter.trim())) return Math.min(Number(retryAfter) * 1000, this.#maxRetryDelayMs)
    return Math.min(Math.max(this.#refillMs(), this.#backoff(attempt)), this.#maxRetryDelayMs)
  }

  #backoff (attempt: number): number {
    const base = this.#retryBaseMs * 2 ** attempt
    return Math.min(Math.round(base * (0.8 + Math.random() * 0.4)), this.#maxRetryDelayMs)
  }

  async #throttle (signal: AbortSignal | undefined, what: string): Promise<void> {
    const wait = this.#nextAllowedAt - Date.now()
    if (wait > 0) await this.#sleep(wait, signal, what)
  }

  async #sleep (ms: number, signal: AbortSignal | undefined, what: string): Promise<void> {
    if (signal?.aborted === true) throw new HetznerAbortedError(what)
    await new Promise<void>((resolve, reject) => {
      const onAbort = (): void => { clearTimeout(timer); reject(new HetznerAbortedError(what)) }
      const timer = setTimeout(() => { signal?.removeEventListener('abort', onAbort); resolve() }, ms)
      signal?.addEventListener('abort', onAbort, { once: true })
    })
  }
}

async function readCapped (res: Response, max: number): Promise<string> {
  const declared = Number(res.headers.get('content-length') ?? NaN)
  if (Number.isFinite(declared) && declared > max) {
    await res.body?.cancel().catch(() => {})
    throw new HetznerBadResponseError(`${res.status} answer`, `body of ${declared} bytes is over the ${max}-byte limit`)
  }
  if (res.body == null) return ''
  const reader = res.body.getReader()
  const chunks: Uint8Array[] = []
  let total = 0
  for (;;) {
    const { done, value } = await reader.read()
    if (done) break
    total += value.byteLength
    if (total > max) {
      await reader.cancel().catch(() => {})
      throw new HetznerBadResponseError(`${res.status} answer`, `body is over the ${max}-byte limit`)
    }
    chunks.push(value)
  }
  return Buffer.concat(chunks).toString('utf8')
}

function parseApiError (text: string, secrets: readonly string[]): { code: string, message: string } {
  try {
    const parsed = apiErrorBodySchema.safeParse(JSON.parse(text))
    if (parsed.success) return { code: parsed.data.error.code, message: scrub(parsed.data.error.message, secrets).slice(0, 500) }
  } catch {}
  return { code: 'unknown', message: 'no error body' }
}

function errorText (err: unknown): string {
  const e = err as { message?: unknown, cause?: { code?: unknown, message?: unknown } }
  const cause = e?.cause != null ? ` (${String(e.cause.code ?? e.cause.message ?? '')})` : ''
  return `${String(e?.message ?? err)}${cause}`.slice(0, 300)
}

/** Replaces every secret in `text`. */
export function scrub (text: string, secrets: readonly string[]): string {
  let out = text
  for (const s of secrets) if (s.length >= 4) out = out.split(s).join('[redacted]')
  return out
}
