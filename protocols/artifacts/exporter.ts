/**
 * Reading content back: the bytes of a UnixFS file (or a single raw block) by CID, whole or
 * a byte range (`{ offset, length }`, for HTTP Range). Reads only local blocks: make sure the
 * DAG is complete first (the service fetches it).
 */
import { exporter } from 'ipfs-unixfs-exporter'
import { BlockstoreError } from '../../store/blockstore.js'
import { NotAFileError, RangeNotSatisfiableError } from './errors.js'
import type { Blockstore } from '../../store/blockstore.js'
import type { CID } from 'multiformats/cid'

export interface ByteRange { offset?: number, length?: number }

/** Size of the file behind a CID, from its root block. */
export async function fileSize (cid: CID, blockstore: Pick<Blockstore, 'get'>, signal?: AbortSignal): Promise<number> {
  const entry = await exporter(cid, blockstore, { signal }).catch(unwrap)
  if (entry.type !== 'file' && entry.type !== 'raw' && entry.type !== 'identity') throw new NotAFileError(cid.toString(), entry.type)
  return Number(entry.size)
}

/** Checks a range against a size; returns the resolved `{ offset, length }`. */
export function resolveRange (size: number, range: ByteRange = {}): { offset: number, length: number } {
  const offset = range.offset ?? 0
  if (!Number.isSafeInteger(offset) || offset < 0 || (offset >= size && !(offset === 0 && size === 0))) throw new RangeNotSatisfiableError(size, offset, range.length)
  const length = range.length ?? size - offset
  if (!Number.isSafeInteger(length) || length < 0) throw new RangeNotSatisfiableError(size, offset, range.length)
  return { offset, length: Math.min(length, size - offset) }
}

/** Streams the bytes of a file, or of a range of it. */
export async function * readContent (cid: CID, blockstore: Pick<Blockstore, 'get'>, range: ByteRange = {}, signal?: AbortSignal): AsyncGenerator<Uint8Array> {
  const entry = await exporter(cid, blockstore, { signal }).catch(unwrap)
  if (entry.type !== 'file' && entry.type !== 'raw' && entry.type !== 'identity') throw new NotAFileError(cid.toString(), entry.type)
  const { offset, length } = resolveRange(Number(entry.size), range)
  if (length === 0) return
  try {
    yield * entry.content({ offset, length, signal })
  } catch (err) { unwrap(err) }
}

function unwrap (err: unknown): never {
  for (let e: unknown = err; e != null; e = (e as { cause?: unknown }).cause) if (e instanceof BlockstoreError) throw e
  throw err
}
