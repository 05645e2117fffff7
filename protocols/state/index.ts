/**
 * Replicated state: a keyspace of signed records with last-writer-wins merge on a hybrid
 * logical clock, write rules per key prefix, gossip of every write and digest-based
 * anti-entropy. Persisted in level; watchers inside the agent follow prefixes.
 *
 * @example
 * const rules = new WriteRules().allow('jobs/', 'member')
 * const store = new StateStore({ meshId, self, privateKey, persist: db.sublevel('state'), rules, authority })
 * await store.load()
 * const state = new StateService({ store, meshId, isMember, libp2p, pubsub, logger })
 * await state.start()
 * await state.write('jobs/abc', { kind: 'probe' })
 * store.watch('jobs/', r => console.info(r.key, r.value))
 */
export * from './errors.js'
export * from './hlc.js'
export * from './records.js'
export * from './rules.js'
export * from './store.js'
export * from './service.js'
