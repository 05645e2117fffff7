import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { TFTP_ERROR, TftpRemoteError, fetchFile, type TftpPacket } from '../../../protocols/tftp/index.js'
import type { FileServedEvent, TftpServer, TransferFailedEvent } from '../../../roles/distributor/tftp/index.js'
import { LossyProxy, RawClient, directory, makeTree, sha256, startServer, type Tree } from './tftp-helpers.js'

let tree: Tree
let server: TftpServer
let port: number

beforeAll(async () => {
  // 8-byte blocks make a 600 KB file cross the 65535 → 0 block-number wrap
  tree = await makeTree({ 'rollover.bin': 65536 * 8 + 8 * 1000 + 3, 'window.bin': 3 * 1024 * 1024 + 17, 'lossy.bin': 512 * 1024 + 9 })
  ;({ server, port } = await startServer({ timeoutMs: 200, maxRetries: 3, maxBlksize: 1468, maxWindowsize: 32 }, directory(tree.root)))
})

afterAll(async () => {
  await server.stop()
  await tree.cleanup()
})

type EventOf<K> = K extends 'file:served' ? FileServedEvent : TransferFailedEvent
/** The next matching event of that name (earlier tests may still be finishing theirs). */
function nextEvent<K extends 'file:served' | 'transfer:failed'> (name: K, match: (e: EventOf<K>) => boolean): Promise<EventOf<K>> {
  return new Promise(resolve => {
    const listener = (e: EventOf<K>): void => {
      if (!match(e)) return
      server.off(name, listener as never)
      resolve(e)
    }
    server.on(name, listener as never)
  })
}

async function expectError (packet: TftpPacket | Uint8Array, code: number): Promise<void> {
  const c = await RawClient.open()
  try {
    c.send(packet, port)
    const r = await c.next()
    expect(r?.packet).toMatchObject({ type: 'ERROR', code })
  } finally { await c.close() }
}

