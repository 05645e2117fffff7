/**
 * Test-side DHCP client over a plain UDP socket, plus a loopback server config.
 * The server under test sees exactly the datagrams a real client would send.
 */
import { createSocket, type Socket } from 'node:dgram'
import pino from 'pino'
import { BOOTREQUEST, decode, encode, type DhcpMessage, type DhcpMessageInit, type DhcpOptions } from '../../../protocols/dhcp/index.js'
import type { DhcpInit } from '../../../roles/distributor/dhcp/index.js'

export const quietLogger = pino({ level: 'silent' })

/** A block of four free-looking high ports, different per call and per run. */
let nextBase = 20000 + Math.floor(Math.random() * 2000) * 10
export function ports (): { server: number, client: number, pxe: number, spare: number } {
  const base = nextBase
  nextBase += 10
  return { server: base, client: base + 1, pxe: base + 2, spare: base + 3 }
}

export function macBytes (mac: string): Uint8Array {
  return Uint8Array.from(mac.split(':').map(h => parseInt(h, 16)))
}

let xid = 1
export function request (mac: string, options: DhcpOptions, extra: Partial<DhcpMessageInit> = {}): DhcpMessageInit {
  return { op: BOOTREQUEST, xid: xid++, chaddr: macBytes(mac), flags: 0x8000, options, ...extra }
}

export class TestClient {
  private readonly inbox: DhcpMessage[] = []
  private waiter: (() => void) | undefined
  private constructor (readonly sock: Socket) {
    sock.on('message', buf => {
      try { this.inbox.push(decode(buf)) } catch {}
      this.waiter?.()
    })
  }

  static async open (port: number, address = '0.0.0.0'): Promise<TestClient> {
    const sock = createSocket({ type: 'udp4', reuseAddr: true })
    await new Promise<void>((resolve, reject) => { sock.once('error', reject); sock.bind(port, address, () => resolve()) })
    sock.setBroadcast(true)
    return new TestClient(sock)
  }

  async send (m: DhcpMessageInit, port: number, address = '127.0.0.1'): Promise<void> {
    const bytes = encode(m)
    await new Promise<void>((resolve, reject) => this.sock.send(bytes, port, address, err => err == null ? resolve() : reject(err)))
  }

  /** The next reply with this xid, or undefined after `ms`. */
  async reply (id: number, ms = 800): Promise<DhcpMessage | undefined> {
    const deadline = Date.now() + ms
    for (;;) {
      const i = this.inbox.findIndex(m => m.xid === id)
      if (i !== -1) return this.inbox.splice(i, 1)[0]
      const left = deadline - Date.now()
      if (left <= 0) return undefined
      await new Promise<void>(resolve => {
        const t = setTimeout(resolve, left)
        this.waiter = () => { clearTimeout(t); resolve() }
      })
    }
  }

  /** Sends and waits for the answer (undefined when the server stays silent). */
  async ask (m: DhcpMessageInit, port: number, address = '127.0.0.1', ms = 800): Promise<DhcpMessage | undefined> {
    await this.send(m, port, address)
    return await this.reply(m.xid, ms)
  }

  async close (): Promise<void> {
    await new Promise<void>(resolve => this.sock.close(() => resolve()))
  }
}

/** A full-mode server on loopback: 127.0.0.1 in 127.0.0.0/16, pool .100–.109. */
export function loopbackConfig (p: ReturnType<typeof ports>, over: Partial<DhcpInit> = {}): DhcpInit {
  return {
    mode: 'full',
    serverAddress: '127.0.0.1',
    bindAddress: '127.0.0.1',
    ports: { server: p.server, client: p.client, pxe: p.pxe },
    authoritative: true,
    subnets: [{
      network: '127.0.0.0',
      netmask: '255.255.0.0',
      range: { start: '127.0.0.100', end: '127.0.0.109' },
      router: '127.0.0.1',
      dnsServers: ['127.0.0.53'],
      domain: 'lab.test',
      leaseTime: 600,
      reservations: [{ mac: '52:54:00:00:00:aa', ip: '127.0.0.20', hostname: 'reserved1' }]
    }],
    boot: {
      files: { bios: 'undionly.kpxe', efiX64: 'ipxe.efi', efiArm64: 'ipxe-arm64.efi', httpX64: 'http://127.0.0.1:8080/ipxe.efi' },
      ipxeScriptUrl: 'http://127.0.0.1:8080/boot.ipxe'
    },
    dc: 'test1',
    ...over
  }
}
