/**
 * Scheduler-less jobs on replicated state: rendezvous ranking, leases, takeover, retries with
 * backoff, cancellation, per-kind capacity, live logs over gossip kept with the result.
 *
 * @example
 * const jobs = new JobRunner({ self, meshId, state, members, pubsub, logger })
 * jobs.register('probe', probeHandler(self))
 * await jobs.start()
 * const { id } = await jobs.submit({ kind: 'probe', selector: 'dc=nbg1', spec: { ms: 100 } })
 */
export * from './types.js'
export * from './selector.js'
export * from './runner.js'
export * from './probe.js'
