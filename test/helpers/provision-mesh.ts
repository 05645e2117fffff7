/**
 * A small mesh of agents in a Segment's server namespace for the provisioning e2e: the CLI run
 * against an agent there, a second agent joined over loopback, the event stream followed with
 * curl, and plain HTTP requests to the boot endpoint — secrets always in files, never in argv.
 *
 * @example
 * const a = await startDistributorAgent(seg, cfg, { args: ['--tag', 'role=scripts+registry'] })
 * const b = await startJoinedAgent(seg, a, { tags: ['role=registry'] })
 * const events = await followEvents(seg, b)
 * await ctpfIn(seg, a, ['profile', 'put', 'p1', '--kernel', 'boot/vmlinuz'])
 * const hosts = await ctpfJson(seg, b, ['host', 'ls'])
 */
import { readFile, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { CLI } from './distributor-agent.js'
import { sh } from './netns.js'
import type { NsProcess, Segment } from './netns.js'

/** An agent by its data directory (a DistributorAgent or a joined one). */
export interface MeshAgent { dir: string, proc: NsProcess }

/** Runs `ctpf ARGS --data-dir DIR` in the server namespace; resolves to stdout (rejects on a non-zero exit, with stderr). */
export async function ctpfIn (seg: Segment, agent: { dir: string }, args: string[], timeoutMs = 60_000): Promise<string> {
  const [cmd, ...rest] = seg.serverArgv([process.execPath, CLI, ...args, '--data-dir', agent.dir])
  return await sh(cmd as string, rest, timeoutMs)
}

/** `ctpfIn` with `--json`, parsed. */
export async function ctpfJson<T = any> (seg: Segment, agent: { dir: string }, args: string[], timeoutMs = 60_000): Promise<T> {
  return JSON.parse(await ctpfIn(seg, agent, [...args, '--json'], timeoutMs)) as T
}

/**
 * Starts an agent in the server namespace that joins `inviter`'s mesh over loopback (the invite
 * token goes through a 0600 file, `--join-file`). `inviteTags` are granted by the invite,
 * `tags` are the joiner's own `--tag`s.
 */
export async function startJoinedAgent (seg: Segment, inviter: { dir: string }, opts: { tags?: string[], inviteTags?: string[] } = {}): Promise<MeshAgent> {
  const dir = await seg.tempDir('ctpf-prov-agent-')
  const { token } = await ctpfJson<{ token: string }>(seg, inviter, ['invite', 'create', ...(opts.inviteTags ?? []).flatMap(t => ['--tag', t])])
  const tokenFile = join(dir, 'join-token')
  await writeFile(tokenFile, token, { mode: 0o600 })
  const proc = seg.spawnServer(['env', 'CTPF_LOG_LEVEL=info', process.execPath, CLI, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0',
    '--join-file', tokenFile, ...(opts.tags ?? []).flatMap(t => ['--tag', t])])
  await proc.waitForOutput(/^control +http/m, 60_000)
  return { dir, proc }
}

/** A curl header file holding the agent's control token (mode 0600). */
async function controlHeaders (agent: { dir: string }): Promise<{ url: string, headers: string }> {
  const url = (await readFile(join(agent.dir, 'control.url'), 'utf8')).trim()
  const token = (await readFile(join(agent.dir, 'control.token'), 'utf8')).trim()
  const headers = join(agent.dir, 'curl-control-headers')
  await writeFile(headers, `Authorization: Bearer ${token}\n`, { mode: 0o600 })
  return { url, headers }
}

export interface SseEvent { event: string, data: any }

export interface EventFollower {
  /** Every complete event so far, in the order it arrived. */
  readonly events: () => SseEvent[]
  /** Resolves with all events once `done(events)` is true; rejects after `ms`. */
  waitUntil: (done: (events: SseEvent[]) => boolean, ms: number) => Promise<SseEvent[]>
  proc: NsProcess
}

/** Follows the agent's `/v1/events` (server-sent events) with `curl -N` from inside the namespace. */
export async function followEvents (seg: Segment, agent: { dir: string }): Promise<EventFollower> {
  const { url, headers } = await controlHeaders(agent)
  const proc = seg.spawnServer(['curl', '-sS', '-N', '-H', `@${headers}`, `${url}/v1/events`])
  await proc.waitForOutput(/: ctpf events/, 15_000)
  const parsed: SseEvent[] = []
  let consumed = 0
  const events = (): SseEvent[] => {
    const text = proc.text
    for (;;) {
      const end = text.indexOf('\n\n', consumed)
      if (end === -1) break
      const block = text.slice(consumed, end)
      consumed = end + 2
      let event = 'message'
      const data: string[] = []
      for (const line of block.split('\n')) {
        if (line.startsWith('event: ')) event = line.slice(7)
        else if (line.startsWith('data: ')) data.push(line.slice(6))
      }
      if (data.length > 0) parsed.push({ event, data: JSON.parse(data.join('\n')) })
    }
    return parsed
  }
  const waitUntil = async (done: (events: SseEvent[]) => boolean, ms: number): Promise<SseEvent[]> => {
    const until = Date.now() + ms
    while (Date.now() < until) {
      if (done(events())) return parsed
      if (!proc.running) throw new Error(`the event stream ended: ${proc.text.slice(-2000)}`)
      await new Promise(resolve => setTimeout(resolve, 200))
    }
    throw new Error(`the expected events did not arrive in ${ms} ms; got ${JSON.stringify(events().map(e => [e.event, e.data?.id, e.data?.status]))}`)
  }
  return { events, waitUntil, proc }
}

export interface HttpAnswer { status: number, body: string }

/**
 * An HTTP request with curl from inside the server namespace. `headers` lines go through a
 * 0600 file (they may hold a token); `body` through a file too.
 */
export async function httpIn (seg: Segment, url: string, opts: { method?: string, headers?: string[], body?: string } = {}): Promise<HttpAnswer> {
  const dir = await seg.tempDir('ctpf-prov-http-')
  const method = opts.method ?? 'GET'
  // a HEAD is `-I`: with `-X HEAD` curl waits for the body the length announces
  const args = ['curl', '-sS', '-o', join(dir, 'body'), '-w', '%{http_code}', ...(method === 'HEAD' ? ['-I'] : ['-X', method])]
  if (opts.headers != null && opts.headers.length > 0) {
    await writeFile(join(dir, 'headers'), opts.headers.join('\n') + '\n', { mode: 0o600 })
    args.push('-H', `@${join(dir, 'headers')}`)
  }
  if (opts.body != null) {
    await writeFile(join(dir, 'request'), opts.body, { mode: 0o600 })
    args.push('--data-binary', `@${join(dir, 'request')}`)
  }
  args.push(url)
  const [cmd, ...rest] = seg.serverArgv(args)
  const status = Number((await sh(cmd as string, rest, 60_000)).trim())
  return { status, body: await readFile(join(dir, 'body'), 'utf8').catch(() => '') }
}
