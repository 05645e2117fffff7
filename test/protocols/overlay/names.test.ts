import { describe, expect, it } from 'vitest'
import { DEFAULT_OVERLAY_DOMAIN, overlayNames, relativeNameOf } from '../../../protocols/overlay/names.js'

const m = (peer: string, tags: Record<string, string>, address?: string): { peer: string, tags: Record<string, string>, address?: string, address6: string } =>
  ({ peer, tags, ...(address != null ? { address } : {}), address6: `fd00::${peer.length}` })

describe('overlay names', () => {
  it('a member tagged name= and dc= is <name>.<dc>, without dc just <name>; in lower case', () => {
    expect(relativeNameOf({ name: 'web-1', dc: 'nbg1' })).toBe('web-1.nbg1')
    expect(relativeNameOf({ name: 'Web1', dc: 'NBG1' })).toBe('web1.nbg1')
    expect(relativeNameOf({ name: 'web1' })).toBe('web1')
    expect(DEFAULT_OVERLAY_DOMAIN).toBe('ctpf.internal')
  })

  it('names that are not DNS labels give no name', () => {
    for (const tags of [{ dc: 'nbg1' }, { name: '' }, { name: 'a.b', dc: 'x' }, { name: '-a' }, { name: 'a-' }, { name: 'a_b' }, { name: 'x'.repeat(64) }, { name: 'ok', dc: 'bad dc' }]) {
      expect(relativeNameOf(tags as Record<string, string>), JSON.stringify(tags)).toBeUndefined()
    }
  })

  it('only members with an overlay address are in the zone, with A and AAAA', () => {
    const { records, conflicts } = overlayNames([
      m('peer-b', { name: 'b', dc: 'x' }, '100.96.0.2'),
      m('peer-a', { name: 'a', dc: 'x' }, '100.96.0.1'),
      m('peer-c', { name: 'c', dc: 'x' })
    ])
    expect(records).toEqual([
      { name: 'a.x', peer: 'peer-a', a: ['100.96.0.1'], aaaa: ['fd00::6'] },
      { name: 'b.x', peer: 'peer-b', a: ['100.96.0.2'], aaaa: ['fd00::6'] }
    ])
    expect(conflicts).toEqual([])
  })

  it('two members with one name in one datacenter: the lowest peer id keeps it, whatever the order', () => {
    const members = [m('peer-z', { name: 'web', dc: 'x' }, '100.96.0.9'), m('peer-k', { name: 'WEB', dc: 'x' }, '100.96.0.5'), m('peer-q', { name: 'web', dc: 'y' }, '100.96.0.7')]
    for (const list of [members, [...members].reverse()]) {
      const { records, conflicts } = overlayNames(list)
      expect(records.map(r => [r.name, r.peer])).toEqual([['web.x', 'peer-k'], ['web.y', 'peer-q']])
      expect(conflicts).toEqual([{ name: 'web.x', peer: 'peer-z', keptBy: 'peer-k' }])
    }
  })
})
