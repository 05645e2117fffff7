import { describe, expect, it } from 'vitest'
import { Firewall, parsePacket } from '../../../protocols/overlay/index.js'
import type { PacketInfo } from '../../../protocols/overlay/index.js'
import { icmpEcho, tcp, udp } from '../../helpers/overlay-fakes.js'

const info = (pkt: Buffer): PacketInfo => parsePacket(pkt) as PacketInfo
const web = { dc: 'a', role: 'web' }
const db = { dc: 'b', role: 'db' }

describe('overlay firewall', () => {
  it('parses the headers it decides on', () => {
    expect(info(tcp('100.96.0.1', '100.96.0.2', 40000, 22))).toMatchObject({ version: 4, proto: 6, sport: 40000, dport: 22, tcpFlags: 2 })
    expect(info(udp('100.96.0.1', '100.96.0.2', 5353, 53))).toMatchObject({ proto: 17, dport: 53 })
    expect(info(icmpEcho('100.96.0.1', '100.96.0.2', 77, 1))).toMatchObject({ proto: 1, icmpType: 8, sport: 77, dport: 77 })
    expect(parsePacket(Buffer.from([0x45, 0]))).toBeUndefined()
  })

  it('allows everything without rules', () => {
    const fw = new Firewall()
    expect(fw.ingress(info(tcp('100.96.0.1', '100.96.0.2', 1234, 5432)), 'pa', web, db, 0)).toBe(true)
  })

  it('a group pair marked deny blocks new flows; a rule naming a port opens it; a port deny beats an allow', () => {
    const fw = new Firewall()
    fw.setRules([
      { name: 'a-to-b', value: { from: 'dc=a', to: 'dc=b', proto: 'any', action: 'deny' } },
      { name: 'pg', value: { from: 'role=web', to: 'role=db', proto: 'tcp', ports: [5432, 5432], action: 'allow' } }
    ])
    expect(fw.decide(info(tcp('100.96.0.1', '100.96.0.2', 1234, 5432)), 'pa', web, db)).toBe(true)
    expect(fw.decide(info(tcp('100.96.0.1', '100.96.0.2', 1234, 22)), 'pa', web, db)).toBe(false)
    expect(fw.decide(info(icmpEcho('100.96.0.1', '100.96.0.2', 1, 1)), 'pa', web, db)).toBe(false)
    // the other direction is not covered by the rules
    expect(fw.decide(info(tcp('100.96.0.2', '100.96.0.1', 1234, 22)), 'pb', db, web)).toBe(true)
    fw.setRules([
      { name: 'open', value: { from: '', to: '', proto: 'tcp', ports: [0, 65535], action: 'allow' } },
      { name: 'no-pg', value: { from: '', to: 'role=db', proto: 'tcp', ports: [5432, 5432], action: 'deny' } }
    ])
    expect(fw.decide(info(tcp('100.96.0.1', '100.96.0.2', 1234, 5432)), 'pa', web, db)).toBe(false)
    expect(fw.decide(info(tcp('100.96.0.1', '100.96.0.2', 1234, 5433)), 'pa', web, db)).toBe(true)
  })

  it('lets replies to flows this agent started pass a deny rule, but not new flows from the other side', () => {
    const fw = new Firewall()
    fw.setRules([{ name: 'deny-all', value: { action: 'deny' } }])
    // this agent (db) connects out to web:443
    fw.egress(info(tcp('100.96.0.2', '100.96.0.1', 50000, 443)), 0)
    expect(fw.ingress(info(tcp('100.96.0.1', '100.96.0.2', 443, 50000, 0x12)), 'pa', web, db, 10)).toBe(true)
    expect(fw.ingress(info(tcp('100.96.0.1', '100.96.0.2', 443, 50001, 0x12)), 'pa', web, db, 10)).toBe(false)
    // ping out, echo reply back
    fw.egress(info(icmpEcho('100.96.0.2', '100.96.0.1', 9, 1)), 0)
    expect(fw.ingress(info(icmpEcho('100.96.0.1', '100.96.0.2', 9, 1, 0)), 'pa', web, db, 10)).toBe(true)
    // a flow let in by the rules does not turn into "ours" when we answer it
    fw.setRules([])
    expect(fw.ingress(info(tcp('100.96.0.1', '100.96.0.2', 40000, 22)), 'pa', web, db, 20)).toBe(true)
    fw.egress(info(tcp('100.96.0.2', '100.96.0.1', 22, 40000, 0x12)), 21)
    fw.setRules([{ name: 'deny-all', value: { action: 'deny' } }])
    expect(fw.ingress(info(tcp('100.96.0.1', '100.96.0.2', 40000, 22, 0x10)), 'pa', web, db, 22)).toBe(false)
    // tracked flows expire
    expect(fw.ingress(info(tcp('100.96.0.1', '100.96.0.2', 443, 50000, 0x10)), 'pa', web, db, 10 + 121_000)).toBe(false)
  })

  it('skips invalid rules and reports them', () => {
    const fw = new Firewall()
    fw.setRules([
      { name: 'bad-sel', value: { from: 'dc==(', action: 'deny' } },
      { name: 'bad-ports', value: { proto: 'tcp', ports: [90, 80], action: 'deny' } },
      { name: 'bad-action', value: { action: 'drop' } },
      { name: 'ok', value: { proto: 'udp', action: 'deny' } }
    ])
    expect(fw.rules().map(r => r.name)).toEqual(['ok'])
    expect(fw.errors().map(e => e.name)).toEqual(['bad-sel', 'bad-ports', 'bad-action'])
  })
})
