/**
 * The agent's level database: one directory, JSON values, key prefixes per concern
 * (sublevels). A schema-version key is checked at open and written on a fresh store.
 *
 * @example
 * const store = await openStore('/var/lib/ctpf/db')
 * const members = store.sublevel<MemberRecord>('members')
 * await members.put(peerId, record)
 */
import { Level } from 'level'
import type { AbstractLevel } from 'abstract-level'
import { StoreCorruptError, StoreLockedError, StoreSchemaError } from './errors.js'

export const SCHEMA_VERSION = 1
const SCHEMA_KEY = 'meta:schema'

export interface Sublevel<V> {
  get: (key: string) => Promise<V | undefined>
  put: (key: string, value: V) => Promise<void>
  del: (key: string) => Promise<void>
  entries: () => AsyncIterable<[string, V]>
  batch: (ops: Array<{ type: 'put', key: string, value: V } | { type: 'del', key: string }>) => Promise<void>
}

export interface Store {
  sublevel: <V>(name: string) => Sublevel<V>
  /** The level sublevel itself, for stores that manage their own encodings and batches (leases). */
  raw: (name: string) => AbstractLevel<any, string, any>
  close: () => Promise<void>
}

function codeOf (err: unknown): string | undefined {
  const e = err as { code?: string, cause?: { code?: string } }
  return e?.cause?.code ?? e?.code
}

export async function openStore (dir: string): Promise<Store> {
  const db = new Level<string, unknown>(dir, { valueEncoding: 'json' })
  try {
    await db.open()
  } catch (err) {
    if (codeOf(err) === 'LEVEL_LOCKED') throw new StoreLockedError(dir, err)
    throw new StoreCorruptError(dir, err)
  }
  let version: unknown
  try {
    version = await db.get(SCHEMA_KEY)
  } catch (err) {
    await db.close()
    throw new StoreCorruptError(dir, err)
  }
  if (version === undefined) {
    await db.put(SCHEMA_KEY, SCHEMA_VERSION)
  } else if (version !== SCHEMA_VERSION) {
    await db.close()
    throw new StoreSchemaError(dir, String(version), SCHEMA_VERSION)
  }

  return {
    sublevel<V>(name: string): Sublevel<V> {
      const sub = db.sublevel<string, V>(name, { valueEncoding: 'json' })
      return {
        get: async key => await sub.get(key),
        put: async (key, value) => { await sub.put(key, value) },
        del: async key => { await sub.del(key) },
        entries: () => sub.iterator(),
        batch: async ops => { await sub.batch(ops) }
      }
    },
    raw: (name: string) => db.sublevel<string, any>(name, {}) as unknown as AbstractLevel<any, string, any>,
    close: async () => { await db.close() }
  }
}
