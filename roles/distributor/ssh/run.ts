/**
 * `runOnHosts`: one command or script on many hosts, a bounded number at a time. Each host
 * ends with its own result; a failure on one never stops the others unless `failFast`.
 */
import { performance } from 'node:perf_hooks'
import type { SFTPWrapper } from 'ssh2'
import ssh2 from 'ssh2'
import type { Logger } from 'pino'
import { parseRunOptions, type RunOptions, type RunOptionsInit } from './config.js'
import { SshConnection } from './connection.js'
import {
  CancelledError, CommandFailedError, ConnectionLostError, CommandKilledError, SshConfigError, UploadFailedError
} from './errors.js'
import { parseHostKeyPin } from './keys.js'
import { StreamOutput } from './output.js'
import { buildCommandLine } from './quote.js'
import { supervisedCommandLine } from './supervise.js'
import { remove, scriptPath, upload, writeNew } from './upload.js'

/** One line of remote output (without its newline), as it arrives. */
export interface OutputLine {
  host: string
  stream: 'stdout' | 'stderr'
  line: string
}

/** A per-host error: a stable `code` (see errors.ts) and a message for people. */
export interface HostError {
  code: string
  message: string
  /** For `ERR_SSH_HOST_KEY_MISMATCH`: the fingerprint the host presented. */
  seenFingerprint?: string
}

export interface HostResult {
  /** The host's id. */
  host: string
  /** Exit status 0 and no error. */
  ok: boolean
  exitCode?: number
  /** `SIGTERM`, `SIGKILL`, … when the command died of a signal. */
  signal?: string
  /** The last `tailChars` characters of stdout / stderr. */
  stdout: string
  stderr: string
  stdoutBytes: number
  stderrBytes: number
  error?: HostError
  /** TCP connect + handshake + authentication, when the connection was made. */
  connectMs?: number
  /** From sending the command to its channel closing (uploads not included). */
  execMs?: number
  durationMs: number
}

export interface RunHandlers {
  /** Cancels the run: running commands are killed, hosts not yet started are reported cancelled. */
  signal?: AbortSignal
  onOutput?: (line: OutputLine) => void
  onHostDone?: (result: HostResult) => void
  logger?: Logger
}

function reasonOf (signal: AbortSignal): string {
  const r: unknown = signal.reason
  if (typeof r === 'string') return r
  if (r instanceof Error && r.name !== 'AbortError') return r.message
  return 'aborted'
}

function toHostError (err: unknown): HostError {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code
    const out: HostError = { code: typeof code === 'string' && code.startsWith('ERR_SSH_') ? code : 'ERR_SSH_INTERNAL', message: err.message }
    const seen = (err as { seenFingerprint?: unknown }).seenFingerprint
    if (typeof seen === 'string') out.seenFingerprint = seen
    return out
  }
  return { code: 'ERR_SSH_INTERNAL', message: String(err) }
}

async function withTimeout (p: Promise<void>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined
  await Promise.race([p, new Promise<void>(resolve => { timer = setTimeout(resolve, ms) })])
  clearTimeout(timer)
}

function safely<A> (fn: ((a: A) => void) | undefined, a: A, logger?: Logger): void {
  if (fn === undefined) return
  try { fn(a) } catch (err) { logger?.error({ err }, 'SSH run callback threw') }
}

/**
 * Run `command` (or `script`) on every host. Resolves with one result per host, in the order
 * of `hosts`, also when cancelled (cancelled hosts carry `ERR_SSH_CANCELLED`). Throws only
 * `SshConfigError` for invalid options.
 */
export async function runOnHosts (init: RunOptionsInit, handlers: RunHandlers = {}): Promise<HostResult[]> {
  const o = parseRunOptions(init)
  const privateKey = Buffer.isBuffer(o.privateKey) ? o.privateKey : Buffer.from(o.privateKey)
  const key = ssh2.utils.parseKey(privateKey)
  if (key instanceof Error || (Array.isArray(key) ? key[0] : key)?.isPrivateKey() !== true) {
    throw new SshConfigError('privateKey is not a usable unencrypted private key')
  }
  // validate the command line once (NUL bytes, names) so every host fails the same way up front
  if (o.command !== undefined) buildCommandLine(o.command, o.env)

  const failFast = new AbortController()
  const signals = [failFast.signal]
  if (handlers.signal !== undefined) signals.push(handlers.signal)
  const signal = AbortSignal.any(signals)
  const logger = handlers.logger?.child({ component: 'role:distributor:ssh' })
  const h: RunHandlers = { ...handlers, ...(logger !== undefined ? { logger } : {}) }

  const results: HostResult[] = new Array(o.hosts.length)
  let next = 0
  const worker = async (): Promise<void> => {
    while (next < o.hosts.length) {
      const i = next++
      const host = o.hosts[i] as RunOptions['hosts'][number]
      const result = await runOne(host, o, privateKey, signal, h)
      results[i] = result
      logger?.info({ host: host.id, ok: result.ok, exitCode: result.exitCode, code: result.error?.code, durationMs: result.durationMs }, 'ssh host done')
      if (!result.ok && o.failFast && !failFast.signal.aborted) failFast.abort(`fail-fast: host ${host.id} failed`)
      safely(handlers.onHostDone, result, logger)
    }
  }
  await Promise.all(Array.from({ length: Math.min(o.concurrency, o.hosts.length) }, worker))
  return results
}

