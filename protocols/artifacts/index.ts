/**
 * Content-addressed artifacts: files as UnixFS DAGs (CIDv1, sha2-256, 1 MiB raw leaves), an
 * on-disk blockstore with pins, GC and a quota (store/blockstore.ts), a binary block exchange
 * (`/ctpf/blocks/1.0.0`), a swarming multi-provider fetcher that verifies every block, CAR
 * export/import and mutable names in replicated state (`names/…`).
 *
 * @example
 * const blockstore = await Blockstore.open({ dir: join(dataDir, 'blocks'), pins: db.sublevel('artifact-pins'), refs: db.sublevel('artifact-refs'), quotaBytes })
 * const artifacts = new Artifacts({
 *   self: peerId, libp2p: node, routing: node.contentRouting, blockstore,
 *   names: { write: (k, v) => state.write(k, v), get: k => state.store.get(k) },
 *   logger: log.child({ component: 'artifacts' })
 * })
 * await artifacts.start()
 * const { cid } = await artifacts.add(createReadStream('undionly.kpxe'), { name: 'ipxe/undionly.kpxe' })
 * const { size, body } = await artifacts.cat(cid, { offset: 0, length: 1024, onProgress: e => console.info(e) })
 */
export * from './errors.js'
export { Artifacts } from './service.js'
export type { ArtifactsComponents, ArtifactsInit, ArtifactStat, CatResult, FetchCallOptions } from './service.js'
export { BlockExchange, ProviderStream, openBlockStream, BLOCKS_PROTOCOL } from './exchange.js'
export type { BlockSource, ExchangeComponents, ExchangeInit, ExchangeMetrics } from './exchange.js'
export { fetchDag } from './fetch.js'
export type { FetchComponents, FetchOptions, FetchResult, Routing } from './fetch.js'
export { importContent, DEFAULT_CHUNK_SIZE } from './importer.js'
export type { AddOptions, AddSource } from './importer.js'
export { readContent, fileSize, resolveRange } from './exporter.js'
export type { ByteRange } from './exporter.js'
export { exportCar, importCar } from './car.js'
export { Names, NAMES_PREFIX, HISTORY_LENGTH, checkName } from './names.js'
export type { NameEntry, NameRecord, NameState } from './names.js'
export type { ArtifactProgress, OperationOptions } from './progress.js'
