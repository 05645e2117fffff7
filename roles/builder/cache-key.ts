/**
 * The build cache key: sha256 over the canonical JSON (object keys sorted, no whitespace) of
 * everything that decides a build's outputs — source CID, recipe name and version, variables,
 * targets, recipe params, the outputs asked for, and the toolchain fingerprint.
 */
import { createHash } from 'node:crypto'

/** Bump when the key's inputs change shape: old entries then simply miss. */
export const CACHE_KEY_VERSION = 1

export interface CacheKeyInput {
  source: string | null
  recipe: { name: string, version: string }
  vars: Readonly<Record<string, string>>
  targets: readonly string[]
  params: unknown
  outputs: readonly string[]
  toolchain: Readonly<Record<string, string>>
}

/** JSON with object keys sorted at every level; `undefined` members are left out. */
export function canonicalJson (value: unknown): string {
  if (value === null || typeof value !== 'object') {
    if (typeof value === 'number' && !Number.isFinite(value)) throw new TypeError('non-finite number in canonical JSON')
    return JSON.stringify(value) ?? 'null'
  }
  if (Array.isArray(value)) return `[${value.map(v => canonicalJson(v === undefined ? null : v)).join(',')}]`
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, v]) => v !== undefined)
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(',')}}`
}

/** `sha256:<hex>` of the canonical JSON of the inputs. */
export function buildCacheKey (input: CacheKeyInput): string {
  const json = canonicalJson({ v: CACHE_KEY_VERSION, ...input })
  return `sha256:${createHash('sha256').update(json).digest('hex')}`
}
