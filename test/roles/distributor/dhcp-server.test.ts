import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import pino from 'pino'
import { afterEach, describe, expect, it } from 'vitest'
import { MessageType, decodePxeVendorOptions, type DhcpMessage } from '../../../protocols/dhcp/index.js'
import { createDhcpServer, type DhcpInit, type DhcpServer, type HostSighted } from '../../../roles/distributor/dhcp/index.js'
import { LevelLeaseStore, MemoryLeaseStore, type LeaseStore } from '../../../store/leases.js'
import { TestClient, loopbackConfig, ports, quietLogger, request } from './dhcp-client.js'

const cleanups: Array<() => Promise<void>> = []
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c()
})

interface Rig { server: DhcpServer, client: TestClient, p: ReturnType<typeof ports>, sighted: HostSighted[], store: LeaseStore }

async function rig (over: Partial<DhcpInit> = {}, store: LeaseStore = new MemoryLeaseStore(), now?: () => number): Promise<Rig> {
  const p = ports()
  const server = createDhcpServer(loopbackConfig(p, over), { logger: quietLogger, leaseStore: store, ...(now === undefined ? {} : { now }) })
  const sighted: HostSighted[] = []
  server.on('host:sighted', h => sighted.push(h))
  await server.start()
  const client = await TestClient.open(p.client)
  cleanups.push(async () => { await client.close(); await server.stop() })
  return { server, client, p, sighted, store }
}

/** DISCOVER then REQUEST; returns the ACK. */
async function obtain (r: Rig, mac: string, extra: Parameters<typeof request>[1] = {}): Promise<DhcpMessage> {
  const offer = await r.client.ask(request(mac, { messageType: MessageType.DISCOVER, ...extra }), r.p.server)
  expect(offer?.options.messageType).toBe(MessageType.OFFER)
  const ack = await r.client.ask(request(mac, { messageType: MessageType.REQUEST, serverId: '127.0.0.1', requestedIp: offer?.yiaddr, ...extra }), r.p.server)
  expect(ack?.options.messageType).toBe(MessageType.ACK)
  return ack as DhcpMessage
}

