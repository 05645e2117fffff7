import { describe, expect, it } from 'vitest'
import {
  AddressBook, OverlayConfigError, candidate, claimKey, formatIpv6, intToIpv4, ipv4ToInt, ipv6OfPeer,
  inPrefix6, ipv6ToBytes, meshUla, meshUlaText, overlaps6, parseIpPrefix, parseV4Prefix, parseV6Prefix, subnetPrefix, usableCount
} from '../../../protocols/overlay/index.js'
import { FakeMembers, SharedState } from '../../helpers/overlay-fakes.js'

const range = parseV4Prefix('100.96.0.0/16')

describe('overlay addresses', () => {
  it('parses prefixes and refuses host bits, bad lengths and non-addresses', () => {
    expect(parseV4Prefix('10.1.0.0/16')).toMatchObject({ prefix: 16, text: '10.1.0.0/16' })
    for (const bad of ['10.1.0.1/16', '10.1.0.0/33', '10.1.0.0', 'x/8', '300.1.1.1/8']) {
      expect(() => parseV4Prefix(bad), bad).toThrow(OverlayConfigError)
    }
    expect(intToIpv4(ipv4ToInt('100.96.200.7'))).toBe('100.96.200.7')
  })

  it('parses IPv6 prefixes, matches addresses against them and refuses subnets that are too wide or overlap the mesh', () => {
    expect(ipv6ToBytes('fd00:10::1').toString('hex')).toBe('fd000010000000000000000000000001')
    expect(ipv6ToBytes('::ffff:192.0.2.1').toString('hex')).toBe('00000000000000000000ffffc0000201')
    expect(ipv6ToBytes('2001:db8:1:2:3:4:5:6').toString('hex')).toBe('20010db8000100020003000400050006')
    const p = parseV6Prefix('fd00:0010:0:0::/64')
    expect(p).toMatchObject({ prefix: 64, text: 'fd00:10::/64' })
    expect(inPrefix6(ipv6ToBytes('fd00:10::9'), p)).toBe(true)
    expect(inPrefix6(ipv6ToBytes('fd00:11::9'), p)).toBe(false)
    // a length that is not a whole byte
    const odd = parseV6Prefix('fd00:10:0:8000::/49')
    expect(inPrefix6(ipv6ToBytes('fd00:10:0:ffff::1'), odd)).toBe(true)
    expect(inPrefix6(ipv6ToBytes('fd00:10:0:7fff::1'), odd)).toBe(false)
    for (const bad of ['fd00:10::1/64', 'fd00::/129', 'fd00::', 'fd00::/x', '10.0.0.0/8/1', 'zz::/64']) {
      expect(() => parseV6Prefix(bad), bad).toThrow(OverlayConfigError)
    }
    expect('v6' in parseIpPrefix('fd00:10::/64')).toBe(true)
    expect('v4' in parseIpPrefix('10.1.0.0/16')).toBe(true)
    const ula = meshUla('mesh-1')
    expect(overlaps6(ula, parseV6Prefix(`${ula.text.replace('::/48', '')}:7::/64`))).toBe(true)
    const whys: string[] = []
    const why = (w: string): void => { whys.push(w) }
    expect(subnetPrefix('fd00:10::/64', range, ula, why)).toMatchObject({ text: 'fd00:10::/64' })
    expect(subnetPrefix('fd00::/8', range, ula, why)).toBeUndefined()
    expect(subnetPrefix(`${ula.text.replace('::/48', '')}:7::/64`, range, ula, why)).toBeUndefined()
    expect(subnetPrefix('100.96.3.0/24', range, ula, why)).toBeUndefined()
    expect(subnetPrefix('10.0.0.0/7', range, ula, why)).toBeUndefined()
    expect(subnetPrefix('192.168.10.0/24', range, ula, why)).toMatchObject({ text: '192.168.10.0/24' })
    expect(whys).toEqual([
      'fd00::/8 is wider than a /16',
      expect.stringMatching(/overlaps the mesh's own fd[0-9a-f:]+\/48/),
      '100.96.3.0/24 overlaps the mesh range 100.96.0.0/16',
      '10.0.0.0/7 is wider than a /8'
    ])
  })

  it('derives a stable IPv6 address per peer inside the mesh ULA /48', () => {
    const a = ipv6OfPeer('mesh-1', 'peer-a')
    expect(ipv6OfPeer('mesh-1', 'peer-a')).toBe(a)
    expect(ipv6OfPeer('mesh-1', 'peer-b')).not.toBe(a)
    const ula = meshUlaText('mesh-1').replace('::/48', '')
    expect(ula).toMatch(/^fd[0-9a-f]{2}:/)
    expect(a.startsWith(`${ula}:0:`) || a.startsWith(`${ula}::`)).toBe(true)
    expect(meshUlaText('mesh-2')).not.toBe(meshUlaText('mesh-1'))
    expect(formatIpv6(Buffer.from('fd000000000000000000000000000001', 'hex'))).toBe('fd00::1')
    expect(new URL(`http://[${a}]/`).hostname).toBe(`[${a}]`)
  })

  it('prefers an address derived from the peer id and keeps it across restarts', async () => {
    const state = new SharedState()
    const members = new FakeMembers()
    members.add('peer-a')
    const book = new AddressBook({ self: 'peer-a', range, state: state.view('peer-a'), isMember: members.isMember })
    const ip = await book.ensure()
    expect(ip).toBe(candidate(range, 'peer-a', 0))
    expect(state.records.has(claimKey(ip, 'peer-a'))).toBe(true)
    const again = new AddressBook({ self: 'peer-a', range, state: state.view('peer-a'), isMember: members.isMember })
    expect(await again.ensure()).toBe(ip)
    expect([...state.records.keys()].filter(k => k.startsWith('addresses/'))).toHaveLength(1)
    expect(usableCount(range)).toBe(65534)
  })

  it('resolves a conflict the same way everywhere: the earlier claim keeps the address, the loser moves', async () => {
    const state = new SharedState()
    const members = new FakeMembers()
    members.add('peer-a'); members.add('peer-b')
    const wanted = candidate(range, 'peer-b', 0)
    // peer-a claimed peer-b's preferred address earlier, while they could not see each other
    state.put('peer-a', claimKey(wanted, 'peer-a'), { peer: 'peer-a' }, 500)
    state.put('peer-b', claimKey(wanted, 'peer-b'), { peer: 'peer-b' }, 600)
    const a = new AddressBook({ self: 'peer-a', range, state: state.view('peer-a'), isMember: members.isMember })
    const b = new AddressBook({ self: 'peer-b', range, state: state.view('peer-b'), isMember: members.isMember })
    expect(a.owners().get(wanted)).toBe('peer-a')
    expect(b.owners().get(wanted)).toBe('peer-a')
    expect(await a.ensure()).toBe(wanted)
    const moved = await b.ensure()
    expect(moved).not.toBe(wanted)
    expect(moved).toBe(candidate(range, 'peer-b', 1))
    // the lost claim is deleted, the new one owned
    expect(state.records.get(claimKey(wanted, 'peer-b'))?.value).toBeNull()
    expect(a.owners().get(moved)).toBe('peer-b')
  })

  it('breaks a tie of stamps by author, and ignores claims of peers that are not members', async () => {
    const state = new SharedState()
    const members = new FakeMembers()
    members.add('peer-a'); members.add('peer-b')
    const ip = ipv4ToInt('100.96.1.1')
    state.put('peer-b', claimKey(ip, 'peer-b'), { peer: 'peer-b' }, 700)
    state.put('peer-a', claimKey(ip, 'peer-a'), { peer: 'peer-a' }, 700)
    const book = new AddressBook({ self: 'peer-a', range, state: state.view('peer-a'), isMember: members.isMember })
    expect(book.owners().get(ip)).toBe('peer-a')
    members.revoke('peer-a')
    expect(book.owners().get(ip)).toBe('peer-b')
    // a claim written by someone else in a peer's name does not count
    state.put('peer-b', claimKey(ipv4ToInt('100.96.1.2'), 'peer-c'), { peer: 'peer-c' })
    members.add('peer-c')
    expect(book.owners().has(ipv4ToInt('100.96.1.2'))).toBe(false)
  })

  it('skips taken addresses and never hands out the network or broadcast address', async () => {
    const small = parseV4Prefix('10.9.9.0/30')
    const state = new SharedState()
    const members = new FakeMembers()
    const got: string[] = []
    for (const p of ['p1', 'p2']) {
      members.add(p)
      got.push(intToIpv4(await new AddressBook({ self: p, range: small, state: state.view(p), isMember: members.isMember }).ensure()))
    }
    expect(got.sort()).toEqual(['10.9.9.1', '10.9.9.2'])
    members.add('p3')
    await expect(new AddressBook({ self: 'p3', range: small, state: state.view('p3'), isMember: members.isMember }).ensure()).rejects.toMatchObject({ code: 'ERR_OVERLAY_ADDRESS_EXHAUSTED' })
  })
})
