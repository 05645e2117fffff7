/**
 * The CLI's typed client of the control API. Finds the agent through `<data-dir>/control.url`
 * and `<data-dir>/control.token`; the token goes in a header, never in a URL or argument.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { NotRunningError, AgentError } from '../errors.js'
import { files } from '../datadir.js'
import type { InviteRequest, JobView, LogLineView, MemberView, PeerView, StatusView } from './api.js'

export class ApiError extends AgentError {
  constructor (readonly status: number, code: string, message: string) {
    super(code, message)
    this.name = 'ApiError'
  }
}

export class ControlClient {
  readonly #base: string
  readonly #token: string

  constructor (base: string, token: string) {
    this.#base = base.replace(/\/$/, '')
    this.#token = token
  }

  static fromDataDir (dir: string): ControlClient {
    let url: string
    let token: string
    try {
      url = readFileSync(join(dir, files.controlUrl), 'utf8').trim()
      token = readFileSync(join(dir, files.controlToken), 'utf8').trim()
    } catch {
      throw new NotRunningError(dir)
    }
    return new ControlClient(url, token)
  }

  async request<T> (method: string, path: string, body?: unknown): Promise<T> {
    let res: Response
    try {
      res = await fetch(`${this.#base}/v1${path}`, {
        method,
        headers: { authorization: `Bearer ${this.#token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
        body: body !== undefined ? JSON.stringify(body) : undefined,
        signal: AbortSignal.timeout(30_000)
      })
    } catch (err) {
      throw new AgentError('AGENT_UNREACHABLE', `the agent at ${this.#base} does not answer: ${(err as Error).message}`)
    }
    const text = await res.text()
    let data: unknown
    try { data = JSON.parse(text) } catch { data = undefined }
    if (!res.ok) {
      const e = (data as { error?: { code?: string, message?: string } } | undefined)?.error
      throw new ApiError(res.status, e?.code ?? 'HTTP_ERROR', e?.message ?? `HTTP ${res.status}`)
    }
    return data as T
  }

  async status (): Promise<StatusView> { return await this.request('GET', '/status') }
  async members (): Promise<MemberView[]> { return await this.request('GET', '/members') }
  async peers (): Promise<PeerView[]> { return await this.request('GET', '/peers') }
  async createInvite (body: InviteRequest): Promise<{ token: string }> { return await this.request('POST', '/invites', body) }
  async revoke (peerId: string): Promise<void> { await this.request('POST', `/members/${encodeURIComponent(peerId)}/revoke`) }
  async setTags (tags: Record<string, string>): Promise<void> { await this.request('PUT', '/tags', { tags }) }
  async submitJob (body: { kind: string, selector?: string, spec?: unknown, maxAttempts?: number }): Promise<{ id: string }> { return await this.request('POST', '/jobs', body) }
  async jobs (): Promise<JobView[]> { return await this.request('GET', '/jobs') }
  async job (id: string): Promise<JobView> { return await this.request('GET', `/jobs/${encodeURIComponent(id)}`) }
  async cancelJob (id: string): Promise<JobView> { return await this.request('DELETE', `/jobs/${encodeURIComponent(id)}`) }

  /** Uploads a file as an artifact (streamed, never held in memory). */
  async addArtifact (path: string, name?: string, onProgress?: (bytes: number, total: number) => void): Promise<{ cid: string, size: number }> {
    const { createReadStream, statSync } = await import('node:fs')
    const size = statSync(path).size
    const { Readable } = await import('node:stream')
    const file = createReadStream(path)
    const source = Readable.from((async function * () {
      let sent = 0
      for await (const chunk of file) {
        sent += (chunk as Buffer).length
        onProgress?.(sent, size)
        yield chunk as Buffer
      }
    })())
    const res = await fetch(`${this.#base}/v1/artifacts${name != null ? `?name=${encodeURIComponent(name)}` : ''}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: source as unknown as ReadableStream,
      duplex: 'half'
    } as RequestInit)
    return await this.#json(res)
  }

  /** Downloads an artifact (by CID or name) into a file; resolves with its size. */
  async getArtifact (ref: string, out: string, onProgress?: (bytes: number, total: number) => void): Promise<number> {
    const { createWriteStream } = await import('node:fs')
    const { pipeline } = await import('node:stream/promises')
    const { Readable } = await import('node:stream')
    const res = await fetch(`${this.#base}/v1/artifacts/${encodeURIComponent(ref)}`, { headers: { authorization: `Bearer ${this.#token}` } })
    if (!res.ok || res.body == null) await this.#json(res)
    const total = Number(res.headers.get('content-length') ?? 0)
    const body = Readable.fromWeb(res.body as never)
    let got = 0
    body.on('data', (chunk: Buffer) => { got += chunk.length; onProgress?.(got, total) })
    await pipeline(body, createWriteStream(out))
    return total
  }

  /** The agent's event stream (server-sent events) until `signal` aborts. */
  async * events (signal: AbortSignal): AsyncGenerator<{ event: string, data: unknown }> {
    const res = await fetch(`${this.#base}/v1/events`, { headers: { authorization: `Bearer ${this.#token}` }, signal })
    if (!res.ok || res.body == null) return
    let buf = ''
    try {
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += Buffer.from(chunk).toString('utf8')
        let i
        while ((i = buf.indexOf('\n\n')) >= 0) {
          const frame = buf.slice(0, i)
          buf = buf.slice(i + 2)
          const event = /^event: (.*)$/m.exec(frame)?.[1]
          const data = /^data: (.*)$/m.exec(frame)?.[1]
          if (event != null && data != null) yield { event, data: JSON.parse(data) }
        }
      }
    } catch (err) {
      if (!signal.aborted) throw err
    }
  }

  /** Imports a CAR file; resolves with its roots. */
  async importCar (path: string): Promise<{ roots: string[] }> {
    const { createReadStream } = await import('node:fs')
    const res = await fetch(`${this.#base}/v1/cars`, {
      method: 'POST',
      headers: { authorization: `Bearer ${this.#token}`, 'content-type': 'application/octet-stream' },
      body: createReadStream(path) as unknown as ReadableStream,
      duplex: 'half'
    } as RequestInit)
    return await this.#json(res)
  }

  async #json<T> (res: Response): Promise<T> {
    const data = await res.json().catch(() => undefined) as { error?: { code?: string, message?: string } } | undefined
    if (!res.ok) throw new ApiError(res.status, data?.error?.code ?? 'HTTP_ERROR', data?.error?.message ?? `HTTP ${res.status}`)
    return data as T
  }

  /** Streams a job's log lines; with follow, until the job ends. */
  async * jobLogs (id: string, follow: boolean): AsyncGenerator<LogLineView> {
    const res = await fetch(`${this.#base}/v1/jobs/${encodeURIComponent(id)}/logs${follow ? '?follow=1' : ''}`, { headers: { authorization: `Bearer ${this.#token}` } })
    if (!res.ok || res.body == null) {
      const e = (await res.json().catch(() => undefined) as { error?: { code?: string, message?: string } } | undefined)?.error
      throw new ApiError(res.status, e?.code ?? 'HTTP_ERROR', e?.message ?? `HTTP ${res.status}`)
    }
    let buf = ''
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      buf += Buffer.from(chunk).toString('utf8')
      let i
      while ((i = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, i)
        buf = buf.slice(i + 1)
        if (line.trim() !== '') yield JSON.parse(line) as LogLineView
      }
    }
  }
}
