import { createSocket } from 'node:dgram'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { fetchFile, TFTP_ERROR } from '../../../protocols/tftp/index.js'
import {
  createTftpServer, type FileSource, type OpenedFile, type TransferFailedEvent
} from '../../../roles/distributor/tftp/index.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { RawClient, directory, makeTree, silentLogger, startServer, type Tree } from './tftp-helpers.js'

let tree: Tree
beforeAll(async () => { tree = await makeTree() })
afterAll(async () => { await tree.cleanup() })

async function portIsFree (port: number): Promise<boolean> {
  const s = createSocket('udp4')
  return await new Promise(resolve => {
    s.once('error', () => { resolve(false) })
    s.bind(port, '127.0.0.1', () => { s.close(() => { resolve(true) }) })
  })
}

describe('TFTP server lifecycle', () => {
  it('start and stop are both safe to call twice, and the server restarts on the same port', async () => {
    const { server, port } = await startServer({}, directory(tree.root))
    await server.start()
    expect(server.address?.port).toBe(port)
    await Promise.all([server.stop(), server.stop()])
    await server.stop()
    expect(server.address).toBeUndefined()
    expect(await portIsFree(port)).toBe(true)
    const again = createTftpServer({ address: '127.0.0.1', port }, { logger: silentLogger, files: directory(tree.root) })
    await again.start()
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'small.bin' })
    expect(r.data.length).toBe(1000)
    await again.stop()
  })

  it('stop ends running transfers, tells their clients, and closes their sockets', async () => {
    const { server, port } = await startServer({ timeoutMs: 5000 }, directory(tree.root))
    const failed = new Promise<TransferFailedEvent>(resolve => server.once('transfer:failed', resolve))
    const c = await RawClient.open()
    try {
      c.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }, port)
      const first = await c.next()
      const tid = first?.rinfo.port as number
      expect(server.metrics.activeSessions).toBe(1)
      await server.stop()
      expect((await failed).error.code).toBe('ERR_TFTP_SERVER_STOPPED')
      expect((await c.next())?.packet).toMatchObject({ type: 'ERROR', code: TFTP_ERROR.NOT_DEFINED })
      expect(server.metrics.activeSessions).toBe(0)
      await new Promise(resolve => setTimeout(resolve, 50))
      expect(await portIsFree(tid)).toBe(true)
    } finally { await c.close() }
  })

  it('rejects invalid configuration with a typed error', () => {
    const files = directory(tree.root)
    expect(() => createTftpServer({ port: 70000 }, { logger: silentLogger, files })).toThrow(expect.objectContaining({ code: 'ERR_TFTP_CONFIG' }))
    expect(() => createTftpServer({ address: 'not-an-ip' }, { logger: silentLogger, files })).toThrow(expect.objectContaining({ code: 'ERR_TFTP_CONFIG' }))
    expect(() => createTftpServer({ maxBlksize: 4 }, { logger: silentLogger, files })).toThrow(expect.objectContaining({ code: 'ERR_TFTP_CONFIG' }))
    expect(() => createTftpServer({ extra: 1 } as never, { logger: silentLogger, files })).toThrow(expect.objectContaining({ code: 'ERR_TFTP_CONFIG' }))
  })

  it('reports a port in use with a typed error', async () => {
    const { server, port } = await startServer({}, directory(tree.root))
    const second = createTftpServer({ address: '127.0.0.1', port }, { logger: silentLogger, files: directory(tree.root) })
    await expect(second.start()).rejects.toMatchObject({ code: 'ERR_TFTP_ADDRESS_IN_USE' })
    await second.stop()
    await server.stop()
  })

  it('drops requests beyond maxSessions and counts them', async () => {
    const { server, port } = await startServer({ maxSessions: 1, timeoutMs: 5000 }, directory(tree.root))
    const a = await RawClient.open()
    const b = await RawClient.open()
    try {
      a.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }, port)
      expect((await a.next())?.packet.type).toBe('DATA')
      b.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }, port)
      expect(await b.next(300)).toBeUndefined()
      expect(server.metrics.busyDrops).toBe(1)
    } finally {
      await a.close()
      await b.close()
      await server.stop()
    }
  })

  it('fails the transfer with an error packet when the source delivers fewer bytes than announced', async () => {
    const short: FileSource = {
      async open (): Promise<OpenedFile> {
        return {
          size: 5000,
          stream: (async function * () { yield new Uint8Array(1200) })(),
          close: () => {}
        }
      }
    }
    const { server, port } = await startServer({}, short)
    const failed = new Promise<TransferFailedEvent>(resolve => server.once('transfer:failed', resolve))
    try {
      await expect(fetchFile({ address: '127.0.0.1', port, filename: 'x' })).rejects.toMatchObject({ tftpCode: TFTP_ERROR.NOT_DEFINED })
      expect((await failed).error.code).toBe('ERR_TFTP_SOURCE')
    } finally { await server.stop() }
  })

  it('always closes what the source opened', async () => {
    let opened = 0
    let closed = 0
    const counting: FileSource = {
      async open (): Promise<OpenedFile> {
        opened++
        return { size: 3, stream: (async function * () { yield new Uint8Array(3) })(), close: () => { closed++ } }
      }
    }
    const { server, port } = await startServer({}, counting)
    await fetchFile({ address: '127.0.0.1', port, filename: 'x' })
    const c = await RawClient.open()
    c.send({ type: 'RRQ', filename: 'x', mode: 'octet', options: new Map() }, port)
    await c.next()
    await c.close()
    await server.stop() // aborts the second, unacknowledged transfer
    expect(opened).toBe(2)
    expect(closed).toBe(2)
  })
})

describePrivileged('TFTP server on a privileged port', [], () => {
  it('gives a typed error naming the missing privilege when not root', async () => {
    // Drop the effective uid only: the kernel clears effective capabilities, and we can come back.
    const server = createTftpServer({ address: '127.0.0.1', port: 69 }, { logger: silentLogger, files: directory(tree.root) })
    const seteuid = process.seteuid as (id: number) => void
    seteuid(65534)
    let err: unknown
    try {
      await server.start()
    } catch (e) {
      err = e
    } finally {
      seteuid(0)
    }
    expect(err).toMatchObject({ code: 'ERR_TFTP_PRIVILEGED_PORT' })
    expect((err as Error).message).toMatch(/root or CAP_NET_BIND_SERVICE/)
    // and as root the same server binds port 69
    await server.start()
    expect(server.address?.port).toBe(69)
    await server.stop()
  })
})
