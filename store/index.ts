/**
 * Persistence for the agent: a level database under the data directory.
 *
 * @example
 * import { openStore } from '../store/index.js'
 * const store = await openStore(join(dataDir, 'db'))
 */
export { openStore, SCHEMA_VERSION } from './db.js'
export type { Store, Sublevel } from './db.js'
export * from './errors.js'
