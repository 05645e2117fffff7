/**
 * Selectors over tags, as in DESIGN.md section 3: comma-separated terms, all of which must
 * hold. `k=v`, `k!=v`, `k in (a,b)`, `k notin (a,b)`, `k` (has the tag), `!k` (lacks it).
 * The empty selector matches everything.
 *
 * @example
 * parseSelector('dc=nbg1,role in (builder,packager),!draining').matches({ dc: 'nbg1', role: 'builder' }) // true
 */
export class SelectorError extends Error {
  readonly code = 'SELECTOR_INVALID'
  constructor (selector: string, why: string) {
    super(`selector "${selector}": ${why}`)
    this.name = 'SelectorError'
  }
}

type Term =
  | { op: 'eq' | 'ne', key: string, value: string }
  | { op: 'in' | 'notin', key: string, values: string[] }
  | { op: 'exists' | 'absent', key: string }

export interface Selector {
  text: string
  terms: readonly Term[]
  matches: (tags: Record<string, string>) => boolean
}

const KEY = /^[a-z0-9][a-z0-9._/-]{0,62}$/
const VALUE = /^[A-Za-z0-9._:/@+-]{0,128}$/

function splitTerms (text: string): string[] {
  const out: string[] = []
  let depth = 0
  let cur = ''
  for (const ch of text) {
    if (ch === '(') depth++
    if (ch === ')') depth--
    if (ch === ',' && depth === 0) { out.push(cur); cur = '' } else cur += ch
  }
  out.push(cur)
  return out.map(t => t.trim())
}

function parseTerm (selector: string, t: string): Term {
  const set = /^([^\s!=]+)\s+(in|notin)\s+\(([^)]*)\)$/.exec(t)
  if (set != null) {
    const values = set[3].split(',').map(v => v.trim()).filter(v => v.length > 0)
    if (!KEY.test(set[1])) throw new SelectorError(selector, `bad key "${set[1]}"`)
    if (values.length === 0 || !values.every(v => VALUE.test(v))) throw new SelectorError(selector, `bad value list in "${t}"`)
    return { op: set[2] as 'in' | 'notin', key: set[1], values }
  }
  const cmp = /^([^\s!=]+)\s*(!=|==|=)\s*(.*)$/.exec(t)
  if (cmp != null) {
    if (!KEY.test(cmp[1])) throw new SelectorError(selector, `bad key "${cmp[1]}"`)
    if (!VALUE.test(cmp[3])) throw new SelectorError(selector, `bad value "${cmp[3]}"`)
    return { op: cmp[2] === '!=' ? 'ne' : 'eq', key: cmp[1], value: cmp[3] }
  }
  const neg = t.startsWith('!')
  const key = neg ? t.slice(1).trim() : t
  if (!KEY.test(key)) throw new SelectorError(selector, `cannot read "${t}"`)
  return { op: neg ? 'absent' : 'exists', key }
}

export function parseSelector (text: string): Selector {
  const trimmed = text.trim()
  if (trimmed.length > 1024) throw new SelectorError(trimmed.slice(0, 32), 'longer than 1024 characters')
  const terms = trimmed === '' ? [] : splitTerms(trimmed).map(t => { if (t === '') throw new SelectorError(trimmed, 'empty term'); return parseTerm(trimmed, t) })
  return {
    text: trimmed,
    terms,
    matches: tags => terms.every(term => {
      const v = tags[term.key]
      switch (term.op) {
        case 'eq': return v === term.value
        case 'ne': return v !== term.value
        case 'in': return v !== undefined && term.values.includes(v)
        case 'notin': return v === undefined || !term.values.includes(v)
        case 'exists': return v !== undefined
        case 'absent': return v === undefined
      }
      return false
    })
  }
}
