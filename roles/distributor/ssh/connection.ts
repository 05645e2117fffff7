/**
 * One SSH connection to one host: TCP with noDelay, the host key checked against the pin
 * during key exchange (before any credential is sent), public-key authentication, and every
 * failure mapped to a distinct error. Also runs one command on the connection with live
 * output, a timeout and cancellation that kill the remote process group.
 */
import { connect as tcpConnect, type Socket } from 'node:net'
import ssh2 from 'ssh2'
import type { ClientChannel, SFTPWrapper } from 'ssh2'
import type { Logger } from 'pino'
import {
  AuthFailedError, CancelledError, CommandTimeoutError, ConnectionLostError, ConnectTimeoutError,
  ExecRefusedError, HandshakeError, HostKeyMismatchError, HostUnreachableError
} from './errors.js'
import { fingerprintOfBlob, type HostKeyPin } from './keys.js'
import type { SupervisorSignal } from './supervise.js'

const { Client } = ssh2

export interface ConnectOptions {
  /** Host id, for errors and logs. */
  id: string
  address: string
  port: number
  user: string
  pin: HostKeyPin
  /** The client key; handed to ssh2 only, never logged. */
  privateKey: Buffer
  connectTimeoutMs: number
  keepaliveIntervalMs: number
  keepaliveCountMax: number
  signal: AbortSignal
  logger?: Logger
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'EHOSTUNREACH', 'ENETUNREACH', 'EHOSTDOWN', 'ENETDOWN', 'ETIMEDOUT', 'EADDRNOTAVAIL', 'ENOTFOUND', 'EAI_AGAIN'])

function abortReason (signal: AbortSignal): string {
  const r: unknown = signal.reason
  if (typeof r === 'string') return r
  if (r instanceof Error && r.name !== 'AbortError') return r.message
  return 'aborted'
}

export interface ExecOutcome {
  exitCode?: number
  /** `SIGTERM`, … when the command died of a signal. */
  signal?: string
  error?: Error
}

export interface ExecOptions {
  timeoutMs: number
  /** How long after TERM before KILL, and after KILL before the channel is closed regardless. */
  killGraceMs: number
  signal: AbortSignal
  onStdout: (chunk: Buffer) => void
  onStderr: (chunk: Buffer) => void
}

export class SshConnection {
  private lostError: Error | undefined
  private closed = false
  private readonly closeWaiters = new Set<(err: Error) => void>()

  private constructor (readonly id: string, private readonly client: InstanceType<typeof Client>, private readonly logger?: Logger) {
    client.on('error', (err: Error) => { this.markLost(err) })
    client.on('close', () => { this.markLost(undefined) })
  }

  /** Connect and authenticate; rejects with one of the connect errors, or `CancelledError`. */
  static async open (o: ConnectOptions): Promise<SshConnection> {
    if (o.signal.aborted) throw new CancelledError(o.id, abortReason(o.signal))
    const client = new Client()
    let sock: Socket | undefined
    let stage: 'tcp' | 'handshake' | 'auth' = 'tcp'
    let seen: string | undefined
    let hostKeyRefused = false

    return await new Promise<SshConnection>((resolve, reject) => {
      let settled = false
      const fail = (err: Error): void => {
        if (settled) return
        settled = true
        cleanup()
        client.removeAllListeners()
        client.on('error', () => {})
        client.destroy()
        sock?.destroy()
        reject(err)
      }
      const timer = setTimeout(() => fail(new ConnectTimeoutError(o.id, o.connectTimeoutMs, stage)), o.connectTimeoutMs)
      const onAbort = (): void => fail(new CancelledError(o.id, abortReason(o.signal)))
      o.signal.addEventListener('abort', onAbort, { once: true })
      const cleanup = (): void => { clearTimeout(timer); o.signal.removeEventListener('abort', onAbort) }

      client.on('handshake', () => { stage = 'auth' })
      client.on('ready', () => {
        if (settled) return
        settled = true
        cleanup()
        client.removeAllListeners('error')
        client.removeAllListeners('close')
        resolve(new SshConnection(o.id, client, o.logger))
      })
      client.on('error', (err: Error & { level?: string, code?: string }) => {
        if (hostKeyRefused) { fail(new HostKeyMismatchError(o.id, seen ?? 'unknown', o.pin.fingerprint)); return }
        if (err.level === 'client-authentication') { fail(new AuthFailedError(o.id, o.user)); return }
        if (err.level === 'client-socket' && stage === 'tcp' && (err.code === undefined || UNREACHABLE.has(err.code))) {
          fail(new HostUnreachableError(o.id, { cause: err })); return
        }
        if (stage === 'auth') { fail(new ConnectionLostError(o.id, { cause: err })); return }
        fail(new HandshakeError(o.id, { cause: err }))
      })
      client.on('close', () => {
        if (hostKeyRefused) fail(new HostKeyMismatchError(o.id, seen ?? 'unknown', o.pin.fingerprint))
        else if (stage === 'tcp') fail(new HostUnreachableError(o.id, { cause: new Error('connection closed') }))
        else fail(new HandshakeError(o.id, { cause: new Error(`connection closed during ${stage}`) }))
      })

      sock = tcpConnect({ host: o.address, port: o.port, noDelay: true })
      sock.once('connect', () => { stage = 'handshake' })
      try {
        client.connect({
          sock,
          username: o.user,
          privateKey: o.privateKey,
          readyTimeout: 0, // our own timer covers TCP + handshake + auth
          keepaliveInterval: o.keepaliveIntervalMs,
          keepaliveCountMax: o.keepaliveCountMax,
          ...(o.pin.algorithms !== undefined ? { algorithms: { serverHostKey: o.pin.algorithms as never } } : {}),
          hostVerifier: (key: Buffer): boolean => {
            seen = fingerprintOfBlob(key)
            const ok = o.pin.matches(key)
            if (!ok) {
              hostKeyRefused = true
              o.logger?.warn({ host: o.id, seen, expected: o.pin.fingerprint }, 'host key mismatch: refusing before authentication')
            }
            return ok
          }
        })
      } catch (err) {
        fail(new HandshakeError(o.id, { cause: err }))
      }
    })
  }