describe('DHCP server, full mode', () => {
  it('offers an address from the pool with the subnet options and ACKs the selection', async () => {
    const r = await rig()
    const granted: string[] = []
    r.server.on('lease:granted', l => granted.push(l.ip))
    const offer = await r.client.ask(request('52:54:00:00:00:01', { messageType: MessageType.DISCOVER, hostname: 'n1' }), r.p.server)
    expect(offer?.yiaddr).toMatch(/^127\.0\.0\.10\d$/)
    expect(offer?.options).toMatchObject({
      serverId: '127.0.0.1', subnetMask: '255.255.0.0', routers: ['127.0.0.1'], dnsServers: ['127.0.0.53'],
      domainName: 'lab.test', leaseTime: 600, renewalTime: 300, rebindingTime: 525
    })
    const ack = await r.client.ask(request('52:54:00:00:00:01', { messageType: MessageType.REQUEST, serverId: '127.0.0.1', requestedIp: offer?.yiaddr, hostname: 'n1' }), r.p.server)
    expect(ack?.options.messageType).toBe(MessageType.ACK)
    expect(ack?.yiaddr).toBe(offer?.yiaddr)
    expect(granted).toEqual([offer?.yiaddr])
    expect(await r.store.get(offer?.yiaddr ?? '')).toMatchObject({ mac: '52:54:00:00:00:01', state: 'bound', hostname: 'n1' })
    expect(r.sighted).toEqual([{ mac: '52:54:00:00:00:01', arch: 'unknown', ip: offer?.yiaddr, dc: 'test1', hostname: 'n1' }])
    expect(r.server.metrics).toMatchObject({ offers: 1, acks: 1 })
  })

  it('gives a reserved MAC its address and hostname, and nobody else that address', async () => {
    const r = await rig()
    const ack = await obtain(r, '52:54:00:00:00:aa')
    expect(ack.yiaddr).toBe('127.0.0.20')
    expect(ack.options.hostname).toBe('reserved1')
    const other = await r.client.ask(request('52:54:00:00:00:02', { messageType: MessageType.DISCOVER, requestedIp: '127.0.0.20' }), r.p.server)
    expect(other?.yiaddr).not.toBe('127.0.0.20')
  })

  it('stays silent and frees its offer when the client picks another server', async () => {
    const r = await rig({ subnets: [{ ...loopbackConfig(ports()).subnets[0]!, range: { start: '127.0.0.100', end: '127.0.0.100' }, reservations: [] }] })
    const offer = await r.client.ask(request('52:54:00:00:00:03', { messageType: MessageType.DISCOVER }), r.p.server)
    expect(offer?.yiaddr).toBe('127.0.0.100')
    // the pool has one address and it is held for the offer
    expect(await r.client.ask(request('52:54:00:00:00:04', { messageType: MessageType.DISCOVER }), r.p.server, undefined, 300)).toBeUndefined()
    const elsewhere = await r.client.ask(request('52:54:00:00:00:03', { messageType: MessageType.REQUEST, serverId: '10.9.9.9', requestedIp: '10.9.9.50' }), r.p.server, undefined, 400)
    expect(elsewhere).toBeUndefined()
    const next = await r.client.ask(request('52:54:00:00:00:04', { messageType: MessageType.DISCOVER }), r.p.server)
    expect(next?.yiaddr).toBe('127.0.0.100')
    expect(r.server.metrics.exhausted).toBe(1)
  })

  it('NAKs an INIT-REBOOT for a foreign network or another client\'s address only when authoritative', async () => {
    const auth = await rig()
    await obtain(auth, '52:54:00:00:00:05')
    const held = auth.server.leases()[0]?.ip ?? ''
    const wrongNet = await auth.client.ask(request('52:54:00:00:00:06', { messageType: MessageType.REQUEST, requestedIp: '192.168.1.7' }), auth.p.server)
    expect(wrongNet?.options.messageType).toBe(MessageType.NAK)
    expect(wrongNet?.yiaddr).toBe('0.0.0.0')
    const taken = await auth.client.ask(request('52:54:00:00:00:06', { messageType: MessageType.REQUEST, requestedIp: held }), auth.p.server)
    expect(taken?.options.messageType).toBe(MessageType.NAK)
    const mine = await auth.client.ask(request('52:54:00:00:00:05', { messageType: MessageType.REQUEST, requestedIp: held }), auth.p.server)
    expect(mine?.options.messageType).toBe(MessageType.ACK)

    const polite = await rig({ authoritative: false })
    await obtain(polite, '52:54:00:00:00:05')
    const held2 = polite.server.leases()[0]?.ip ?? ''
    expect(await polite.client.ask(request('52:54:00:00:00:06', { messageType: MessageType.REQUEST, requestedIp: '192.168.1.7' }), polite.p.server, undefined, 300)).toBeUndefined()
    expect(await polite.client.ask(request('52:54:00:00:00:06', { messageType: MessageType.REQUEST, requestedIp: held2 }), polite.p.server, undefined, 300)).toBeUndefined()
    expect(polite.server.metrics.naks).toBe(0)
  })

  it('renews a lease by unicast to ciaddr and extends its expiry', async () => {
    let t = 1_000_000
    const r = await rig({}, new MemoryLeaseStore(), () => t)
    const ack = await obtain(r, '52:54:00:00:00:07')
    const before = r.server.leases()[0]?.expiresAt ?? 0
    t += 300_000
    const renew = await r.client.ask(request('52:54:00:00:00:07', { messageType: MessageType.REQUEST }, { ciaddr: ack.yiaddr, flags: 0 }), r.p.server)
    expect(renew?.options.messageType).toBe(MessageType.ACK)
    expect(renew?.yiaddr).toBe(ack.yiaddr)
    expect(r.server.leases()[0]?.expiresAt).toBe(before + 300_000)
  })

  it('frees an address on RELEASE and holds a DECLINEd one back', async () => {
    const r = await rig({ subnets: [{ ...loopbackConfig(ports()).subnets[0]!, range: { start: '127.0.0.100', end: '127.0.0.101' }, reservations: [] }] })
    const released: string[] = []
    r.server.on('lease:released', l => released.push(l.ip))
    const a = await obtain(r, '52:54:00:00:00:08')
    await r.client.send(request('52:54:00:00:00:08', { messageType: MessageType.RELEASE, serverId: '127.0.0.1' }, { ciaddr: a.yiaddr }), r.p.server)
    await expect.poll(() => released).toEqual([a.yiaddr])
    const b = await obtain(r, '52:54:00:00:00:09', { requestedIp: a.yiaddr })
    expect(b.yiaddr).toBe(a.yiaddr)
    await r.client.send(request('52:54:00:00:00:09', { messageType: MessageType.DECLINE, serverId: '127.0.0.1', requestedIp: b.yiaddr }), r.p.server)
    await expect.poll(() => r.server.metrics.declines).toBe(1)
    const c = await r.client.ask(request('52:54:00:00:00:10', { messageType: MessageType.DISCOVER, requestedIp: b.yiaddr }), r.p.server)
    expect(c?.yiaddr).not.toBe(b.yiaddr)
    expect(c?.yiaddr).toMatch(/^127\.0\.0\.10[01]$/)
  })

  it('answers INFORM without an address or lease time', async () => {
    const r = await rig()
    const ack = await r.client.ask(request('52:54:00:00:00:11', { messageType: MessageType.INFORM }, { ciaddr: '127.0.0.50', flags: 0 }), r.p.server, '127.0.0.1')
    expect(ack?.options.messageType).toBe(MessageType.ACK)
    expect(ack?.yiaddr).toBe('0.0.0.0')
    expect(ack?.options.leaseTime).toBeUndefined()
    expect(ack?.options.routers).toEqual(['127.0.0.1'])
  })

  it('serves a relayed subnet chosen by giaddr and replies to the relay on the server port', async () => {
    const base = loopbackConfig(ports())
    const r = await rig({
      subnets: [{ ...base.subnets[0]! }, { network: '127.1.0.0', netmask: '255.255.0.0', range: { start: '127.1.0.100', end: '127.1.0.120' }, router: '127.1.0.1' }]
    })
    const relay = await TestClient.open(r.p.server, '127.1.0.1')
    cleanups.push(async () => { await relay.close() })
    const agentInfo = Uint8Array.of(1, 2, 0xab, 0xcd)
    const offer = await relay.ask(request('52:54:00:00:00:12', { messageType: MessageType.DISCOVER, relayAgentInfo: { raw: agentInfo } }, { giaddr: '127.1.0.1', hops: 1 }), r.p.server)
    expect(offer?.yiaddr).toMatch(/^127\.1\.0\.1\d\d$/)
    expect(offer?.giaddr).toBe('127.1.0.1')
    expect(offer?.options.routers).toEqual(['127.1.0.1'])
    expect([...offer?.options.relayAgentInfo?.raw ?? []]).toEqual([...agentInfo])
    // a relay address outside every subnet is ignored
    expect(await relay.ask(request('52:54:00:00:00:13', { messageType: MessageType.DISCOVER }, { giaddr: '10.200.0.1' }), r.p.server, undefined, 300)).toBeUndefined()
  })

  it('expires a lapsed lease, deletes it from the store and reuses the address', async () => {
    let t = 5_000_000
    const store = new MemoryLeaseStore()
    const r = await rig({ subnets: [{ ...loopbackConfig(ports()).subnets[0]!, range: { start: '127.0.0.100', end: '127.0.0.100' }, reservations: [] }] }, store, () => t)
    const expired: string[] = []
    r.server.on('lease:expired', l => expired.push(l.ip))
    const a = await obtain(r, '52:54:00:00:00:14')
    t += 599_000
    expect(await r.server.sweepExpired()).toEqual([])
    expect(await r.client.ask(request('52:54:00:00:00:15', { messageType: MessageType.DISCOVER }), r.p.server, undefined, 300)).toBeUndefined()
    t += 2_000
    expect((await r.server.sweepExpired()).map(l => l.ip)).toEqual([a.yiaddr])
    expect(expired).toEqual([a.yiaddr])
    expect(await store.all()).toEqual([])
    const b = await obtain(r, '52:54:00:00:00:15')
    expect(b.yiaddr).toBe(a.yiaddr)
  })

  it('keeps leases across a restart with a level store', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ctpf-dhcp-leases-'))
    cleanups.push(async () => { await rm(dir, { recursive: true, force: true }) })
    const store = new LevelLeaseStore(join(dir, 'db'))
    cleanups.push(async () => { await store.close() })
    const first = await rig({}, store)
    const ack = await obtain(first, '52:54:00:00:00:16')
    await first.server.stop()
    await store.close()

    const again = new LevelLeaseStore(join(dir, 'db'))
    cleanups.push(async () => { await again.close() })
    const second = await rig({}, again)
    expect(second.server.leases().map(l => [l.ip, l.mac])).toEqual([[ack.yiaddr, '52:54:00:00:00:16']])
    const reboot = await second.client.ask(request('52:54:00:00:00:16', { messageType: MessageType.REQUEST, requestedIp: ack.yiaddr }), second.p.server)
    expect(reboot?.options.messageType).toBe(MessageType.ACK)
    const stranger = await second.client.ask(request('52:54:00:00:00:17', { messageType: MessageType.DISCOVER, requestedIp: ack.yiaddr }), second.p.server)
    expect(stranger?.yiaddr).not.toBe(ack.yiaddr)
  })

  it('counts malformed datagrams and logs them at a limited rate', async () => {
    const lines: string[] = []
    const p = ports()
    const server = createDhcpServer(loopbackConfig(p), { logger: pino({ level: 'warn' }, { write: (s: string) => { lines.push(s) } }), leaseStore: new MemoryLeaseStore() })
    await server.start()
    const client = await TestClient.open(p.client)
    cleanups.push(async () => { await client.close(); await server.stop() })
    for (let i = 0; i < 50; i++) {
      await new Promise<void>(resolve => client.sock.send(Buffer.alloc(100 + i, i), p.server, '127.0.0.1', () => resolve()))
    }
    await expect.poll(() => server.metrics.malformed).toBe(50)
    expect(lines.filter(l => l.includes('malformed')).length).toBe(1)
    expect(JSON.parse(lines[0] ?? '{}')).toMatchObject({ code: 'ERR_DHCP_TRUNCATED' })
  })
})

