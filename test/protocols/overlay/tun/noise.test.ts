import { describe, expect, it } from 'vitest'
import { isKernelNoise } from '../../../../protocols/overlay/tun/index.js'

/** An IPv6 packet: 40-byte header, optional hop-by-hop router-alert, then `payload`. */
function ipv6 (src: string, dst: string, next: number, payload: number[], hopByHop = false): Buffer {
  const ext = hopByHop ? [58, 0, 5, 2, 0, 0, 1, 0] : []
  const body = [...ext, ...payload]
  const b = Buffer.alloc(40 + body.length)
  b[0] = 0x60
  b.writeUInt16BE(body.length, 4)
  b[6] = hopByHop ? 0 : next
  b[7] = 255
  addr(src).copy(b, 8)
  addr(dst).copy(b, 24)
  Buffer.from(body).copy(b, 40)
  return b
}

function addr (a: string): Buffer {
  const [head = '', tail = ''] = a.split('::')
  const h = head === '' ? [] : head.split(':')
  const t = tail === '' ? [] : tail.split(':')
  const groups = [...h, ...Array(8 - h.length - t.length).fill('0'), ...t]
  const out = Buffer.alloc(16)
  groups.forEach((g, i) => out.writeUInt16BE(parseInt(g, 16), i * 2))
  return out
}

const icmp = (type: number): number[] => [type, 0, 0, 0, 0, 0, 0, 0]

describe('isKernelNoise', () => {
  it('recognises router solicitations from a link-local source', () => {
    expect(isKernelNoise(ipv6('fe80::1b3f:31a1:646e:a37c', 'ff02::2', 58, icmp(133)))).toBe(true)
  })

  it('recognises MLDv2 reports behind a hop-by-hop router alert, also from ::', () => {
    expect(isKernelNoise(ipv6('fe80::1', 'ff02::16', 58, icmp(143), true))).toBe(true)
    expect(isKernelNoise(ipv6('::', 'ff02::16', 58, icmp(143), true))).toBe(true)
  })

  it('recognises neighbour solicitations to a solicited-node group', () => {
    expect(isKernelNoise(ipv6('::', 'ff02::1:ff00:1', 58, icmp(135)))).toBe(true)
  })

  it('keeps ICMPv6 echo, even between link-local addresses', () => {
    expect(isKernelNoise(ipv6('fe80::1', 'fe80::2', 58, icmp(128)))).toBe(false)
  })

  it('keeps neighbour discovery between global or ULA addresses (it is overlay traffic)', () => {
    expect(isKernelNoise(ipv6('fd63::1', 'fd63::2', 58, icmp(135)))).toBe(false)
  })

  it('keeps UDP and TCP over IPv6, IPv4, and anything too short to be IPv6', () => {
    expect(isKernelNoise(ipv6('fe80::1', 'ff02::1', 17, icmp(133)))).toBe(false)
    const v4 = Buffer.alloc(60); v4[0] = 0x45; v4[9] = 1
    expect(isKernelNoise(v4)).toBe(false)
    expect(isKernelNoise(Buffer.from([0x60, 0, 0]))).toBe(false)
    expect(isKernelNoise(new Uint8Array(0))).toBe(false)
  })

  it('does not read past a truncated hop-by-hop header', () => {
    const p = ipv6('fe80::1', 'ff02::16', 58, icmp(143), true)
    expect(isKernelNoise(p.subarray(0, 44))).toBe(false)
    expect(isKernelNoise(p.subarray(0, 48))).toBe(false)
  })
})