describe('TFTP server, read transfers', () => {
  it('serves a file byte for byte with default options (512-byte blocks, no OACK)', async () => {
    const served = nextEvent('file:served', e => e.file === 'small.bin')
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'small.bin' })
    expect(sha256(r.data)).toBe(sha256(tree.files['small.bin'] as Buffer))
    expect(r.negotiated.size).toBe(0)
    expect(r.dataPackets).toBe(2)
    const e = await served
    expect(e).toMatchObject({ file: 'small.bin', bytes: 1000, blocks: 2, size: 1000 })
  })

  it('ends a file whose size is a multiple of blksize with an empty block', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'exact512.bin' })
    expect(r.data.length).toBe(5120)
    expect(r.dataPackets).toBe(11)
  })

  it('serves an empty file as one empty block', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'empty.bin', tsize: true })
    expect(r.data.length).toBe(0)
    expect(r.negotiated.get('tsize')).toBe('0')
  })

  it('reports tsize and clamps blksize to the configured maximum', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'sub/nested.bin', blksize: 65464, tsize: true })
    expect(r.negotiated.get('blksize')).toBe('1468')
    expect(r.negotiated.get('tsize')).toBe('4321')
    expect(sha256(r.data)).toBe(sha256(tree.files['sub/nested.bin'] as Buffer))
  })

  it('does not acknowledge unknown options or invalid values, and then sends DATA at once', async () => {
    const c = await RawClient.open()
    try {
      c.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map([['blksize', '4'], ['frobnicate', '1'], ['windowsize', '0']]) }, port)
      const first = await c.next()
      expect(first?.packet).toMatchObject({ type: 'DATA', block: 1 })
      expect((first?.packet as { data: Uint8Array }).data.length).toBe(512)
      c.send({ type: 'ERROR', code: 0, message: 'enough' }, first?.rinfo.port as number)
    } finally { await c.close() }
  })

  it('serves netascii requests byte for byte as stored (no line-ending conversion)', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'small.bin', mode: 'netascii', tsize: true })
    expect(sha256(r.data)).toBe(sha256(tree.files['small.bin'] as Buffer))
    expect(r.negotiated.get('tsize')).toBe('1000')
  })

  it('honours the RFC 2349 timeout option and echoes it', async () => {
    const c = await RawClient.open()
    try {
      c.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map([['timeout', '1'], ['tsize', '0']]) }, port)
      const oack = await c.next()
      expect(oack?.packet).toEqual({ type: 'OACK', options: new Map([['timeout', '1'], ['tsize', '1000']]) })
      // the server's own timeout is 200 ms: with timeout=1 the OACK comes again only after ~1 s
      const t0 = Date.now()
      const again = await c.next(2000)
      expect(again?.packet.type).toBe('OACK')
      expect(Date.now() - t0).toBeGreaterThan(800)
      c.send({ type: 'ERROR', code: 0, message: 'bye' }, oack?.rinfo.port as number)
    } finally { await c.close() }
  })

  it('serves over IPv6', async () => {
    const v6 = await startServer({ address: '::1' }, directory(tree.root))
    try {
      const r = await fetchFile({ address: '::1', port: v6.port, filename: 'sub/nested.bin', blksize: 1000, windowsize: 2 })
      expect(sha256(r.data)).toBe(sha256(tree.files['sub/nested.bin'] as Buffer))
    } finally { await v6.server.stop() }
  })

  it('rolls block numbers over from 65535 to 0 and still delivers every byte', async () => {
    const served = nextEvent('file:served', e => e.file === 'rollover.bin')
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'rollover.bin', blksize: 8, windowsize: 16, timeoutMs: 1000 })
    expect(r.data.length).toBe((tree.files['rollover.bin'] as Buffer).length)
    expect(sha256(r.data)).toBe(sha256(tree.files['rollover.bin'] as Buffer))
    expect((await served).blocks).toBeGreaterThan(65536)
  })

  it('sends windows of windowsize blocks per ACK (RFC 7440)', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'window.bin', blksize: 1468, windowsize: 64 })
    expect(r.negotiated.get('windowsize')).toBe('32') // clamped to maxWindowsize
    expect(sha256(r.data)).toBe(sha256(tree.files['window.bin'] as Buffer))
    const blocks = Math.floor((tree.files['window.bin'] as Buffer).length / 1468) + 1
    expect(r.dataPackets).toBe(blocks)
    // one ACK for the OACK, one per full window, one for the last block
    expect(r.acksSent).toBe(1 + Math.ceil(blocks / 32))
  })
})

