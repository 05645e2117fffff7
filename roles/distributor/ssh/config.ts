/** Options of `runOnHosts` (zod), validated once per run; invalid options throw `SshConfigError`. */
import { z } from 'zod'
import { SshConfigError } from './errors.js'
import type { Upload } from './upload.js'

/** Any bytes, Buffer included (`z.instanceof(Uint8Array)` would demand an ArrayBuffer-backed one). */
const Bytes = z.custom<Uint8Array>(v => v instanceof Uint8Array, 'bytes (a Buffer or Uint8Array)')

const HostSchema = z.object({
  /** Registry id of the host (results and output lines carry it). */
  id: z.string().min(1),
  /** IP address or name to connect to. */
  address: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(22),
  user: z.string().min(1).regex(/^[^\s@:]+$/, 'a user name without spaces, @ or :'),
  /** Pinned host key: an OpenSSH public key line (`ssh-ed25519 AAAA…`) or its `SHA256:…` fingerprint. */
  hostKey: z.string().min(1)
}).strict()

function isUpload (v: unknown): v is Upload {
  if (typeof v !== 'object' || v === null) return false
  const u = v as Record<string, unknown>
  if (typeof u.path !== 'string' || !u.path.startsWith('/')) return false
  if (u.mode !== undefined && (typeof u.mode !== 'number' || !Number.isInteger(u.mode) || u.mode < 0 || u.mode > 0o7777)) return false
  const hasContent = typeof u.content === 'string' || u.content instanceof Uint8Array
  const hasStream = typeof u.stream === 'function'
  if (u.content !== undefined && !hasContent) return false
  if (u.stream !== undefined && !hasStream) return false
  return hasContent !== hasStream
}

const UploadSchema = z.custom<Upload>(isUpload, 'an upload needs an absolute path, exactly one of content (string or bytes) and stream (a function), and an optional mode 0–0o7777')

export const RunOptionsSchema = z.object({
  hosts: z.array(HostSchema).min(1),
  /** The datacenter key (OpenSSH or PEM private key). Never logged. */
  privateKey: Bytes,
  /** Program and arguments; each word is quoted for the remote shell. */
  command: z.array(z.string()).min(1).optional(),
  /** A script, uploaded to a fresh temp path, run (directly, or as `interpreter… PATH`), then removed. */
  script: z.object({
    content: z.union([z.string(), Bytes]),
    interpreter: z.array(z.string()).min(1).optional()
  }).strict().optional(),
  /** Files put in place on each host before the command or script runs. */
  uploads: z.array(UploadSchema).default([]),
  /** Variables exported in the remote command line. */
  env: z.record(z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'a shell identifier'), z.string()).default({}),
  /** Hosts worked on at once. */
  concurrency: z.number().int().min(1).max(1000).default(16),
  /** Longest a command may run, from exec to exit; 0 = no limit. */
  timeoutMs: z.number().int().min(0).default(600_000),
  /** TCP connect + SSH handshake + authentication. */
  connectTimeoutMs: z.number().int().min(1).default(15_000),
  /** After one host fails, cancel the others (running commands are killed). */
  failFast: z.boolean().default(false),
  /** TERM → KILL → close-channel spacing when a command is killed. */
  killGraceMs: z.number().int().min(0).default(2000),
  /** SSH keepalives: a silent peer is declared lost after interval × (countMax + 1). */
  keepaliveIntervalMs: z.number().int().min(0).default(15_000),
  keepaliveCountMax: z.number().int().min(0).default(3),
  /** Characters of stdout/stderr kept per host in the result (the tail). */
  tailChars: z.number().int().min(0).default(64 * 1024),
  /** Longer lines are delivered to `onOutput` in pieces of this size. */
  maxLineChars: z.number().int().min(1).default(64 * 1024),
  /** Where scripts are put on the host (must allow exec unless `interpreter` is given). */
  remoteTempDir: z.string().regex(/^\//, 'an absolute path').default('/tmp')
}).strict()
  .refine(o => (o.command === undefined) !== (o.script === undefined), 'exactly one of command and script')
  .refine(o => new Set(o.hosts.map(h => h.id)).size === o.hosts.length, 'host ids must be unique')

export type RunOptionsInit = z.input<typeof RunOptionsSchema>
export type RunOptions = z.output<typeof RunOptionsSchema>

export function parseRunOptions (init: unknown): RunOptions {
  const result = RunOptionsSchema.safeParse(init)
  if (!result.success) {
    // never echo input values: the private key is among them
    const where = result.error.issues.map(i => `${i.path.join('.') || '(options)'}: ${i.message}`).join('; ')
    throw new SshConfigError(`invalid SSH run options: ${where}`)
  }
  return result.data
}
