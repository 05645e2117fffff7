/**
 * Agents and the CLI for the demo: each agent runs from the built bundle (`dist/ctpf.mjs`, or
 * `CTPF_CLI`) in a namespace of the lab, and the CLI is run inside the same namespace (the
 * control endpoint is on that namespace's loopback). Invite tokens reach joiners through 0600
 * files, never through arguments.
 *
 * @example
 * const relay = await startAgent(lab, ns, { name: 'relay', listen: ['/ip4/203.0.113.10/tcp/4001'], tags: ['dc=core'] })
 * const members = await relay.json(['member', 'ls'])
 */
import { existsSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const CLI = process.env.CTPF_CLI ?? join(ROOT, 'dist/ctpf.mjs')

const sleep = ms => new Promise(resolve => setTimeout(resolve, ms))

/**
 * Polls `fn` until it returns something other than undefined/false; rejects after `timeoutMs`
 * (with the last error `fn` threw, if any) or when `signal` aborts. An error with `fatal: true`
 * is not retried.
 */
export async function until (what, fn, { timeoutMs = 30_000, intervalMs = 500, signal } = {}) {
  const end = Date.now() + timeoutMs
  let last
  for (;;) {
    signal?.throwIfAborted()
    try {
      const v = await fn()
      if (v !== undefined && v !== false) return v
    } catch (err) {
      if (err?.fatal === true) throw err
      last = err
    }
    if (Date.now() > end) throw new Error(`timed out after ${Math.round(timeoutMs / 1000)} s waiting for ${what}${last !== undefined ? `: ${last.message}` : ''}`)
    await sleep(intervalMs)
  }
}

/** `--data-dir DIR` goes before a `--` (what follows it is a remote command). */
function withDataDir (args, dir) {
  const i = args.indexOf('--')
  return i === -1 ? [...args, '--data-dir', dir] : [...args.slice(0, i), '--data-dir', dir, ...args.slice(i)]
}

export class DemoAgent {
  constructor (lab, ns, name, dir, proc) {
    this.lab = lab
    this.ns = ns
    this.name = name
    this.dir = dir
    this.proc = proc
    this.peerId = undefined
  }

  /** `ctpf ARGS --data-dir DIR` in the agent's namespace: `{ code, stdout, stderr }`. */
  async cli (args, timeoutMs = 90_000) {
    return await this.lab.exec(this.ns, [process.execPath, CLI, ...withDataDir(args, this.dir)], { timeoutMs })
  }

  /** The same with `--json`, parsed; rejects on a non-zero exit with the CLI's message. */
  async json (args, timeoutMs) {
    const r = await this.cli(withJson(args), timeoutMs)
    if (r.code !== 0) throw Object.assign(new Error(`ctpf ${args.join(' ')} (at ${this.name}) exited ${String(r.code)}: ${(r.stderr || r.stdout).trim().slice(-1500)}`), { result: r })
    return JSON.parse(r.stdout)
  }
}

function withJson (args) {
  const i = args.indexOf('--')
  return i === -1 ? [...args, '--json'] : [...args.slice(0, i), '--json', ...args.slice(i)]
}

/**
 * Starts `ctpf agent` in `ns`: `listen` multiaddrs, `announce`, own `tags`, a `config` object
 * written to `<dir>/config.json`, and `joinToken` (written to a 0600 file for `--join-file`).
 * Resolves once the agent prints its control URL.
 */
export async function startAgent (lab, ns, { name, listen = [], announce = [], tags = [], config, joinToken, logDir, signal }) {
  const dir = lab.dir(`agent-${name}`)
  if (config !== undefined) writeFileSync(join(dir, 'config.json'), JSON.stringify(config, null, 2))
  const args = ['agent', '--data-dir', dir, ...listen.flatMap(l => ['--listen', l]), ...announce.flatMap(a => ['--announce', a]), ...tags.flatMap(t => ['--tag', t])]
  if (joinToken !== undefined) {
    const file = join(lab.tmp, `${name}.join`)
    writeFileSync(file, `${joinToken}\n`, { mode: 0o600 })
    args.push('--join-file', file)
  }
  const proc = lab.spawn(ns, ['env', 'CTPF_LOG_LEVEL=info', process.execPath, CLI, ...args], { name: `agent-${name}`, logDir })
  const m = await proc.waitFor(/^ctpf agent (\S+) /m, { timeoutMs: 60_000, signal })
  await proc.waitFor(/^control +http/m, { timeoutMs: 30_000, signal })
  const agent = new DemoAgent(lab, ns, name, dir, proc)
  agent.peerId = m[1]
  if (!existsSync(join(dir, 'control.token'))) throw new Error(`agent ${name}: no control token in ${dir}`)
  return agent
}
