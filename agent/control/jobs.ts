/** The jobs routes of the control API: submit, list, show, cancel, and logs (followed live). */
import { jobIdSchema, jobSubmitSchema } from './api.js'
import { HttpError } from './errors.js'
import type { JobsApi } from './api.js'
import type { FastifyInstance } from 'fastify'
import type { z } from 'zod'

export function jobRoutes (app: FastifyInstance, prefix: string, jobs: JobsApi, parse: <T>(schema: z.ZodType<T>, value: unknown) => T): void {
  const find = (params: unknown): ReturnType<JobsApi['get']> & object => {
    const { id } = parse(jobIdSchema, params)
    const job = jobs.get(id)
    if (job == null) throw new HttpError('NOT_FOUND', `no job ${id}`)
    return job
  }

  app.post(`${prefix}/jobs`, async req => {
    const body = parse(jobSubmitSchema, req.body)
    const job = await jobs.submit(body)
    return { id: job.id }
  })
  app.get(`${prefix}/jobs`, async () => jobs.list())
  app.get(`${prefix}/jobs/:id`, async req => find(req.params))
  app.delete(`${prefix}/jobs/:id`, async req => {
    const job = find(req.params)
    return await jobs.cancel(job.id)
  })

  // newline-delimited JSON: the lines kept so far, then (follow=1) live lines until the job ends
  app.get(`${prefix}/jobs/:id/logs`, (req, reply) => {
    const job = find(req.params)
    const follow = (req.query as { follow?: string }).follow === '1'
    reply.hijack()
    const res = reply.raw
    res.writeHead(200, { 'content-type': 'application/x-ndjson', 'cache-control': 'no-cache' })
    const sent = new Set<number>()
    const send = (l: { seq: number }): void => {
      if (sent.has(l.seq)) return
      sent.add(l.seq)
      res.write(JSON.stringify(l) + '\n')
    }
    for (const l of jobs.logs(job.id)) send(l)
    if (!follow || jobs.isFinished(job.id)) { res.end(); return }
    const offLog = jobs.onLog(job.id, send)
    const offEnd = jobs.onFinished(job.id, () => {
      // lines may still be in flight on gossip: give them a moment, then add the stored ones
      setTimeout(() => { for (const l of jobs.logs(job.id)) send(l); close() }, 300)
    })
    const close = (): void => { offLog(); offEnd(); res.end() }
    req.raw.on('close', () => { offLog(); offEnd() })
  })
}