describe('DHCP server, network boot', () => {
  const pxe = (arch: number | undefined, vendor = 'PXEClient:Arch:00000:UNDI:002001'): Parameters<typeof request>[1] => ({
    messageType: MessageType.DISCOVER, vendorClassId: vendor, ...(arch === undefined ? {} : { clientArch: [arch] }), clientUuid: '11111111-2222-3333-4444-555555555555'
  })

  it('picks the loader by option 93 and answers with PXE options 60, 66, 67, siaddr (and 43 for BIOS only)', async () => {
    const r = await rig()
    const offer = await r.client.ask(request('52:54:00:00:01:01', pxe(7, 'PXEClient:Arch:00007:UNDI:003016')), r.p.server)
    expect(offer?.file).toBe('ipxe.efi')
    expect(offer?.siaddr).toBe('127.0.0.1')
    expect(offer?.options).toMatchObject({ vendorClassId: 'PXEClient', bootfileName: 'ipxe.efi', tftpServerName: '127.0.0.1', clientUuid: '11111111-2222-3333-4444-555555555555' })
    // UEFI PXE takes a boot menu in option 43 as a call for boot-server discovery: none for it
    expect(offer?.options.vendorSpecific).toBeUndefined()
    const bios = await r.client.ask(request('52:54:00:00:01:03', pxe(0)), r.p.server)
    expect(bios?.file).toBe('undionly.kpxe')
    expect(decodePxeVendorOptions(bios?.options.vendorSpecific ?? new Uint8Array()).discoveryControl).toBe(8)
    expect(r.sighted[0]).toEqual({ mac: '52:54:00:00:01:01', arch: 'x86_64-uefi', dc: 'test1', uuid: '11111111-2222-3333-4444-555555555555' })
    const arm = await r.client.ask(request('52:54:00:00:01:02', pxe(11)), r.p.server)
    expect(arm?.file).toBe('ipxe-arm64.efi')
  })

  it('falls back to the architecture in the vendor-class string', async () => {
    const r = await rig()
    const bios = await r.client.ask(request('52:54:00:00:01:03', pxe(undefined, 'PXEClient:Arch:00000:UNDI:002001')), r.p.server)
    expect(bios?.file).toBe('undionly.kpxe')
    const efi = await r.client.ask(request('52:54:00:00:01:04', pxe(undefined, 'PXEClient:Arch:00007:UNDI:003016')), r.p.server)
    expect(efi?.file).toBe('ipxe.efi')
  })

  it('breaks the iPXE chainload loop by giving iPXE the script URL', async () => {
    const r = await rig()
    const offer = await r.client.ask(request('52:54:00:00:01:05', { ...pxe(0), userClass: ['iPXE'] }), r.p.server)
    expect(offer?.file).toBe('http://127.0.0.1:8080/boot.ipxe')
  })

  it('gives UEFI HTTP clients a URL and option 60 HTTPClient', async () => {
    const r = await rig()
    const offer = await r.client.ask(request('52:54:00:00:01:06', pxe(16, 'HTTPClient:Arch:00016:UNDI:003001')), r.p.server)
    expect(offer?.file).toBe('http://127.0.0.1:8080/ipxe.efi')
    expect(offer?.options.vendorClassId).toBe('HTTPClient')
    expect(offer?.options.vendorSpecific).toBeUndefined()
  })
})