  private markLost (err: Error | undefined): void {
    if (this.closed) return
    this.closed = true
    this.lostError = new ConnectionLostError(this.id, err !== undefined ? { cause: err } : {})
    for (const w of this.closeWaiters) w(this.lostError)
    this.closeWaiters.clear()
  }

  get alive (): boolean { return !this.closed }

  /** Open the SFTP subsystem. */
  async sftp (): Promise<SFTPWrapper> {
    if (this.lostError !== undefined) throw this.lostError
    return await new Promise((resolve, reject) => {
      this.client.sftp((err, sftp) => { if (err !== undefined && err !== null) reject(err); else resolve(sftp) })
    })
  }

  /**
   * Run `commandLine` and wait for its channel to close. Never rejects: the outcome carries
   * the exit status or signal, or an error (timeout, cancellation, lost connection, refused exec).
   * `commandLine` must be a `supervisedCommandLine`: on timeout or cancellation the remote
   * process group gets TERM, then KILL after `killGraceMs`, then the channel is closed.
   */
  async exec (commandLine: string, o: ExecOptions): Promise<ExecOutcome> {
    if (this.lostError !== undefined) return { error: this.lostError }
    let channel: ClientChannel
    try {
      channel = await new Promise<ClientChannel>((resolve, reject) => {
        const onLost = (err: Error): void => reject(err)
        this.closeWaiters.add(onLost)
        this.client.exec(commandLine, (err, ch) => {
          this.closeWaiters.delete(onLost)
          if (err !== undefined && err !== null) reject(new ExecRefusedError(this.id, { cause: err })); else resolve(ch)
        })
      })
    } catch (err) {
      return { error: err as Error }
    }

    return await new Promise<ExecOutcome>((resolve) => {
      const outcome: ExecOutcome = {}
      let killedFor: Error | undefined
      const timers: NodeJS.Timeout[] = []
      let done = false
      const finish = (): void => {
        if (done) return
        done = true
        for (const t of timers) clearTimeout(t)
        o.signal.removeEventListener('abort', onAbort)
        this.closeWaiters.delete(onLost)
        if (killedFor !== undefined) outcome.error = killedFor
        else if (outcome.exitCode === undefined && outcome.signal === undefined) outcome.error = this.lostError ?? new ConnectionLostError(this.id, { cause: new Error('channel closed without an exit status') })
        resolve(outcome)
      }
      const kill = (reason: Error): void => {
        if (killedFor !== undefined || done) return
        killedFor = reason
        this.logger?.info({ host: this.id, reason: reason.message }, 'killing remote command')
        send('TERM')
        timers.push(setTimeout(() => {
          send('KILL')
          timers.push(setTimeout(() => { channel.close(); finish() }, o.killGraceMs))
        }, o.killGraceMs))
      }
      // the remote supervisor (supervise.ts) reads these lines: SSH `signal` requests are
      // refused by sshd for root sessions, so they are not relied on
      const send = (sig: SupervisorSignal): void => {
        if (channel.writable) channel.write(`${sig}\n`)
      }
      const onAbort = (): void => kill(new CancelledError(this.id, abortReason(o.signal)))
      const onLost = (): void => finish()

      channel.on('data', (chunk: Buffer) => o.onStdout(chunk))
      channel.stderr.on('data', (chunk: Buffer) => o.onStderr(chunk))
      channel.on('exit', (code: number | null, signalName?: string) => {
        if (typeof code === 'number') outcome.exitCode = code
        else if (typeof signalName === 'string') outcome.signal = signalName
      })
      channel.on('close', finish)
      this.closeWaiters.add(onLost)
      if (o.timeoutMs > 0) timers.push(setTimeout(() => kill(new CommandTimeoutError(this.id, o.timeoutMs)), o.timeoutMs))
      if (o.signal.aborted) onAbort(); else o.signal.addEventListener('abort', onAbort, { once: true })
    })
  }

  /** End the connection (politely; destroyed if it does not close within a second). */
  async close (): Promise<void> {
    if (this.closed) return
    await new Promise<void>((resolve) => {
      const t = setTimeout(() => { this.client.destroy(); resolve() }, 1000)
      this.closeWaiters.add(() => { clearTimeout(t); resolve() })
      this.client.end()
    })
  }
}
