/**
 * A child process for the namespace tests (bundled with esbuild, run with `ip netns exec`):
 * opens a TUN through openTun in its namespace and forwards its packets, framed
 * `[u32 length][packet]`, over a unix socket to the forwarder in the other namespace.
 *
 *   node forwarder.mjs '{"listen"|"connect": path, "addonPath": …, "tun": TunInit, "peerVnet": bool}'
 *
 * Prints `ready <ifname>` once the link is up and the socket connected; `stats {json}` on SIGTERM.
 */
import { createConnection, createServer, type Socket } from 'node:net'
import { addVnetHdr, openTun, toPlainPackets, type TunInit } from '../../../../protocols/overlay/tun/index.js'

interface Args { listen?: string, connect?: string, addonPath: string, tun: TunInit, peerVnet: boolean }
const args = JSON.parse(process.argv[2] ?? '{}') as Args

const MAX_QUEUE = 8 << 20

async function socket (): Promise<Socket> {
  if (args.connect !== undefined) {
    const path = args.connect
    return await new Promise((resolve, reject) => {
      const s = createConnection(path, () => resolve(s))
      s.once('error', reject)
    })
  }
  const server = createServer()
  await new Promise<void>(resolve => server.listen(args.listen, resolve))
  console.log('listening')
  return await new Promise(resolve => server.once('connection', s => { server.close(); resolve(s) }))
}

const tun = await openTun(args.tun, { addonPath: args.addonPath })
const sock = await socket()
let queueDrops = 0

// outbound: one framed write per batch, converted to the peer's format
tun.on('packets', pkts => {
  if (sock.writableLength > MAX_QUEUE) { queueDrops += pkts.length; return }
  let out: Buffer[] = pkts
  if (tun.vnetHdr && !args.peerVnet) out = pkts.flatMap(p => toPlainPackets(p))
  else if (!tun.vnetHdr && args.peerVnet) out = pkts.map(p => addVnetHdr(p))
  const parts: Buffer[] = []
  for (const p of out) {
    const h = Buffer.allocUnsafe(4)
    h.writeUInt32BE(p.length, 0)
    parts.push(h, p)
  }
  sock.write(Buffer.concat(parts))
})

// inbound: every whole frame of a chunk goes to the TUN in one batch
let pending: Buffer | undefined
sock.on('data', (chunk: Buffer) => {
  const buf = pending === undefined ? chunk : Buffer.concat([pending, chunk])
  const batch: Buffer[] = []
  let off = 0
  while (off + 4 <= buf.length) {
    const len = buf.readUInt32BE(off)
    if (off + 4 + len > buf.length) break
    batch.push(buf.subarray(off + 4, off + 4 + len))
    off += 4 + len
  }
  pending = off < buf.length ? Buffer.from(buf.subarray(off)) : undefined
  if (batch.length > 0) tun.write(batch)
})

const stop = (): void => {
  console.log(`stats ${JSON.stringify({ ...tun.stats, queueDrops })}`)
  sock.destroy()
  void tun.close().then(() => process.exit(0))
}
process.once('SIGTERM', stop)
sock.once('close', stop)
console.log(`ready ${tun.name}`)
