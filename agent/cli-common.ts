/** What every client command of the CLI shares: finding the agent, output, errors, progress. */
import { Option } from 'commander'
import { resolveDataDir } from './config.js'
import { ControlClient } from './control/client.js'
import type { JobView } from './control/api.js'

export const collect = (value: string, previous: string[] = []): string[] => [...previous, value]

export function fail (err: unknown): never {
  const e = err as { code?: string, message?: string }
  const code = typeof e.code === 'string' ? ` [${e.code}]` : ''
  process.stderr.write(`ctpf: ${e.message ?? String(err)}${code}\n`)
  process.exit(1)
}

export function out (json: boolean, value: unknown, human: () => string): void {
  process.stdout.write(json ? JSON.stringify(value, null, 2) + '\n' : human() + '\n')
}

export const fmtJob = (j: JobView): string => [
  `job       ${j.id}`, `kind      ${j.kind}`, `selector  ${j.selector || '(any)'}`, `status    ${j.status}${j.reason != null ? ` (${j.reason})` : ''}`,
  `attempts  ${j.attempts}/${j.maxAttempts}`, `claim     ${j.claim?.peer ?? '-'}`,
  ...(j.result != null ? [`result    ${JSON.stringify(j.result)}`] : []), ...(j.error != null ? [`error     ${j.error.code}: ${j.error.message}`] : [])
].join('\n')

/** A progress bar on stderr when it is a terminal; nothing otherwise (scripts, --json). */
export function progressBar (label: string): ((bytes: number, total: number) => void) & { done: () => void } {
  const tty = process.stderr.isTTY === true
  let last = 0
  const draw = (bytes: number, total: number): void => {
    if (!tty || Date.now() - last < 100) return
    last = Date.now()
    const pct = total > 0 ? Math.min(1, bytes / total) : 0
    const width = 30
    const bar = '#'.repeat(Math.round(pct * width)).padEnd(width, '.')
    process.stderr.write(`\r${label} [${bar}] ${(bytes / 2 ** 20).toFixed(1)}/${(total / 2 ** 20).toFixed(1)} MiB`)
  }
  return Object.assign(draw, { done: () => { if (tty && last > 0) process.stderr.write('\n') } })
}

export const fmtTags = (tags: Record<string, string>): string => Object.entries(tags).map(([k, v]) => `${k}=${v}`).join(',') || '-'

export function client (opts: { dataDir?: string }): ControlClient {
  return ControlClient.fromDataDir(resolveDataDir(opts.dataDir))
}

export const dataDirOption = (): Option => new Option('--data-dir <dir>', 'the agent\'s data directory (env CTPF_DATA_DIR, default ./.ctpf)')

/** Polls a job until it ends. */
export async function waitForJob (c: ControlClient, id: string): Promise<JobView> {
  let j = await c.job(id)
  while (!['succeeded', 'failed', 'cancelled'].includes(j.status)) {
    await new Promise(resolve => setTimeout(resolve, 200))
    j = await c.job(id)
  }
  return j
}
