/**
 * Claim arbitration that does not depend on gossip being fast. Before an agent that is not the
 * best-ranked candidate of a job's attempt claims it, it asks every better-ranked candidate it
 * is connected to: "have you claimed it?". Each answers `claimed` (it has, or is about to) or
 * `yielded` — and then promises, for the lease time, never to claim that attempt. The lower
 * agent claims only when all of them yielded (or are no longer connected: a dead claimant is
 * what takeover is for). Claim records still decide between agents that cannot reach each
 * other; this closes the window in which a slow gossip let two connected agents both run a job.
 *
 * Wire: `/ctpf/jobs/yield/1.0.0`, one JSON request `{ id, attempt }` and one answer
 * `{ answer: 'claimed' | 'yielded' }`, length-prefixed. Changelog: 1.0.0 (2026-11-22).
 */
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { jsonStream } from '../codec.js'
import type { Libp2p, Stream } from '@libp2p/interface'

export const YIELD_PROTOCOL = '/ctpf/jobs/yield/1.0.0'
const MAX_BYTES = 1024
const requestSchema = z.object({ id: z.string().max(64), attempt: z.number().int().min(1).max(1000) }).strict()
const answerSchema = z.object({ answer: z.enum(['claimed', 'yielded']) }).strict()

export type YieldAnswer = 'claimed' | 'yielded' | 'unreachable' | 'timeout'
export type YieldLibp2p = Pick<Libp2p, 'handle' | 'unhandle' | 'dialProtocol' | 'getConnections'>

/** Serves the question; `decide` must answer synchronously (check-and-promise in one step). */
export async function handleYield (libp2p: YieldLibp2p, decide: (id: string, attempt: number) => 'claimed' | 'yielded'): Promise<void> {
  await libp2p.handle(YIELD_PROTOCOL, async (stream: Stream) => {
    const signal = AbortSignal.timeout(5000)
    try {
      const io = jsonStream(stream, { maxBytes: MAX_BYTES })
      const { id, attempt } = await io.read(requestSchema, { signal })
      await io.write({ answer: decide(id, attempt) }, { signal })
      await stream.close({ signal })
    } catch (err) {
      stream.abort(err as Error)
    }
  }, { runOnLimitedConnection: true, maxInboundStreams: 64 })
}

/** Asks one peer. A peer this agent holds no connection to is `unreachable` (it is not asked). */
export async function askYield (libp2p: YieldLibp2p, peer: string, id: string, attempt: number, timeoutMs: number): Promise<YieldAnswer> {
  if (!libp2p.getConnections().some(c => c.remotePeer.toString() === peer && c.status === 'open')) return 'unreachable'
  const signal = AbortSignal.timeout(timeoutMs)
  let stream: Stream | undefined
  try {
    stream = await libp2p.dialProtocol(peerIdFromString(peer), YIELD_PROTOCOL, { signal, runOnLimitedConnection: true })
    const io = jsonStream(stream, { maxBytes: MAX_BYTES })
    await io.write({ id, attempt }, { signal })
    const { answer } = await io.read(answerSchema, { signal })
    await stream.close({ signal }).catch(() => {})
    return answer
  } catch {
    stream?.abort(new Error('yield question failed'))
    if (signal.aborted) return 'timeout'
    // the connection died while asking: as good as unreachable, unless it is still open
    return libp2p.getConnections().some(c => c.remotePeer.toString() === peer && c.status === 'open') ? 'timeout' : 'unreachable'
  }
}
