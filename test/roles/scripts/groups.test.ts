import { describe, expect, it } from 'vitest'
import { parseGroup, selectGroup, specificity, validateGroups, type GroupInput } from '../../../roles/scripts/index.js'

const g = (name: string, selector: GroupInput['selector'] = {}, profile = 'p'): GroupInput => ({ name, profile, selector })
const refusal = (groups: GroupInput[], options?: { profiles?: string[] }): any => {
  try { validateGroups(groups, options) } catch (err) { return err }
  throw new Error('accepted')
}

describe('group selection: the most specific match wins', () => {
  // selection works on any set, tied or not: parse each group alone
  const groups = [
    g('default'),
    g('arm', { arch: 'aarch64' }),
    g('rack1', { tags: { rack: 'r1' } }),
    g('arm-rack1', { arch: 'arm64', tags: { rack: 'r1' } }),
    g('web1', { mac: '52:54:00:AA:BB:01' }),
    g('web1-arm-rack1', { mac: '52-54-00-aa-bb-01', arch: 'arm64', tags: { rack: 'r1' } }),
    g('web1-rack1', { mac: '52:54:00:aa:bb:01', tags: { rack: 'r1' } }),
    g('web1-arm', { mac: '52:54:00:aa:bb:01', arch: 'arm64' }),
    g('db', { hostname: 'DB1.example.org.' }),
    g('db-rack1', { hostname: 'db1.example.org', tags: { rack: 'r1' } }),
    g('uuid', { uuid: '8C3F2A10-5B6D-4E7F-9A1B-2C3D4E5F6071' })
  ].map(parseGroup)
  const pick = (host: Parameters<typeof selectGroup>[1]): string | undefined => selectGroup(groups, host)?.name

  it('counts selector fields, each tag as one', () => {
    expect(specificity(parseGroup(g('x', { mac: '52:54:00:00:00:01', tags: { a: '1', b: '2' } })))).toBe(3)
    expect(specificity(parseGroup(g('x')))).toBe(0)
  })

  it('picks by MAC, arch, tags, hostname and UUID, however the machine spells them', () => {
    expect(pick({ mac: '52:54:00:00:00:99', arch: 'x86_64' })).toBe('default')
    expect(pick({ mac: '52:54:00:00:00:99', arch: 'arm64' })).toBe('arm')
    expect(pick({ mac: '52:54:00:00:00:99', arch: 'x86_64', tags: { rack: 'r1' } })).toBe('rack1')
    expect(pick({ mac: '52:54:00:00:00:99', arch: 'aarch64', tags: { rack: 'r1' } })).toBe('arm-rack1')
    expect(pick({ mac: '52-54-00-AA-BB-01', arch: 'x86_64' })).toBe('web1')
    expect(pick({ mac: '525400aabb01', arch: 'arm64', tags: { rack: 'r1', extra: 'x' } })).toBe('web1-arm-rack1')
    expect(pick({ mac: '52:54:00:00:00:99', hostname: 'db1.EXAMPLE.org' })).toBe('db')
    expect(pick({ mac: '52:54:00:00:00:99', hostname: 'db1.example.org', tags: { rack: 'r1' } })).toBe('db-rack1')
    expect(pick({ mac: '52:54:00:00:00:99', uuid: '8c3f2a10-5b6d-4e7f-9a1b-2c3d4e5f6071' })).toBe('uuid')
  })

  it('takes i386 on pcbios as x86_64 (iPXE BIOS builds are 32-bit)', () => {
    const byArch = validateGroups([g('x86', { arch: 'x86_64' }), g('other')])
    expect(selectGroup(byArch, { mac: '52:54:00:00:00:01', arch: 'i386', platform: 'pcbios' })?.name).toBe('x86')
    expect(selectGroup(byArch, { mac: '52:54:00:00:00:01', arch: 'i386', platform: 'efi' })?.name).toBe('other')
  })

  it('answers undefined when nothing matches', () => {
    expect(selectGroup(validateGroups([g('arm', { arch: 'arm64' })]), { mac: '52:54:00:00:00:01', arch: 'x86_64' })).toBeUndefined()
  })

  it('breaks a tie that slipped through (concurrent writes) by the lower name, whatever the order', () => {
    const tied = [parseGroup(g('b', { arch: 'arm64' })), parseGroup(g('a', { tags: { rack: 'r1' } }))]
    const host = { arch: 'arm64', tags: { rack: 'r1' } }
    expect(selectGroup(tied, host)?.name).toBe('a')
    expect(selectGroup([...tied].reverse(), host)?.name).toBe('a')
  })
})

