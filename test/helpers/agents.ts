/**
 * Real agents as separate OS processes on loopback, driven through their control API.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, readFileSync, existsSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join, resolve } from 'node:path'
import type { ChildProcess } from 'node:child_process'

export const CLI = resolve(process.env.CTPF_CLI ?? 'dist/ctpf.mjs')

export interface RunningAgent {
  dir: string
  proc: ChildProcess
  stdout: () => string
  stderr: () => string
  url: string
  token: string
  api: <T = any>(method: string, path: string, body?: unknown) => Promise<{ status: number, body: T }>
  status: () => Promise<{ peerId: string, meshId: string, tags: Record<string, string>, addresses: string[] }>
  stop: (signal?: NodeJS.Signals) => Promise<number | null>
}

export function tempDir (prefix = 'ctpf-test-'): string {
  return mkdtempSync(join(tmpdir(), prefix))
}

export async function waitFor<T> (fn: () => Promise<T | undefined | false> | T | undefined | false, { timeoutMs = 15_000, intervalMs = 50, what = 'condition' } = {}): Promise<T> {
  const until = Date.now() + timeoutMs
  let last: unknown
  while (Date.now() < until) {
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) { last = err }
    await new Promise(r => setTimeout(r, intervalMs))
  }
  throw new Error(`timed out waiting for ${what}${last != null ? `: ${String(last)}` : ''}`)
}

export interface StartOptions {
  dir?: string
  args?: string[]
  env?: Record<string, string>
  joinToken?: string
}

/** Runs `ctpf` to completion (client commands). */
export async function runCli (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null, stdout: string, stderr: string }> {
  return await new Promise((resolve) => {
    const p = spawn(process.execPath, [CLI, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] })
    let stdout = ''
    let stderr = ''
    p.stdout.on('data', d => { stdout += String(d) })
    p.stderr.on('data', d => { stderr += String(d) })
    p.on('exit', code => { resolve({ code, stdout, stderr }) })
  })
}

/** Starts `ctpf agent` and waits until its control endpoint answers. */
export async function startAgent (opts: StartOptions = {}): Promise<RunningAgent> {
  const dir = opts.dir ?? tempDir()
  const env: Record<string, string> = { ...process.env as Record<string, string>, CTPF_LOG_LEVEL: 'warn', ...opts.env }
  if (opts.joinToken != null) env.CTPF_JOIN_TOKEN = opts.joinToken
  rmSync(join(dir, 'control.url'), { force: true })
  const proc = spawn(process.execPath, [CLI, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', ...(opts.args ?? [])], { env, stdio: ['ignore', 'pipe', 'pipe'] })
  let out = ''
  let err = ''
  proc.stdout?.on('data', d => { out += String(d) })
  proc.stderr?.on('data', d => { err += String(d) })
  const exited = new Promise<number | null>(resolve => proc.on('exit', code => { resolve(code) }))
  let dead = false
  void exited.then(() => { dead = true })
  await waitFor(() => {
    if (dead) throw new Error(`agent exited: ${err}`)
    return existsSync(join(dir, 'control.url')) && out.includes('control ')
  }, { what: `agent in ${dir} to start`, timeoutMs: 30_000 }).catch(e => { proc.kill('SIGKILL'); throw new Error(`${(e as Error).message}\nstdout: ${out}\nstderr: ${err}`) })
  const url = readFileSync(join(dir, 'control.url'), 'utf8').trim()
  const token = readFileSync(join(dir, 'control.token'), 'utf8').trim()
  const api = async (method: string, path: string, body?: unknown): Promise<{ status: number, body: any }> => {
    const res = await fetch(`${url}/v1${path}`, {
      method,
      headers: { authorization: `Bearer ${token}`, ...(body !== undefined ? { 'content-type': 'application/json' } : {}) },
      body: body !== undefined ? JSON.stringify(body) : undefined
    })
    const text = await res.text()
    return { status: res.status, body: text.length > 0 ? JSON.parse(text) : undefined }
  }
  return {
    dir,
    proc,
    stdout: () => out,
    stderr: () => err,
    url,
    token,
    api,
    status: async () => (await api('GET', '/status')).body,
    stop: async (signal: NodeJS.Signals = 'SIGTERM') => {
      if (!dead) proc.kill(signal)
      return await exited
    }
  }
}

export async function invite (agent: RunningAgent, body: Record<string, unknown> = {}): Promise<string> {
  const res = await agent.api('POST', '/invites', body)
  if (res.status !== 200) throw new Error(`invite failed: ${JSON.stringify(res.body)}`)
  return res.body.token
}

export async function memberIds (agent: RunningAgent): Promise<string[]> {
  const res = await agent.api('GET', '/members')
  return (res.body as Array<{ peerId: string }>).map(m => m.peerId).sort()
}