describe('TFTP server, loss and duplicates', () => {
  it('answers duplicate ACKs with nothing (no sorcerer\'s apprentice)', async () => {
    const c = await RawClient.open()
    try {
      c.send({ type: 'RRQ', filename: 'sub/nested.bin', mode: 'octet', options: new Map() }, port)
      let datas = 0
      for (;;) {
        const r = await c.next(150) // below the 200 ms retransmit timeout
        if (r === undefined) break
        if (r.packet.type !== 'DATA') throw new Error(`unexpected ${r.packet.type}`)
        datas++
        const ack: TftpPacket = { type: 'ACK', block: r.packet.block }
        c.send(ack, r.rinfo.port)
        c.send(ack, r.rinfo.port)
        c.send(ack, r.rinfo.port)
      }
      expect(datas).toBe(9) // 4321 bytes = 8 full blocks + 1, each sent exactly once
    } finally { await c.close() }
  })

  it('completes a windowed transfer through a path that drops every 7th datagram', async () => {
    const proxy = await LossyProxy.start(port, 7)
    try {
      const r = await fetchFile({ address: '127.0.0.1', port: proxy.port, filename: 'lossy.bin', blksize: 1468, windowsize: 8, timeoutMs: 300, retries: 10 })
      expect(sha256(r.data)).toBe(sha256(tree.files['lossy.bin'] as Buffer))
      expect(proxy.dropped).toBeGreaterThan(40)
    } finally { proxy.close() }
  }, 60_000)

  it('retransmits DATA after a lost ACK and resumes', async () => {
    const c = await RawClient.open()
    try {
      c.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }, port)
      const first = await c.next()
      expect(first?.packet).toMatchObject({ type: 'DATA', block: 1 })
      // "lose" our ACK: the server must send block 1 again after its timeout
      const again = await c.next(1000)
      expect(again?.packet).toMatchObject({ type: 'DATA', block: 1 })
      c.send({ type: 'ACK', block: 1 }, first?.rinfo.port as number)
      const second = await c.next()
      expect(second?.packet).toMatchObject({ type: 'DATA', block: 2 })
      c.send({ type: 'ACK', block: 2 }, first?.rinfo.port as number)
    } finally { await c.close() }
  })

  it('restarts the window after an ACK inside it (client missed a block)', async () => {
    const c = await RawClient.open()
    try {
      c.send({ type: 'RRQ', filename: 'sub/nested.bin', mode: 'octet', options: new Map([['windowsize', '4']]) }, port)
      const oack = await c.next()
      expect(oack?.packet).toMatchObject({ type: 'OACK' })
      const tid = oack?.rinfo.port as number
      c.send({ type: 'ACK', block: 0 }, tid)
      const window1 = [await c.next(), await c.next(), await c.next(), await c.next()].map(r => (r?.packet as { block: number }).block)
      expect(window1).toEqual([1, 2, 3, 4])
      c.send({ type: 'ACK', block: 2 }, tid) // pretend 3 was lost
      const window2 = [await c.next(), await c.next(), await c.next(), await c.next()].map(r => (r?.packet as { block: number }).block)
      expect(window2).toEqual([3, 4, 5, 6])
      c.send({ type: 'ERROR', code: 0, message: 'done' }, tid)
    } finally { await c.close() }
  })

  it('gives up after maxRetries when the client goes silent, and says so', async () => {
    const c = await RawClient.open()
    const failed = nextEvent('transfer:failed', e => e.port === c.port)
    try {
      c.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }, port)
      const packets: TftpPacket[] = []
      for (;;) {
        const r = await c.next(1000)
        if (r === undefined) break
        packets.push(r.packet)
        if (r.packet.type === 'ERROR') break
      }
      // first DATA + 3 retransmissions, then an ERROR
      expect(packets.map(p => p.type)).toEqual(['DATA', 'DATA', 'DATA', 'DATA', 'ERROR'])
      const e = await failed
      expect(e.error.code).toBe('ERR_TFTP_TRANSFER_TIMEOUT')
      expect(e.retransmits).toBe(3)
    } finally { await c.close() }
  })

  it('answers a stranger on a transfer port with error 5 and keeps the transfer going', async () => {
    const c = await RawClient.open()
    const stranger = await RawClient.open()
    try {
      c.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }, port)
      const first = await c.next()
      const tid = first?.rinfo.port as number
      stranger.send({ type: 'ACK', block: 1 }, tid)
      expect((await stranger.next())?.packet).toMatchObject({ type: 'ERROR', code: TFTP_ERROR.UNKNOWN_TID })
      c.send({ type: 'ACK', block: 1 }, tid)
      expect((await c.next())?.packet).toMatchObject({ type: 'DATA', block: 2 })
      c.send({ type: 'ACK', block: 2 }, tid)
      expect(server.metrics.unknownTidPackets).toBeGreaterThanOrEqual(1)
    } finally { await c.close(); await stranger.close() }
  })

  it('ends the transfer when the client sends an ERROR', async () => {
    const c = await RawClient.open()
    const failed = nextEvent('transfer:failed', e => e.port === c.port)
    try {
      c.send({ type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }, port)
      const first = await c.next()
      c.send({ type: 'ERROR', code: 0, message: 'changed my mind' }, first?.rinfo.port as number)
      const e = await failed
      expect(e.error.code).toBe('ERR_TFTP_CLIENT_ABORT')
      expect(await c.next(500)).toBeUndefined()
    } finally { await c.close() }
  })

  it('ignores a repeated RRQ from a client whose transfer is running', async () => {
    const c = await RawClient.open()
    try {
      const before = server.metrics.duplicateRequests
      const rrq: TftpPacket = { type: 'RRQ', filename: 'small.bin', mode: 'octet', options: new Map() }
      c.send(rrq, port)
      const first = await c.next()
      c.send(rrq, port)
      await new Promise(resolve => setTimeout(resolve, 50))
      expect(server.metrics.duplicateRequests).toBe(before + 1)
      c.send({ type: 'ACK', block: 1 }, first?.rinfo.port as number)
      expect((await c.next())?.packet).toMatchObject({ type: 'DATA', block: 2 })
      c.send({ type: 'ACK', block: 2 }, first?.rinfo.port as number)
    } finally { await c.close() }
  })
})

