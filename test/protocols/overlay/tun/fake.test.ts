import { describe, expect, it } from 'vitest'
import { createFakeTunPair, TunClosedError, type TunDevice } from '../../../../protocols/overlay/tun/index.js'

const next = async (dev: TunDevice): Promise<Buffer[]> => await new Promise(resolve => dev.once('packets', resolve))

describe('createFakeTunPair', () => {
  it('delivers what one end writes to the other end, one batch per tick', async () => {
    const [a, b] = createFakeTunPair({ mtu: 1280 })
    const got = next(b)
    a.write([Buffer.from('one')])
    a.write([Buffer.from('two'), Buffer.from('three')])
    expect((await got).map(p => p.toString())).toEqual(['one', 'two', 'three'])
    expect(b.stats.rxBatches).toBe(1)
    expect(a.stats.txPackets).toBe(3)
    expect(b.mtu).toBe(1280)
  })

  it('works in both directions and copies, so a writer may reuse its buffer', async () => {
    const [a, b] = createFakeTunPair({ vnetHdr: true })
    const buf = Buffer.from('ping')
    const got = next(a)
    b.write([buf])
    buf.fill(0)
    expect((await got)[0]?.toString()).toBe('ping')
    expect(a.vnetHdr).toBe(true)
  })

  it('throws ERR_TUN_CLOSED on write after close; close is idempotent; the peer drops silently', async () => {
    const [a, b] = createFakeTunPair()
    let closed = 0
    a.on('close', () => { closed++ })
    await a.close()
    await a.close()
    expect(closed).toBe(1)
    expect(a.closed).toBe(true)
    expect(() => a.write([Buffer.from('x')])).toThrow(expect.objectContaining({ code: TunClosedError.code }))
    let seen = false
    a.on('packets', () => { seen = true })
    expect(b.write([Buffer.from('lost')])).toBe(1)
    await new Promise(resolve => setImmediate(resolve))
    expect(seen).toBe(false)
  })

  it('holds packets while paused or unheard and delivers them in one batch later', async () => {
    const [a, b] = createFakeTunPair()
    a.write([Buffer.from('early')])
    await new Promise(resolve => setImmediate(resolve))
    b.pause()
    let got: Buffer[] = []
    b.on('packets', pkts => { got = got.concat(pkts) })
    a.write([Buffer.from('while paused')])
    await new Promise(resolve => setImmediate(resolve))
    expect(got).toEqual([])
    b.resume()
    await new Promise(resolve => setImmediate(resolve))
    expect(got.map(p => p.toString())).toEqual(['early', 'while paused'])
    expect(b.stats.rxBatches).toBe(1)
  })
})