describe('DHCP server, proxyDHCP mode', () => {
  const proxy: Partial<DhcpInit> = {
    mode: 'proxy',
    subnets: [{ network: '127.0.0.0', netmask: '255.255.0.0' }]
  }

  it('answers PXE clients with boot information and no address', async () => {
    const r = await rig(proxy)
    const offer = await r.client.ask(request('52:54:00:00:02:01', { messageType: MessageType.DISCOVER, vendorClassId: 'PXEClient:Arch:00000:UNDI:002001', clientArch: [0] }), r.p.server)
    expect(offer?.options.messageType).toBe(MessageType.OFFER)
    expect(offer?.yiaddr).toBe('0.0.0.0')
    expect(offer?.options.leaseTime).toBeUndefined()
    expect(offer?.options.subnetMask).toBeUndefined()
    expect(offer?.file).toBe('undionly.kpxe')
    expect(offer?.options.vendorClassId).toBe('PXEClient')
    expect(r.server.leases()).toEqual([])
  })

  it('ignores clients that are not network-booting, and address requests', async () => {
    const r = await rig(proxy)
    expect(await r.client.ask(request('52:54:00:00:02:02', { messageType: MessageType.DISCOVER, vendorClassId: 'udhcp 1.36.1' }), r.p.server, undefined, 300)).toBeUndefined()
    expect(await r.client.ask(request('52:54:00:00:02:02', { messageType: MessageType.REQUEST, requestedIp: '127.0.0.100', vendorClassId: 'PXEClient:Arch:00000' }), r.p.server, undefined, 300)).toBeUndefined()
    expect(r.server.metrics.offers + r.server.metrics.acks + r.server.metrics.naks).toBe(0)
  })

  it('answers the PXE boot-server request on the PXE port straight back to the sender', async () => {
    const r = await rig(proxy)
    const pxeClient = await TestClient.open(r.p.spare, '127.0.0.1')
    cleanups.push(async () => { await pxeClient.close() })
    const ack = await pxeClient.ask(request('52:54:00:00:02:03', {
      messageType: MessageType.REQUEST, vendorClassId: 'PXEClient:Arch:00007:UNDI:003016', clientArch: [7]
    }, { ciaddr: '127.0.0.77', flags: 0 }), r.p.pxe)
    expect(ack?.options.messageType).toBe(MessageType.ACK)
    expect(ack?.file).toBe('ipxe.efi')
    expect(r.sighted.at(-1)).toMatchObject({ mac: '52:54:00:00:02:03', arch: 'x86_64-uefi', ip: '127.0.0.77' })
  })
})