describe('groups that could tie are refused at write time', () => {
  it('two identical selectors', () => {
    const err = refusal([g('one', { arch: 'arm64' }), g('two', { arch: 'aarch64' })])
    expect(err.code).toBe('ERR_SCRIPTS_GROUP_TIE')
    expect(err.groups).toEqual(['one', 'two'])
    expect(err.message).toMatch(/"one" and "two"/)
    expect(err.message).toMatch(/arch=arm64/)
  })

  it('two default groups', () => {
    expect(refusal([g('a'), g('b')]).code).toBe('ERR_SCRIPTS_GROUP_TIE')
  })

  it('different fields that one host can have at once', () => {
    const err = refusal([g('by-mac', { mac: '52:54:00:00:00:01' }), g('by-arch', { arch: 'arm64' })])
    expect(err.code).toBe('ERR_SCRIPTS_GROUP_TIE')
    expect(err.message).toMatch(/mac=52:54:00:00:00:01, arch=arm64|arch=arm64, mac=52:54:00:00:00:01/)
    expect(refusal([g('r', { tags: { rack: 'r1' } }), g('z', { tags: { zone: 'z1' } })]).code).toBe('ERR_SCRIPTS_GROUP_TIE')
  })

  it('but not when a more specific group covers every host that matches both', () => {
    expect(() => validateGroups([
      g('by-mac', { mac: '52:54:00:00:00:01' }), g('by-arch', { arch: 'arm64' }),
      g('both', { mac: '52:54:00:00:00:01', arch: 'arm64' })
    ])).not.toThrow()
    // …and the covering group must lie within both selectors, not merely be more specific
    expect(refusal([
      g('by-mac', { mac: '52:54:00:00:00:01' }), g('by-arch', { arch: 'arm64' }),
      g('elsewhere', { mac: '52:54:00:00:00:01', arch: 'x86_64' })
    ]).code).toBe('ERR_SCRIPTS_GROUP_TIE')
    // deleting the covering group brings the tie back
    expect(refusal([g('by-mac', { mac: '52:54:00:00:00:01' }), g('by-arch', { arch: 'arm64' })]).groups).toEqual(['by-arch', 'by-mac'])
  })

  it('accepts groups no host can match together, or whose overlap a more specific group covers', () => {
    const valid = [
      g('m1', { mac: '52:54:00:00:00:01' }), g('m2', { mac: '52:54:00:00:00:02' }),
      g('arm', { arch: 'arm64' }), g('x86', { arch: 'x86_64' }), g('default'),
      g('m1-arm', { mac: '52:54:00:00:00:01', arch: 'arm64' }), g('m1-x86', { mac: '52:54:00:00:00:01', arch: 'x86_64' }),
      g('m2-arm', { mac: '52:54:00:00:00:02', arch: 'arm64' }), g('m2-x86', { mac: '52:54:00:00:00:02', arch: 'x86_64' })
    ]
    expect(validateGroups(valid)).toHaveLength(valid.length)
    // a tag group overlaps the MAC groups with nothing covering the overlap
    expect(refusal([...valid, g('r1', { tags: { rack: 'r1' } })]).groups).toEqual(['arm', 'r1'])
  })
})

describe('groups are validated', () => {
  it('refuses a duplicate name, an unknown profile, and bad selectors', () => {
    expect(refusal([g('a', { arch: 'arm64' }), g('a', { arch: 'x86_64' })]).code).toBe('ERR_SCRIPTS_DUPLICATE_GROUP')
    expect(refusal([g('a', {}, 'nope')], { profiles: ['p'] })).toMatchObject({ code: 'ERR_SCRIPTS_UNKNOWN_PROFILE', group: 'a', profile: 'nope' })
    for (const selector of [{ mac: '52:54:00:00:00' }, { uuid: 'not-a-uuid' }, { arch: 'sparc' }, { hostname: 'bad host' }, { tags: { rack: 'a b' } }, { color: 'red' }]) {
      const err = refusal([g('a', selector as any)])
      expect(err.code).toBe('ERR_SCRIPTS_INVALID_GROUP')
      expect(err.issues.length).toBeGreaterThan(0)
    }
    expect(refusal([{ name: 'a/b', profile: 'p' }]).code).toBe('ERR_SCRIPTS_INVALID_GROUP')
    expect(refusal([{ name: 'a', profile: 'p', metadata: { k: 'two\nlines' } }]).code).toBe('ERR_SCRIPTS_INVALID_GROUP')
  })

  it('normalizes what it stores', () => {
    expect(parseGroup(g('a', { mac: '52-54-00-AA-BB-01', uuid: '8C3F2A10-5B6D-4E7F-9A1B-2C3D4E5F6071', arch: 'amd64', hostname: 'Web1.Example.org.' })).selector)
      .toEqual({ mac: '52:54:00:aa:bb:01', uuid: '8c3f2a10-5b6d-4e7f-9a1b-2c3d4e5f6071', arch: 'x86_64', hostname: 'web1.example.org' })
  })
})
