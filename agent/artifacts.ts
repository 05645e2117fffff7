/**
 * Wires content-addressed artifacts into the agent: the blockstore under the data directory,
 * the block exchange on the agent's libp2p node, names in replicated state, and a file source
 * so the distributor can serve boot files by artifact name.
 */
import { join } from 'node:path'
import { Artifacts } from '../protocols/artifacts/index.js'
import type { BlockSource } from '../protocols/artifacts/exchange.js'
import { Blockstore } from '../store/blockstore.js'
import type { AgentNode } from './node.js'
import type { Replication } from './replication.js'
import type { FileSource } from '../roles/distributor/index.js'
import type { Store } from '../store/index.js'
import type { Logger } from 'pino'

export async function startArtifacts (c: { self: string, dataDir: string, quotaBytes?: number, corruptServedBlocks?: boolean, db: Store, node: AgentNode, replication: Replication, log: Logger }): Promise<Artifacts> {
  const blockstore = await Blockstore.open({
    dir: join(c.dataDir, 'blocks'),
    pins: c.db.sublevel('artifact-pins'),
    refs: c.db.sublevel('artifact-refs'),
    quotaBytes: c.quotaBytes
  })
  const state = c.replication.state
  const artifacts = new Artifacts({
    self: c.self,
    libp2p: c.node,
    routing: c.node.contentRouting,
    blockstore,
    names: { write: async (k, v) => await state.write(k, v), get: k => state.store.get(k), list: p => state.store.list(p) },
    logger: c.log.child({ component: 'artifacts' })
  }, c.corruptServedBlocks === true ? { serveFrom: lyingSource } : {})
  if (c.corruptServedBlocks === true) c.log.warn('test hook: this agent serves corrupted artifact blocks')
  await artifacts.start()
  return artifacts
}

/** Test hook only: serves every block with its first byte flipped. */
function lyingSource (honest: BlockSource): BlockSource {
  return {
    has: cid => honest.has(cid),
    getBytes: async cid => {
      const bytes = Uint8Array.from(await honest.getBytes(cid))
      if (bytes.length > 0) bytes[0] ^= 0xff
      return bytes
    }
  }
}

/**
 * Boot files by artifact name (`<prefix><file>`), fetched through the mesh when absent;
 * a name that does not exist falls through to `fallback` (a directory), if any.
 */
export function artifactFileSource (artifacts: Artifacts, prefix: string, fallback?: FileSource): FileSource {
  return {
    open: async (name, options) => {
      let cid: string
      try {
        cid = artifacts.resolveName(`${prefix}${name}`)
      } catch {
        return await fallback?.open(name, options)
      }
      const { size, body } = await artifacts.cat(cid, { signal: options?.signal })
      return { size, stream: body, close: async () => { await body.return(undefined) } }
    }
  }
}
