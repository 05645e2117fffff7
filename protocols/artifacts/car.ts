/**
 * CAR (content-addressed archive, v1) export and import. An export holds the root and every
 * block of its DAG in depth-first order, readable by any IPFS tool (`ipfs dag import`).
 * An import checks every block against its CID and that each root's DAG is complete.
 */
import { CarBlockIterator, CarWriter } from '@ipld/car'
import { BlockstoreError, DAG_PB_CODE, linksOf, verifyBlock } from '../../store/blockstore.js'
import { CarInvalidError } from './errors.js'
import { report } from './progress.js'
import type { OperationOptions } from './progress.js'
import type { Blockstore, Session } from '../../store/blockstore.js'
import type { CID } from 'multiformats/cid'

/** Streams a CAR of the DAG under `root`; every block must be held locally. */
export function exportCar (root: CID, blockstore: Blockstore, options: OperationOptions = {}): AsyncIterable<Uint8Array> {
  const { writer, out } = CarWriter.create([root])
  const write = async (): Promise<void> => {
    const seen = new Set<string>()
    const stack = [root]
    while (stack.length > 0) {
      options.signal?.throwIfAborted()
      const cid = stack.pop() as CID
      const key = cid.toString()
      if (seen.has(key)) continue
      seen.add(key)
      const bytes = await blockstore.getBytes(cid)
      await writer.put({ cid, bytes })
      if (cid.code === DAG_PB_CODE) stack.push(...linksOf(cid, bytes).reverse())
    }
  }
  let failure: unknown
  const done = write().catch(err => { failure = err }).finally(() => { void writer.close() })
  return (async function * () {
    for await (const chunk of out) yield chunk
    await done
    if (failure != null) throw failure
  })()
}

/** Reads a CAR into the blockstore under `session`; returns its roots. The caller pins or rolls back. */
export async function importCar (source: AsyncIterable<Uint8Array>, blockstore: Blockstore, session: Session, options: OperationOptions = {}): Promise<CID[]> {
  let reader: CarBlockIterator
  try {
    reader = await CarBlockIterator.fromIterable(source)
  } catch (err) {
    throw new CarInvalidError('unreadable header', err)
  }
  const roots = await reader.getRoots()
  if (roots.length === 0) throw new CarInvalidError('no root')
  let blocks = 0
  let bytes = 0
  try {
    for await (const block of reader) {
      options.signal?.throwIfAborted()
      verifyBlock(block.cid, block.bytes)
      await blockstore.put(block.cid, block.bytes, { session })
      blocks++
      bytes += block.bytes.byteLength
      if (blocks % 16 === 0) report(options, { type: 'car:progress', bytes, blocks })
    }
  } catch (err) {
    if (err instanceof BlockstoreError && err.code !== 'BLOCK_INVALID' && err.code !== 'CID_UNSUPPORTED') throw err
    if (err instanceof BlockstoreError || options.signal?.aborted !== true) throw new CarInvalidError((err as Error).message, err)
    throw err
  }
  report(options, { type: 'car:progress', bytes, blocks })
  for (const root of roots) {
    try {
      for (const key of (await blockstore.dagBlocks(root)).keys()) session.held.add(key)
    } catch (err) {
      throw new CarInvalidError(`the DAG of root ${root} is incomplete`, err)
    }
  }
  return roots
}
