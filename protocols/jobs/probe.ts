/** The built-in `probe` job: waits `ms`, returns `{ peerId, payload }`. Shows where a selector lands. */
import { z } from 'zod'
import type { JobHandler } from './runner.js'

export const probeSpecSchema = z.object({ ms: z.number().int().min(0).max(3600_000).default(0), payload: z.unknown().optional() }).strict()

export function probeHandler (peerId: string, onRun?: () => void): JobHandler {
  return async ({ spec, signal, log }) => {
    const { ms, payload } = probeSpecSchema.parse(spec ?? {})
    onRun?.()
    log(`probe on ${peerId}, waiting ${ms} ms`)
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, ms)
      signal.addEventListener('abort', () => { clearTimeout(t); reject(signal.reason ?? new Error('cancelled')) }, { once: true })
    })
    log('probe done')
    return { peerId, payload: payload ?? null }
  }
}
