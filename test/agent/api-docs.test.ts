import { readFileSync } from 'node:fs'
import { describe, expect, it } from 'vitest'
import { openApiDocument } from '../../agent/control/openapi.js'

describe('the API reference', () => {
  it('the README\'s route table names every path of the OpenAPI document, so the two cannot drift apart', () => {
    const readme = readFileSync('README.md', 'utf8')
    // Markdown escapes a | inside a table cell as \|
    const table = readme.slice(readme.indexOf('### Control API'), readme.indexOf('## How membership works')).replaceAll('\\|', '|')
    const documented = Object.keys((openApiDocument('test') as { paths: Record<string, unknown> }).paths)
    // parameter names may differ ({cid|name} for {ref})
    const norm = (p: string): string => p.replace(/\{[^}]+\}/g, '{}')
    const rows = [...table.matchAll(/\/v1(\/[A-Za-z0-9/{}|_.\[\]-]*)/g)].map(m => norm(m[1]))
    const missing = documented.filter(p => !rows.includes(norm(p)))
    expect(missing).toEqual([])
    // and every route the README names is in the document
    const undocumented = [...new Set(rows)].filter(r => r !== '/openapi.json' && !documented.map(norm).includes(r))
    expect(undocumented).toEqual([])
  })
})
