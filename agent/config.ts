/**
 * The agent's configuration: read once from flags, then the environment, then a config file
 * (earlier sources win), validated, frozen, and passed down. Only this file reads process.env.
 *
 * Environment: CTPF_DATA_DIR, CTPF_LISTEN (comma-separated), CTPF_ANNOUNCE, CTPF_CONTROL,
 * CTPF_TAGS (k=v,k=v), CTPF_JOIN_TOKEN, CTPF_JOIN_FILE, CTPF_LOG_LEVEL, CTPF_CONFIG.
 * File: --config FILE, CTPF_CONFIG, or <data-dir>/config.json; keys as in AgentConfig.
 */
import { readFileSync, existsSync } from 'node:fs'
import { join as joinPath, resolve } from 'node:path'
import { multiaddr } from '@multiformats/multiaddr'
import { z } from 'zod'
import { tagsSchema } from '../protocols/membership/index.js'
import { ConfigError } from './errors.js'
import { parseIpPrefix } from '../protocols/overlay/index.js'

const validPrefix = (text: string): boolean => { try { parseIpPrefix(text); return true } catch { return false } }

export const DEFAULT_DATA_DIR = '.ctpf'

const multiaddrSchema = z.string().refine(s => { try { multiaddr(s); return true } catch { return false } }, 'not a multiaddr')
const loopback = /^(127\.\d{1,3}\.\d{1,3}\.\d{1,3}|::1|localhost)$/

const controlSchema = z.object({
  host: z.string().regex(loopback, 'the control endpoint listens on loopback only (127.0.0.0/8, ::1, localhost)'),
  port: z.number().int().min(0).max(65535)
}).strict()

export const agentConfigSchema = z.object({
  dataDir: z.string().min(1),
  listen: z.array(multiaddrSchema).min(1),
  announce: z.array(multiaddrSchema),
  control: controlSchema,
  tags: tagsSchema,
  /** Tags given explicitly (flags, env or file): only then are they (re)published at start. */
  tagsGiven: z.boolean(),
  join: z.string().max(8192).optional(),
  logLevel: z.enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent']),
  /** CTPF_TEST_HOOKS=1: routes under /v1/test that tests use to cut connections. Never in production. */
  testHooks: z.boolean(),
  /** With test hooks only (CTPF_TEST_CORRUPT_BLOCKS=1): serve artifact blocks with a byte flipped — a lying provider. */
  testCorruptBlocks: z.boolean(),
  distributor: z.unknown().optional(),
  /** Most bytes of artifact blocks this agent keeps; unlimited when absent. */
  artifactQuotaBytes: z.number().int().positive().optional(),
  /** The overlay section (config file `overlay`): on by default where the agent may create a TUN. */
  overlay: z.object({
    enabled: z.boolean().default(true),
    /** The mesh's IPv4 range for overlay addresses, e.g. 100.96.0.0/16 (the same on every agent). */
    range: z.string().regex(/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/).optional(),
    /** LAN prefixes (IPv4 or IPv6) this agent routes for hosts behind it that run no agent. */
    routes: z.array(z.string().refine(validPrefix, 'an IPv4 or IPv6 prefix, e.g. 192.168.10.0/24 or fd00:10::/64')).max(64).optional(),
    tunName: z.string().regex(/^[A-Za-z0-9_-]{1,15}$/).optional(),
    /** The mesh domain of overlay names, `<name>.<dc>.<domain>` (default ctpf.internal; the same on every agent). */
    domain: z.string().regex(/^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)+$/).optional(),
    /** Serve overlay names on the overlay addresses, port 53 (default true). */
    dns: z.boolean().optional()
  }).strict().optional()
}).strict()

export type AgentConfig = Readonly<z.infer<typeof agentConfigSchema>>

export interface AgentFlags {
  dataDir?: string
  listen?: string[]
  announce?: string[]
  control?: string
  tag?: string[]
  join?: string
  joinFile?: string
  logLevel?: string
  config?: string
}

const fileSchema = z.object({
  listen: z.array(z.string()).optional(),
  announce: z.array(z.string()).optional(),
  control: z.string().optional(),
  tags: z.record(z.string(), z.string()).optional(),
  joinFile: z.string().optional(),
  logLevel: z.string().optional(),
  /** The distributor role's section; validated by roles/distributor's schema. */
  distributor: z.unknown().optional(),
  artifactQuotaMiB: z.number().int().positive().optional(),
  overlay: z.unknown().optional()
}).strict()

