// Shared helpers of the benchmarks: spawning agents, polling their control API, machine facts.
import { spawn } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync } from 'node:fs'
import { cpus, tmpdir, totalmem } from 'node:os'
import { join, resolve } from 'node:path'

export const CLI = resolve(process.env.CTPF_BENCH_CLI ?? 'dist/ctpf.mjs')

export function machine () {
  return `${cpus().length}× ${cpus()[0]?.model ?? 'cpu'}, ${Math.round(totalmem() / 2 ** 30)} GiB, Node ${process.version}`
}

export function header (name) {
  console.log(`# ${name} — ${new Date().toISOString().slice(0, 10)} — ${machine()}`)
}

export async function sleep (ms) { await new Promise(r => setTimeout(r, ms)) }

export async function waitFor (fn, timeoutMs = 30_000, intervalMs = 5) {
  const until = Date.now() + timeoutMs
  while (Date.now() < until) {
    try { const v = await fn(); if (v) return v } catch {}
    await sleep(intervalMs)
  }
  throw new Error('timed out')
}

export function rssMiB (pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(status)[1]) / 1024
}

export function spawnAgent (env = {}, args = []) {
  const dir = mkdtempSync(join(tmpdir(), 'ctpf-bench-'))
  const proc = spawn(process.execPath, [CLI, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', ...args], {
    env: { ...process.env, CTPF_LOG_LEVEL: 'warn', ...env }, stdio: ['ignore', 'ignore', 'inherit']
  })
  const api = async (method, path, body) => {
    const url = readFileSync(join(dir, 'control.url'), 'utf8').trim()
    const token = readFileSync(join(dir, 'control.token'), 'utf8').trim()
    const res = await fetch(`${url}/v1${path}`, { method, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json' } : {}) }, body: body ? JSON.stringify(body) : undefined })
    return await res.json()
  }
  const ready = () => waitFor(() => existsSync(join(dir, 'control.url')))
  return { dir, proc, api, ready, stop: () => proc.kill('SIGKILL') }
}

export function percentile (xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]
}
