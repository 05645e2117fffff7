import { describe, expect, it } from 'vitest'
import { FRAME_DELIVERED, FRAME_FORWARD, FRAME_PACKETS, FRAME_PING, FrameDecoder, OverlayWireError, encodeControl, encodePacketFrames, encodePackets, encodeRelayed } from '../../../protocols/overlay/index.js'
import { pseudoRandomBytes } from '../../helpers/overlay-fakes.js'

describe('overlay wire format', () => {
  it('decodes batches and pings split at every possible byte boundary', () => {
    const pkts = [Buffer.from('a'), pseudoRandomBytes(1500, 3), pseudoRandomBytes(65_545, 4), Buffer.alloc(0)]
    const bytes = Buffer.concat([encodePackets(pkts), encodeControl(FRAME_PING, 0xdeadbeef), encodePackets([Buffer.from('z')])])
    for (const step of [1, 3, 7, 1000, 65_536, bytes.length]) {
      const d = new FrameDecoder()
      const frames = []
      for (let i = 0; i < bytes.length; i += step) frames.push(...d.push(bytes.subarray(i, i + step)))
      expect(frames.map(f => f.type)).toEqual([0, 1, 0])
      const first = frames[0] as { type: 0, packets: Buffer[] }
      expect(first.packets.map(p => p.toString('hex'))).toEqual(pkts.map(p => p.toString('hex')))
      expect(frames[1]).toEqual({ type: FRAME_PING, nonce: 0xdeadbeef })
      expect(d.buffered).toBe(0)
    }
  })

  it('splits a large batch into frames under the limit', () => {
    const pkts = Array.from({ length: 40 }, (_, i) => pseudoRandomBytes(60_000, i + 1))
    const frames = encodePacketFrames(pkts, 1 << 20)
    expect(frames.length).toBeGreaterThan(1)
    const d = new FrameDecoder()
    const got = frames.flatMap(f => d.push(f)).flatMap(f => f.type === FRAME_PACKETS ? f.packets : [])
    expect(got).toHaveLength(40)
    expect(Buffer.compare(got[39] as Buffer, pkts[39] as Buffer)).toBe(0)
  })

  it('carries forwarded frames: the peer id and the opaque payload, split anywhere', () => {
    const peer = '12D3KooWHxeyHXsmDX7Sx2x625gt9BJnCJ4CKHcbeANsnBnUso9M'
    const payload = pseudoRandomBytes(70_000, 9)
    const bytes = Buffer.concat([encodeRelayed(FRAME_FORWARD, peer, payload), encodeRelayed(FRAME_DELIVERED, peer, Buffer.alloc(0))])
    for (const step of [1, 13, 4096, bytes.length]) {
      const d = new FrameDecoder()
      const frames = []
      for (let i = 0; i < bytes.length; i += step) frames.push(...d.push(bytes.subarray(i, i + step)))
      expect(frames).toHaveLength(2)
      expect(frames[0]).toMatchObject({ type: FRAME_FORWARD, peer })
      expect(Buffer.compare((frames[0] as { payload: Buffer }).payload, payload)).toBe(0)
      expect(frames[1]).toMatchObject({ type: FRAME_DELIVERED, peer })
    }
    expect(() => encodeRelayed(FRAME_FORWARD, '', payload)).toThrow(OverlayWireError)
    expect(() => encodeRelayed(FRAME_FORWARD, 'x'.repeat(256), payload)).toThrow(OverlayWireError)
    // a peer id longer than the body, or none at all
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 3, 3, 9, 65]))).toThrow(/bad forwarded frame/)
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 2, 4, 0]))).toThrow(/bad forwarded frame/)
  })

  it('refuses frames over the limit, unknown types and packet lengths that overrun', () => {
    const big = Buffer.alloc(4); big.writeUInt32BE(5 << 20)
    expect(() => new FrameDecoder().push(big)).toThrow(OverlayWireError)
    expect(() => new FrameDecoder().push(Buffer.from([0, 0, 0, 1, 9]))).toThrow(/unknown frame type/)
    const overrun = Buffer.from([0, 0, 0, 7, 0, 0, 0, 0, 9, 1, 2])
    expect(() => new FrameDecoder().push(overrun)).toThrow(/bad packet length/)
  })
})
