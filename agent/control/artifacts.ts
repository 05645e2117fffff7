/**
 * The artifacts routes of the control API. Uploads are raw bodies streamed into the
 * blockstore; downloads stream from it (fetching through the mesh when absent) with Range.
 */
import { z } from 'zod'
import { parseRange } from '../../roles/distributor/http/server.js'
import { HttpError } from './errors.js'
import type { Artifacts, ArtifactProgress } from '../../protocols/artifacts/index.js'
import type { Emitter } from '../../protocols/events.js'
import type { FastifyInstance } from 'fastify'
import { Readable as NodeReadable } from 'node:stream'
import type { Readable } from 'node:stream'

const MAX_UPLOAD = 64 * 1024 ** 3
const nameQuery = z.object({ name: z.string().max(200).optional() })
const cidParam = z.object({ cid: z.string().min(1).max(200) })
const nameBody = z.object({ cid: z.string().min(1).max(200) }).strict()

export function artifactRoutes (app: FastifyInstance, prefix: string, artifacts: Artifacts, events: Emitter<any>, parse: <T>(schema: z.ZodType<T>, value: unknown) => T): void {
  /** Progress of an operation onto the event stream: progress at most 4 times a second, provider news always. */
  const progress = (): ((e: ArtifactProgress) => void) => {
    let last = 0
    return e => {
      if (e.type === 'provider:found' || e.type === 'provider:dropped') { events.emit(e.type, e); return }
      const now = Date.now()
      if (now - last < 250) return
      last = now
      events.emit('artifact:progress', e)
    }
  }

  app.addContentTypeParser('application/octet-stream', (_req, payload, done) => { done(null, payload) })

  /** A CID, or else the (URL-encoded) name of one. */
  const resolve = (ref: string): string => {
    try {
      return artifacts.parseCid(ref).toString()
    } catch (err) {
      if (!ref.includes('/') && !/%2f/i.test(ref) && /^b[a-z2-7]{20,}$/.test(ref)) throw err
      return artifacts.resolveName(decodeURIComponent(ref))
    }
  }

  app.post(`${prefix}/artifacts`, { bodyLimit: MAX_UPLOAD }, async (req) => {
    if (!(req.body instanceof Object) || typeof (req.body as Readable).pipe !== 'function') throw new HttpError('BAD_REQUEST', 'send the file as the raw body with content-type application/octet-stream')
    const { name } = parse(nameQuery, req.query)
    const length = req.headers['content-length']
    const expectedSize = length != null ? Number(length) : undefined
    const added = await artifacts.add(req.body as Readable, { name, expectedSize, onProgress: progress() })
    events.emit('artifact:stored', { ...added, name: name ?? null })
    return added
  })

  app.post(`${prefix}/cars`, { bodyLimit: MAX_UPLOAD }, async (req) => {
    if (!(req.body instanceof Object) || typeof (req.body as Readable).pipe !== 'function') throw new HttpError('BAD_REQUEST', 'send the CAR as the raw body with content-type application/octet-stream')
    return await artifacts.importCar(req.body as Readable)
  })

  app.get(`${prefix}/artifacts`, async () => await artifacts.ls())
  app.post(`${prefix}/artifacts/gc`, async () => await artifacts.gc())
  app.get(`${prefix}/artifacts/:cid/stat`, async req => await artifacts.stat(resolve(parse(cidParam, req.params).cid)))
  app.put(`${prefix}/pins/:cid`, async req => await artifacts.pin(resolve(parse(cidParam, req.params).cid), { onProgress: progress() }))
  app.delete(`${prefix}/pins/:cid`, async req => { await artifacts.unpin(resolve(parse(cidParam, req.params).cid)); return { ok: true } })

  app.get(`${prefix}/artifacts/:cid`, async (req, reply) => {
    const cid = resolve(parse(cidParam, req.params).cid)
    const stat = await artifacts.stat(cid).catch(() => undefined)
    const controller = new AbortController()
    req.raw.on('close', () => { controller.abort() })
    let range: [number, number] | undefined
    if (req.headers.range != null) {
      let size = stat?.local === true ? stat.size : undefined
      if (size == null) {
        await artifacts.fetch(cid, { signal: controller.signal, onProgress: progress() })
        size = (await artifacts.stat(cid)).size ?? 0
      }
      const r = parseRange(req.headers.range, size)
      if (r === 'invalid') {
        void reply.status(416).header('content-range', `bytes */${size}`)
        throw new HttpError('RANGE_NOT_SATISFIABLE', `range ${req.headers.range} is outside 0-${size - 1}`)
      }
      range = r
    }
    const result = await artifacts.cat(cid, { signal: controller.signal, onProgress: progress(), ...(range != null ? { offset: range[0], length: range[1] - range[0] + 1 } : {}) })
    void reply.header('content-type', 'application/octet-stream').header('accept-ranges', 'bytes').header('x-ctpf-cid', cid)
    if (range != null) void reply.status(206).header('content-range', `bytes ${range[0]}-${range[1]}/${result.size}`)
    void reply.header('content-length', String(result.length))
    return await reply.send(streamOf(result.body))
  })

  app.get(`${prefix}/artifacts/:cid/car`, async (req, reply) => {
    const cid = resolve(parse(cidParam, req.params).cid)
    const car = await artifacts.exportCar(cid)
    void reply.header('content-type', 'application/vnd.ipld.car')
    return await reply.send(streamOf(car))
  })

  app.get(`${prefix}/names/*`, async req => {
    const name = (req.params as { '*': string })['*']
    const rec = artifacts.getName(name)
    if (rec == null) throw new HttpError('NOT_FOUND', `no artifact is named ${name}`)
    return rec
  })
  app.put(`${prefix}/names/*`, async req => {
    const name = (req.params as { '*': string })['*']
    return await artifacts.setName(name, resolve(parse(nameBody, req.body).cid))
  })
}

/** An async iterable of bytes as a Node stream fastify can send (destroying it ends the source). */
function streamOf (source: AsyncIterable<Uint8Array>): Readable {
  return NodeReadable.from(source, { objectMode: false })
}
