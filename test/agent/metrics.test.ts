import { rmSync } from 'node:fs'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { METRIC_TABLE, agentSamples, exposition } from '../../agent/control/metrics.js'
import { startAgent, tempDir, waitFor } from '../helpers/agents.js'
import type { RunningAgent } from '../helpers/agents.js'

/** A strict reader of the text exposition format 0.0.4: throws on any line it does not accept. */
interface Family { type: string, help: string, samples: Array<{ labels: Record<string, string>, value: number }> }
function parseExposition (text: string): Map<string, Family> {
  const NAME = '[a-zA-Z_:][a-zA-Z0-9_:]*'
  const LABEL = `[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\\\\n]|\\\\[\\\\"n])*"`
  const VALUE = '[-+]?(?:[0-9]*\\.?[0-9]+(?:[eE][-+]?[0-9]+)?|Inf|NaN)'
  const sampleRe = new RegExp(`^(${NAME})(?:\\{((?:${LABEL})(?:,${LABEL})*)?,?\\})? (${VALUE})(?: -?[0-9]+)?$`)
  const families = new Map<string, Family>()
  const seenTypes = new Set<string>()
  let current: string | undefined
  expect(text.endsWith('\n')).toBe(true)
  for (const line of text.slice(0, -1).split('\n')) {
    let m: RegExpExecArray | null
    if ((m = new RegExp(`^# HELP (${NAME}) (.*)$`).exec(line)) != null) {
      if (families.has(m[1])) throw new Error(`second HELP for ${m[1]}`)
      families.set(m[1], { type: 'untyped', help: m[2], samples: [] })
      current = m[1]
    } else if ((m = new RegExp(`^# TYPE (${NAME}) (counter|gauge|histogram|summary|untyped)$`).exec(line)) != null) {
      if (seenTypes.has(m[1])) throw new Error(`second TYPE for ${m[1]}`)
      seenTypes.add(m[1])
      const f = families.get(m[1]) ?? { type: m[2], help: '', samples: [] }
      if (f.samples.length > 0) throw new Error(`TYPE after samples of ${m[1]}`)
      f.type = m[2]
      families.set(m[1], f)
      current = m[1]
    } else if ((m = sampleRe.exec(line)) != null) {
      if (m[1] !== current) throw new Error(`sample ${m[1]} outside its family (after ${String(current)})`)
      const labels: Record<string, string> = {}
      for (const l of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) labels[l[1]] = l[2].replace(/\\n/g, '\n').replace(/\\"/g, '"').replace(/\\\\/g, '\\')
      const value = m[3] === '+Inf' || m[3] === 'Inf' ? Infinity : m[3] === '-Inf' ? -Infinity : Number(m[3])
      families.get(m[1])!.samples.push({ labels, value })
    } else if (line.startsWith('#')) {
      // other comments are allowed by the format
    } else {
      throw new Error(`not an exposition line: ${JSON.stringify(line)}`)
    }
  }
  return families
}

const value = (f: Map<string, Family>, name: string, labels: Record<string, string> = {}): number | undefined =>
  f.get(name)?.samples.find(s => Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

describe('the Prometheus exposition', () => {
  it('gives every mapped metric a distinct valid name, counters ending in _total', () => {
    const names = Object.values(METRIC_TABLE).map(([name]) => name)
    expect(new Set(names).size).toBe(names.length)
    for (const [name, type, help] of Object.values(METRIC_TABLE)) {
      expect(name).toMatch(/^ctpf_[a-z0-9_]+$/)
      expect(name.endsWith('_total')).toBe(type === 'counter')
      expect(help.length).toBeGreaterThan(5)
    }
  })

  it('prints families once with HELP and TYPE, labels escaped, unknown keys untyped', () => {
    const text = exposition(agentSamples({ jobsClaimed: 3, stateRefusedSignature: 2, stateRefusedFuture: 1, somethingNew: 7 }),
      [{ name: 'ctpf_odd', type: 'gauge', help: 'back\\slash\nnewline', value: NaN, labels: { v: 'a"b\\c\nd' } }])
    const f = parseExposition(text)
    expect(value(f, 'ctpf_jobs_claimed_total')).toBe(3)
    expect(f.get('ctpf_jobs_claimed_total')?.type).toBe('counter')
    expect(f.get('ctpf_state_records_refused_total')?.samples).toEqual([{ labels: { reason: 'signature' }, value: 2 }, { labels: { reason: 'future' }, value: 1 }])
    expect(f.get('ctpf_something_new')?.type).toBe('untyped')
    expect(f.get('ctpf_odd')?.samples[0].labels.v).toBe('a"b\\c\nd')
    expect(f.get('ctpf_odd')?.help).toBe('back\\\\slash\\nnewline')
    expect(Number.isNaN(value(f, 'ctpf_odd'))).toBe(true)
  })
})

describe('GET /metrics on a running agent', () => {
  let agent: RunningAgent
  const dir = tempDir('ctpf-dash-')
  beforeAll(async () => { agent = await startAgent({ dir }) }, 60_000)
  afterAll(async () => {
    await agent?.stop('SIGKILL')
    rmSync(dir, { recursive: true, force: true })
  })

  const scrape = async (): Promise<Map<string, Family>> => {
    const res = await fetch(`${agent.url}/metrics`, { headers: { authorization: `Bearer ${agent.token}` } })
    expect(res.status).toBe(200)
    expect(res.headers.get('content-type')).toBe('text/plain; version=0.0.4; charset=utf-8')
    return parseExposition(await res.text())
  }

  it('needs the bearer token', async () => {
    expect((await fetch(`${agent.url}/metrics`)).status).toBe(401)
    expect((await fetch(`${agent.url}/metrics`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401)
  })

  it('exports every agent metric under a stable name, and the process', async () => {
    const f = await scrape()
    const json = (await agent.api('GET', '/metrics')).body as Record<string, number>
    for (const key of Object.keys(json)) {
      if (/^stateRefused/.test(key)) continue
      expect(METRIC_TABLE[key], `metric ${key} of /v1/metrics is missing from METRIC_TABLE`).toBeDefined()
      expect(value(f, METRIC_TABLE[key][0])).toBeTypeOf('number')
    }
    expect([...f.values()].filter(x => x.type === 'untyped')).toEqual([])
    expect(value(f, 'process_resident_memory_bytes')).toBeGreaterThan(10 * 1024 * 1024)
    expect(value(f, 'process_cpu_seconds_total')).toBeGreaterThan(0)
    expect(value(f, 'ctpf_members')).toBe(1)
    expect(value(f, 'ctpf_build_info', { version: (await agent.status() as unknown as { version: string }).version })).toBe(1)
    expect(value(f, 'ctpf_peers_connected', { path: 'direct' })).toBe(0)
  })

  it('counts a probe job the agent ran', async () => {
    const before = await scrape()
    const submitted = await agent.api('POST', '/jobs', { kind: 'probe', spec: { ms: 10 } })
    expect(submitted.status).toBe(200)
    await waitFor(async () => (await agent.api('GET', `/jobs/${submitted.body.id as string}`)).body.status === 'succeeded', { what: 'the probe to succeed', timeoutMs: 30_000 })
    const after = await scrape()
    for (const name of ['ctpf_jobs_claimed_total', 'ctpf_jobs_succeeded_total', 'ctpf_jobs_probe_runs_total']) {
      expect(value(after, name), name).toBe((value(before, name) ?? NaN) + 1)
    }
    expect(value(after, 'ctpf_jobs', { status: 'succeeded' })).toBe((value(before, 'ctpf_jobs', { status: 'succeeded' }) ?? NaN) + 1)
    expect(value(after, 'process_cpu_seconds_total')).toBeGreaterThanOrEqual(value(before, 'process_cpu_seconds_total') ?? Infinity)
  })
})