describe('DHCP server lifecycle', () => {
  it('start() and stop() are safe to call twice, and the server restarts', async () => {
    const p = ports()
    const server = createDhcpServer(loopbackConfig(p), { logger: quietLogger, leaseStore: new MemoryLeaseStore() })
    cleanups.push(async () => { await server.stop() })
    await server.stop()
    await Promise.all([server.start(), server.start()])
    await server.start()
    expect(server.started).toBe(true)
    await server.stop()
    await server.stop()
    expect(server.started).toBe(false)
    await server.start()
    const client = await TestClient.open(p.client)
    cleanups.push(async () => { await client.close() })
    expect((await client.ask(request('52:54:00:00:03:01', { messageType: MessageType.DISCOVER }), p.server))?.options.messageType).toBe(MessageType.OFFER)
  })

  it('reports a port held by another process with a typed error', async () => {
    const p = ports()
    const holder = await TestClient.open(p.server, '127.0.0.1')
    cleanups.push(async () => { await holder.close() })
    const server = createDhcpServer(loopbackConfig(p), { logger: quietLogger, leaseStore: new MemoryLeaseStore() })
    await expect(server.start()).rejects.toMatchObject({ code: 'ERR_DHCP_PORT_IN_USE' })
    expect(server.started).toBe(false)
  })

  it('rejects an invalid configuration with every problem listed', () => {
    const p = ports()
    expect(() => createDhcpServer({ ...loopbackConfig(p), subnets: [{ network: '127.0.0.0', netmask: '255.255.0.0' }] }, { logger: quietLogger, leaseStore: new MemoryLeaseStore() }))
      .toThrow(expect.objectContaining({ code: 'ERR_DHCP_INVALID_CONFIG' }))
    expect(() => createDhcpServer({ ...loopbackConfig(p), serverAddress: '300.1.1.1' }, { logger: quietLogger, leaseStore: new MemoryLeaseStore() }))
      .toThrow(expect.objectContaining({ code: 'ERR_DHCP_INVALID_CONFIG' }))
    expect(() => createDhcpServer({ ...loopbackConfig(p), serverAddress: '10.0.0.1' }, { logger: quietLogger, leaseStore: new MemoryLeaseStore() }))
      .toThrow(/inside no configured subnet/)
    // the BOOTP file field holds 127 bytes
    expect(() => createDhcpServer({ ...loopbackConfig(p), boot: { files: { bios: 'x'.repeat(128) } } }, { logger: quietLogger, leaseStore: new MemoryLeaseStore() }))
      .toThrow(expect.objectContaining({ code: 'ERR_DHCP_INVALID_CONFIG' }))
    expect(() => createDhcpServer({ ...loopbackConfig(p), subnets: [{ ...loopbackConfig(p).subnets[0]!, range: { start: '127.0.0.200', end: '127.0.0.100' } }] }, { logger: quietLogger, leaseStore: new MemoryLeaseStore() }))
      .toThrow(/not an ordered range/)
  })
})
