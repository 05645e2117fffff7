/**
 * In-memory / directory fakes of the builder's components: sources are host directories
 * copied into the job dir, outputs are kept in memory by CID (CIDv1 raw sha2-256 of the
 * bytes), the cache is a Map. Each counts its calls so tests can prove what ran.
 */
import { createHash } from 'node:crypto'
import { cp, readFile } from 'node:fs/promises'
import { CID } from 'multiformats/cid'
import * as raw from 'multiformats/codecs/raw'
import { sha256 } from 'multiformats/hashes/sha2'
import type { BuildComponents, BuildResult } from '../../../roles/builder/index.js'

export interface FakeComponents extends BuildComponents {
  sources: Map<string, string>
  stored: Map<string, Uint8Array>
  storedNames: string[]
  entries: Map<string, BuildResult>
  calls: { fetch: number, store: number, get: number, put: number }
  /** Register a host directory as a source artifact; returns its (fake but valid) CID. */
  addSource: (dir: string) => string
}

export function fakeComponents (): FakeComponents {
  const sources = new Map<string, string>()
  const stored = new Map<string, Uint8Array>()
  const storedNames: string[] = []
  const entries = new Map<string, BuildResult>()
  const calls = { fetch: 0, store: 0, get: 0, put: 0 }
  return {
    sources,
    stored,
    storedNames,
    entries,
    calls,
    addSource: (dir) => {
      const digest = createHash('sha256').update(`dir:${dir}`).digest()
      const cid = CID.createV1(raw.code, { code: sha256.code, size: 32, digest, bytes: new Uint8Array([sha256.code, 32, ...digest]) }).toString()
      sources.set(cid, dir)
      return cid
    },
    fetchSource: async (cid, dir, { signal }) => {
      calls.fetch++
      signal.throwIfAborted()
      const from = sources.get(cid)
      if (from === undefined) throw new Error(`no such source ${cid}`)
      await cp(from, dir, { recursive: true })
    },
    storeOutput: async (path, { signal, name }) => {
      calls.store++
      signal.throwIfAborted()
      const bytes = new Uint8Array(await readFile(path))
      const cid = CID.createV1(raw.code, await sha256.digest(bytes)).toString()
      stored.set(cid, bytes)
      storedNames.push(name)
      return { cid, size: bytes.length }
    },
    cache: {
      get: async (key) => { calls.get++; return entries.get(key) },
      put: async (key, result) => { calls.put++; entries.set(key, result) }
    }
  }
}
