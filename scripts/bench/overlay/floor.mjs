// The floor under any overlay written in Node here: the least a Node process can do to carry
// packets between two TUNs — our TUN addon (vnet header, TSO, batches, as the agent uses it) and
// one plain TCP connection, length-prefixed batches, no encryption, no libp2p, no checks. With
// `relay`, a third process pairs two such connections and copies bytes between them (socket
// pipes, no crypto) — the relayed path's hop. What ctpf adds above this is libp2p's (Noise,
// yamux, relay) and its own; what this adds above the underlay is Node's (event loop wake-ups,
// JS per batch). It is a measuring tool, not a product: nothing here is authenticated.
//
//   node floor.mjs endpoint <tun address/prefix> listen <ip> <port>     (waits for the peer)
//   node floor.mjs endpoint <tun address/prefix> connect <ip> <port>
//   node floor.mjs relay <ip> <port>                                    (pairs the first two)
import net from 'node:net'
import { spawnIn } from './lab.mjs'

const FLOOR_TUN = 'ctpfnbfl'

/** Starts the floor in a topology: endpoints in a and b (and a relay in r when relayed). */
export async function startFloor (t, relayed) {
  const self = new URL(import.meta.url).pathname
  const procs = []
  const start = async (ns, args) => {
    const p = spawnIn(ns, [process.execPath, self, ...args])
    procs.push(p)
    await p.waitFor(/^ready/m, 20_000)
    return p
  }
  try {
    let a, b, relay
    if (!relayed) {
      a = await start(t.a, ['endpoint', '10.205.0.1/24', 'listen', '10.203.0.1', '5300'])
      b = await start(t.b, ['endpoint', '10.205.0.2/24', 'connect', '10.203.0.1', '5300'])
    } else {
      relay = await start(t.r, ['relay', '198.51.102.2', '5300'])
      a = await start(t.a, ['endpoint', '10.205.0.1/24', 'connect', '198.51.102.2', '5300'])
      b = await start(t.b, ['endpoint', '10.205.0.2/24', 'connect', '198.51.102.2', '5300'])
    }
    return { a, b, relay, address: '10.205.0.2', stop: async () => { for (const p of procs.reverse()) await p.stop().catch(() => {}) } }
  } catch (err) {
    for (const p of procs.reverse()) await p.stop().catch(() => {})
    throw err
  }
}

async function endpoint (cidr, how, ip, port) {
  const { openTun } = await import('../../../dist/protocols/overlay/tun/index.js')
  const tun = await openTun({ name: FLOOR_TUN, vnetHdr: true, mtu: 1400, addresses: [cidr] })
  const sock = await new Promise((resolve, reject) => {
    if (how === 'listen') {
      const srv = net.createServer(s => { srv.close(); resolve(s) }).listen(Number(port), ip, () => console.log('ready'))
      srv.once('error', reject)
    } else {
      const s = net.connect(Number(port), ip, () => resolve(s))
      s.once('error', reject)
    }
  })
  if (how !== 'listen') console.log('ready')
  sock.setNoDelay(true)
  tun.on('packets', pkts => {
    let n = 0
    for (const p of pkts) n += 4 + p.length
    const out = Buffer.allocUnsafe(n)
    let o = 0
    for (const p of pkts) { out.writeUInt32BE(p.length, o); p.copy(out, o + 4); o += 4 + p.length }
    if (!sock.write(out)) { tun.pause(); sock.once('drain', () => tun.resume()) }
  })
  let buf = Buffer.alloc(0)
  sock.on('data', chunk => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk])
    const pkts = []
    let o = 0
    while (buf.length - o >= 4) {
      const len = buf.readUInt32BE(o)
      if (buf.length - o - 4 < len) break
      pkts.push(buf.subarray(o + 4, o + 4 + len))
      o += 4 + len
    }
    buf = buf.subarray(o)
    if (pkts.length > 0) tun.write(pkts)
  })
  const bye = () => { void tun.close().finally(() => process.exit(0)) }
  sock.on('close', bye)
  process.on('SIGTERM', bye)
}

function relay (ip, port) {
  const waiting = []
  net.createServer(s => {
    s.setNoDelay(true)
    waiting.push(s)
    if (waiting.length === 2) {
      const [x, y] = waiting
      x.pipe(y)
      y.pipe(x)
    }
  }).listen(Number(port), ip, () => console.log('ready'))
  process.on('SIGTERM', () => process.exit(0))
}

if (process.argv[1] === new URL(import.meta.url).pathname) {
  const [mode, ...args] = process.argv.slice(2)
  if (mode === 'endpoint') await endpoint(...args)
  else if (mode === 'relay') relay(...args)
  else { console.error('usage: floor.mjs endpoint|relay …'); process.exit(2) }
}