describe('TFTP server, refusals', () => {
  it('refuses write requests with access violation', async () => {
    await expectError({ type: 'WRQ', filename: 'new.bin', mode: 'octet', options: new Map() }, TFTP_ERROR.ACCESS_VIOLATION)
  })

  it('answers a missing file with error 1', async () => {
    await expect(fetchFile({ address: '127.0.0.1', port, filename: 'nope.bin' })).rejects.toMatchObject({ tftpCode: TFTP_ERROR.FILE_NOT_FOUND })
  })

  it.each(['../secret.txt', '/../secret.txt', 'sub/../../secret.txt', '..\\secret.txt', 'sub/../small.bin', 'escape.txt', 'adir', '/'])(
    'refuses %s with access violation', async (name) => {
      const err = await fetchFile({ address: '127.0.0.1', port, filename: name }).catch((e: unknown) => e)
      expect(err).toBeInstanceOf(TftpRemoteError)
      expect((err as TftpRemoteError).tftpCode).toBe(TFTP_ERROR.ACCESS_VIOLATION)
    })

  it('serves absolute names relative to the root, backslash names and symlinks that stay inside', async () => {
    for (const name of ['/small.bin', 'sub\\nested.bin', 'inside-link.bin', './sub//nested.bin']) {
      const r = await fetchFile({ address: '127.0.0.1', port, filename: name })
      expect(r.data.length).toBeGreaterThan(0)
    }
  })

  it('refuses mail mode and unknown modes with illegal operation', async () => {
    await expectError({ type: 'RRQ', filename: 'small.bin', mode: 'mail', options: new Map() }, TFTP_ERROR.ILLEGAL_OPERATION)
    await expectError(Buffer.from('\x00\x01small.bin\x00binary\x00', 'latin1'), TFTP_ERROR.ILLEGAL_OPERATION)
  })

  it('answers DATA or ACK sent to the request port with illegal operation, and never answers ERROR', async () => {
    await expectError({ type: 'ACK', block: 1 }, TFTP_ERROR.ILLEGAL_OPERATION)
    await expectError({ type: 'DATA', block: 1, data: new Uint8Array(3) }, TFTP_ERROR.ILLEGAL_OPERATION)
    const c = await RawClient.open()
    try {
      c.send({ type: 'ERROR', code: 0, message: 'x' }, port)
      expect(await c.next(300)).toBeUndefined()
    } finally { await c.close() }
  })

  it('counts malformed datagrams and does not answer them', async () => {
    const before = server.metrics.malformedPackets
    const c = await RawClient.open()
    try {
      c.send(Buffer.from([0, 1, 65]), port) // RRQ without terminator
      c.send(Buffer.from([0, 9, 0, 0]), port) // unknown opcode
      c.send(Buffer.from([7]), port)
      expect(await c.next(300)).toBeUndefined()
      expect(server.metrics.malformedPackets).toBe(before + 3)
    } finally { await c.close() }
  })
})