async function runOne (host: RunOptions['hosts'][number], o: RunOptions, privateKey: Buffer, signal: AbortSignal, h: RunHandlers): Promise<HostResult> {
  const started = performance.now()
  const since = (t: number): number => Math.round((performance.now() - t) * 10) / 10
  const emit = (stream: 'stdout' | 'stderr') => (line: string): void => safely(h.onOutput, { host: host.id, stream, line }, h.logger)
  const out = new StreamOutput(emit('stdout'), o.tailChars, o.maxLineChars)
  const err = new StreamOutput(emit('stderr'), o.tailChars, o.maxLineChars)
  const result: HostResult = { host: host.id, ok: false, stdout: '', stderr: '', stdoutBytes: 0, stderrBytes: 0, durationMs: 0 }

  let conn: SshConnection | undefined
  let sftp: SFTPWrapper | undefined
  let remoteScript: string | undefined
  try {
    if (signal.aborted) throw new CancelledError(host.id, reasonOf(signal))
    const pin = parseHostKeyPin(host.hostKey)
    conn = await SshConnection.open({
      id: host.id,
      address: host.address,
      port: host.port,
      user: host.user,
      pin,
      privateKey,
      connectTimeoutMs: o.connectTimeoutMs,
      keepaliveIntervalMs: o.keepaliveIntervalMs,
      keepaliveCountMax: o.keepaliveCountMax,
      signal,
      ...(h.logger !== undefined ? { logger: h.logger } : {})
    })
    result.connectMs = since(started)

    if (o.uploads.length > 0 || o.script !== undefined) {
      try { sftp = await conn.sftp() } catch (e) {
        throw e instanceof ConnectionLostError ? e : new UploadFailedError(host.id, '(sftp subsystem)', { cause: e })
      }
      for (const u of o.uploads) {
        try { await upload(sftp, u, signal) } catch (e) {
          if (signal.aborted) throw new CancelledError(host.id, reasonOf(signal))
          throw new UploadFailedError(host.id, u.path, { cause: e })
        }
      }
      if (o.script !== undefined) {
        const path = scriptPath(o.remoteTempDir)
        try {
          await writeNew(sftp, path, { content: o.script.content }, 0o700, signal)
          remoteScript = path
        } catch (e) {
          await remove(sftp, path)
          if (signal.aborted) throw new CancelledError(host.id, reasonOf(signal))
          throw new UploadFailedError(host.id, path, { cause: e })
        }
      }
    }

    const argv = remoteScript !== undefined ? [...(o.script?.interpreter ?? []), remoteScript] : (o.command as string[])
    const commandLine = supervisedCommandLine(argv, o.env, o.killGraceMs)
    const execStarted = performance.now()
    const outcome = await conn.exec(commandLine, {
      timeoutMs: o.timeoutMs,
      killGraceMs: o.killGraceMs,
      signal,
      onStdout: (c) => out.push(c),
      onStderr: (c) => err.push(c)
    })
    result.execMs = since(execStarted)
    if (outcome.exitCode !== undefined) result.exitCode = outcome.exitCode
    if (outcome.signal !== undefined) result.signal = outcome.signal
    if (outcome.error !== undefined) throw outcome.error
    if (outcome.signal !== undefined) throw new CommandKilledError(host.id, outcome.signal.replace(/^SIG/, ''))
    if (outcome.exitCode !== 0) throw new CommandFailedError(host.id, outcome.exitCode ?? -1)
    result.ok = true
  } catch (e) {
    result.error = toHostError(e)
  } finally {
    if (remoteScript !== undefined && sftp !== undefined && conn?.alive === true) await withTimeout(remove(sftp, remoteScript), 5000)
    sftp?.end()
    await conn?.close()
    out.end()
    err.end()
  }
  result.stdout = out.tail()
  result.stderr = err.tail()
  result.stdoutBytes = out.bytes
  result.stderrBytes = err.bytes
  result.durationMs = since(started)
  return result
}
