/** Shared fixtures for the artifact tests: blockstores in temp dirs, real libp2p nodes. */
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { noise } from '@chainsafe/libp2p-noise'
import { identify } from '@libp2p/identify'
import { kadDHT, passthroughMapper } from '@libp2p/kad-dht'
import { ping } from '@libp2p/ping'
import { tcp } from '@libp2p/tcp'
import { yamux } from '@libp2p/yamux'
import { createLibp2p } from 'libp2p'
import { pino } from 'pino'
import { Blockstore } from '../../../store/blockstore.js'
import { memorySublevel } from '../../helpers/memory-sublevel.js'
import type { Libp2p } from '@libp2p/interface'
import type { KadDHT } from '@libp2p/kad-dht'

export const silent = pino({ level: 'silent' })

export async function tempDir (): Promise<{ dir: string, cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(join(tmpdir(), 'ctpf-artifacts-'))
  return { dir, cleanup: async () => { await rm(dir, { recursive: true, force: true }) } }
}

export async function openBlockstore (dir: string, quotaBytes?: number): Promise<Blockstore> {
  return await Blockstore.open({ dir, pins: memorySublevel(), refs: memorySublevel(), quotaBytes })
}

export type TestNode = Libp2p<{ dht: KadDHT, identify: unknown, ping: unknown }>

export async function createTestNode (): Promise<TestNode> {
  return await createLibp2p({
    addresses: { listen: ['/ip4/127.0.0.1/tcp/0'] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    services: {
      identify: identify(),
      ping: ping(),
      dht: kadDHT({ protocol: '/ctpf/kad/1.0.0', peerInfoMapper: passthroughMapper, clientMode: false })
    }
  }) as unknown as TestNode
}

/** Deterministic pseudo-random bytes (xorshift), cheap enough for hundreds of MiB. */
export function pseudoRandom (size: number, seed = 1): Uint8Array {
  const out = new Uint8Array(size)
  const view = new DataView(out.buffer)
  let x = seed >>> 0 || 1
  let i = 0
  for (; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0
    view.setUint32(i, x)
  }
  for (; i < size; i++) out[i] = i & 0xff
  return out
}

/** Streams `total` pseudo-random bytes in 1 MiB pieces, never holding more. */
export async function * pseudoRandomStream (total: number, seed = 1): AsyncGenerator<Uint8Array> {
  const piece = 1024 * 1024
  for (let off = 0, n = 0; off < total; off += piece, n++) yield pseudoRandom(Math.min(piece, total - off), seed + n)
}

export async function collect (source: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = []
  for await (const p of source) parts.push(p)
  return Buffer.concat(parts)
}
