import { createSocket } from 'node:dgram'
import { setFlagsFromString } from 'node:v8'
import { runInNewContext } from 'node:vm'
import { afterAll, describe, expect, it } from 'vitest'
import { MessageType } from '../../../protocols/dhcp/index.js'
import { createDhcpServer } from '../../../roles/distributor/dhcp/index.js'
import { MemoryLeaseStore } from '../../../store/leases.js'
import { hostilePacket, prng } from '../../protocols/dhcp/fuzz-input.js'
import { TestClient, loopbackConfig, ports, quietLogger, request } from './dhcp-client.js'

const PACKETS = 100_000

/** A real gc() even when node was started without --expose-gc. */
function collector (): () => void {
  setFlagsFromString('--expose-gc')
  const gc = runInNewContext('gc') as (() => void) | undefined
  return typeof gc === 'function' ? () => { gc(); gc() } : () => {}
}

describe('DHCP server under UDP fuzzing', () => {
  const p = ports()
  const base = loopbackConfig(p)
  // a pool big enough that every valid DISCOVER in the fuzz stream gets an offer held for it
  const subnet = { ...base.subnets[0]!, range: { start: '127.0.1.0', end: '127.0.255.254' } }
  const server = createDhcpServer({ ...base, subnets: [subnet] }, { logger: quietLogger, leaseStore: new MemoryLeaseStore() })
  const sender = createSocket('udp4')
  afterAll(async () => {
    await new Promise<void>(resolve => sender.close(() => resolve()))
    await server.stop()
  })

  it(`survives ${PACKETS.toLocaleString('en')} random, truncated and mutated datagrams and still serves`, async () => {
    await server.start()
    await new Promise<void>(resolve => sender.bind(0, '127.0.0.1', () => resolve()))
    const gc = collector()
    gc()
    const heapBefore = process.memoryUsage().heapUsed
    const rand = prng(20261122)
    const BATCH = 100
    for (let sent = 0; sent < PACKETS; sent += BATCH) {
      await Promise.all(Array.from({ length: BATCH }, async (_, i) => {
        const pkt = hostilePacket(rand)
        // one in ten goes to the PXE boot-server port, which has its own request path
        const port = i % 10 === 0 ? p.pxe : p.server
        await new Promise<void>(resolve => sender.send(pkt, port, '127.0.0.1', () => resolve()))
      }))
      // pace on the server's own counter so datagrams are processed, not dropped by a full socket buffer
      const target = sent + BATCH
      for (let spins = 0; spins < 200 && server.metrics.received < target; spins++) await new Promise(resolve => setImmediate(resolve))
    }
    await expect.poll(() => server.metrics.received, { timeout: 20_000 }).toBeGreaterThan(PACKETS * 0.9)
    const m = server.metrics
    expect(m.malformed).toBeGreaterThan(PACKETS * 0.3)
    expect(m.handlerErrors).toBe(0)
    expect(m.sendErrors).toBe(0)

    const client = await TestClient.open(p.client)
    try {
      const offer = await client.ask(request('52:54:00:0f:0f:0f', { messageType: MessageType.DISCOVER }), p.server, '127.0.0.1', 2000)
      expect(offer?.options.messageType).toBe(MessageType.OFFER)
      expect(server.metrics.exhausted).toBe(0)
      const reserved = await client.ask(request('52:54:00:00:00:aa', { messageType: MessageType.DISCOVER }), p.server, '127.0.0.1', 2000)
      expect(reserved?.yiaddr).toBe('127.0.0.20')
    } finally {
      await client.close()
    }
    gc()
    const growth = process.memoryUsage().heapUsed - heapBefore
    console.log(`fuzz: ${JSON.stringify(m)}; heap growth ${(growth / 1048576).toFixed(1)} MiB`)
    expect(growth).toBeLessThan(48 * 1024 * 1024)
  })
})