export function parseHostPort (text: string): { host: string, port: number } {
  const m = /^(?:\[([^\]]+)\]|([^:]+)):(\d+)$/.exec(text.trim())
  if (m == null) throw new ConfigError(`control address "${text}" is not HOST:PORT`)
  return { host: m[1] ?? m[2], port: Number(m[3]) }
}

export function parseTags (pairs: string[]): Record<string, string> {
  const tags: Record<string, string> = {}
  for (const pair of pairs) {
    const i = pair.indexOf('=')
    if (i <= 0) throw new ConfigError(`tag "${pair}" is not key=value`)
    tags[pair.slice(0, i).trim()] = pair.slice(i + 1).trim()
  }
  return tags
}

const list = (v: string | undefined): string[] | undefined => v == null || v === '' ? undefined : v.split(',').map(s => s.trim()).filter(Boolean)

function readSecretFile (path: string): string {
  try {
    return readFileSync(path, 'utf8').trim()
  } catch (err) {
    throw new ConfigError(`cannot read join token file ${path}: ${(err as Error).message}`)
  }
}

/** Builds the frozen config. `env` defaults to process.env; tests pass their own. */
export function loadConfig (flags: AgentFlags, env: NodeJS.ProcessEnv = process.env): AgentConfig {
  const dataDir = resolve(flags.dataDir ?? env.CTPF_DATA_DIR ?? DEFAULT_DATA_DIR)
  const configPath = flags.config ?? env.CTPF_CONFIG ?? joinPath(dataDir, 'config.json')
  let file: z.infer<typeof fileSchema> = {}
  if (existsSync(configPath)) {
    let raw: unknown
    try {
      raw = JSON.parse(readFileSync(configPath, 'utf8'))
    } catch (err) {
      throw new ConfigError(`config file ${configPath} is not valid JSON: ${(err as Error).message}`)
    }
    const parsed = fileSchema.safeParse(raw)
    if (!parsed.success) throw new ConfigError(`config file ${configPath}: ${describeIssues(parsed.error)}`)
    file = parsed.data
  } else if (flags.config != null || env.CTPF_CONFIG != null) {
    throw new ConfigError(`config file ${configPath} does not exist`)
  }

  const flagTags = flags.tag != null && flags.tag.length > 0 ? parseTags(flags.tag) : undefined
  const envTags = list(env.CTPF_TAGS) != null ? parseTags(list(env.CTPF_TAGS) as string[]) : undefined
  const tags = flagTags ?? envTags ?? file.tags
  const joinFile = flags.joinFile ?? env.CTPF_JOIN_FILE ?? file.joinFile
  const join = flags.join ?? env.CTPF_JOIN_TOKEN ?? (joinFile != null ? readSecretFile(joinFile) : undefined)

  const candidate = {
    dataDir,
    listen: flags.listen?.length ? flags.listen : list(env.CTPF_LISTEN) ?? file.listen ?? ['/ip4/127.0.0.1/tcp/0'],
    announce: flags.announce?.length ? flags.announce : list(env.CTPF_ANNOUNCE) ?? file.announce ?? [],
    control: parseHostPort(flags.control ?? env.CTPF_CONTROL ?? file.control ?? '127.0.0.1:0'),
    tags: tags ?? {},
    tagsGiven: tags != null,
    join,
    logLevel: flags.logLevel ?? env.CTPF_LOG_LEVEL ?? file.logLevel ?? 'info',
    testHooks: env.CTPF_TEST_HOOKS === '1',
    testCorruptBlocks: env.CTPF_TEST_HOOKS === '1' && env.CTPF_TEST_CORRUPT_BLOCKS === '1',
    distributor: file.distributor,
    artifactQuotaBytes: file.artifactQuotaMiB != null ? file.artifactQuotaMiB * 1024 * 1024 : undefined,
    overlay: file.overlay
  }
  const parsed = agentConfigSchema.safeParse(candidate)
  if (!parsed.success) throw new ConfigError(`invalid configuration: ${describeIssues(parsed.error)}`)
  return Object.freeze({ ...parsed.data, listen: Object.freeze([...parsed.data.listen]) as string[], announce: Object.freeze([...parsed.data.announce]) as string[], control: Object.freeze(parsed.data.control), tags: Object.freeze(parsed.data.tags) })
}

export function describeIssues (error: z.ZodError): string {
  return error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')
}

/** Where the CLI finds a running agent: flags, then environment, then the default. */
export function resolveDataDir (flag: string | undefined, env: NodeJS.ProcessEnv = process.env): string {
  return resolve(flag ?? env.CTPF_DATA_DIR ?? DEFAULT_DATA_DIR)
}
