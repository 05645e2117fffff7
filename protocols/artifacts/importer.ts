/**
 * Adding content: a file's bytes become a UnixFS DAG (CIDv1, sha2-256, raw leaves of fixed
 * size, balanced tree — the `unixfs-v1-2025` profile, so `ipfs add --cid-version 1
 * --chunker size-1048576 --raw-leaves` gives the same CID). Streaming: memory stays bounded
 * by the chunk size times the importer's write concurrency, whatever the size of the input.
 */
import { importFile } from 'ipfs-unixfs-importer'
import { fixedSize } from 'ipfs-unixfs-importer/chunker'
import { BlockstoreError } from '../../store/blockstore.js'
import { AbortedError, UploadTruncatedError } from './errors.js'
import { report } from './progress.js'
import type { OperationOptions } from './progress.js'
import type { Blockstore, Session } from '../../store/blockstore.js'
import type { CID } from 'multiformats/cid'

export const DEFAULT_CHUNK_SIZE = 1024 * 1024

export type AddSource = Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>

export interface AddOptions extends OperationOptions {
  /** When given, an input of any other length fails with UPLOAD_TRUNCATED. */
  expectedSize?: number
  chunkSize?: number
}

/** Imports content into the blockstore under `session`. The caller pins or rolls back. */
export async function importContent (source: AddSource, blockstore: Blockstore, session: Session, options: AddOptions = {}): Promise<{ cid: CID, size: number }> {
  let bytes = 0
  let blocks = 0
  const signal = options.signal
  async function * counted (): AsyncGenerator<Uint8Array> {
    const input = source instanceof Uint8Array ? [source] : source
    try {
      for await (const chunk of input) {
        signal?.throwIfAborted()
        bytes += chunk.byteLength
        yield chunk
      }
    } catch (err) {
      if (signal?.aborted === true) throw new AbortedError('adding content', err)
      throw new UploadTruncatedError(bytes, options.expectedSize, err)
    }
    if (options.expectedSize != null && bytes !== options.expectedSize) throw new UploadTruncatedError(bytes, options.expectedSize)
  }
  const writable = {
    put: async (cid: CID, block: Uint8Array | Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<CID> => {
      signal?.throwIfAborted()
      const data = block instanceof Uint8Array ? block : await concat(block)
      await blockstore.put(cid, data, { session })
      blocks++
      if (blocks % 16 === 0) report(options, { type: 'add:progress', bytes, blocks })
      return cid
    }
  }
  try {
    const result = await importFile({ content: counted() }, writable, {
      profile: 'unixfs-v1-2025',
      chunker: fixedSize({ chunkSize: options.chunkSize ?? DEFAULT_CHUNK_SIZE })
    })
    report(options, { type: 'add:progress', bytes, blocks })
    return { cid: result.cid, size: bytes }
  } catch (err) {
    throw unwrap(err, signal)
  }
}

/** The importer may wrap our errors; hand back the typed one. */
function unwrap (err: unknown, signal?: AbortSignal): unknown {
  for (let e: unknown = err; e != null; e = (e as { cause?: unknown }).cause) {
    if (e instanceof UploadTruncatedError || e instanceof AbortedError || e instanceof BlockstoreError) return e
  }
  if (signal?.aborted === true) return new AbortedError('adding content', err)
  return err
}

async function concat (chunks: Iterable<Uint8Array> | AsyncIterable<Uint8Array>): Promise<Uint8Array> {
  const parts: Uint8Array[] = []
  for await (const c of chunks) parts.push(c)
  return Buffer.concat(parts)
}
