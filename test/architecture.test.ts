import { readdirSync, readFileSync, statSync } from 'node:fs'
import { join, relative, resolve, dirname } from 'node:path'
import { describe, expect, it } from 'vitest'

/** Imports run one way: agent → roles → protocols → store. No role imports another role. */
const layers = ['agent', 'roles', 'protocols', 'store'] as const
const rank = (layer: string): number => layers.indexOf(layer as typeof layers[number])

function sources (dir: string): string[] {
  const out: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) out.push(...sources(p))
    else if (/\.(ts|mts|js|mjs)$/.test(name) && !name.endsWith('.d.ts')) out.push(p)
  }
  return out
}

function importsOf (file: string): string[] {
  const text = readFileSync(file, 'utf8')
  const specs: string[] = []
  for (const m of text.matchAll(/(?:import|export)\s[^'"]*?from\s+['"]([^'"]+)['"]|import\s+['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)/g)) {
    specs.push(m[1] ?? m[2] ?? m[3])
  }
  return specs
}

function violations (root: string): string[] {
  const found: string[] = []
  for (const layer of layers) {
    let files: string[] = []
    try { files = sources(join(root, layer)) } catch { continue }
    for (const file of files) {
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue
        const target = relative(root, resolve(dirname(file), spec)).split('/')
        const targetLayer = target[0]
        if (rank(targetLayer) === -1) continue
        const from = relative(root, file)
        if (rank(targetLayer) < rank(layer)) found.push(`${from} imports ${spec} (${layer} → ${targetLayer})`)
        if (layer === 'roles' && targetLayer === 'roles') {
          const fromRole = from.split('/')[1]
          const toRole = target[1]
          // distributor components live under roles/distributor/<component>: one role
          if (fromRole !== toRole) found.push(`${from} imports ${spec} (role ${fromRole} → role ${toRole})`)
        }
      }
    }
  }
  return found
}

describe('architecture', () => {
  it('imports run agent → roles → protocols → store and no role imports another', () => {
    expect(violations(resolve('.'))).toEqual([])
  })

  it('the check catches a wrong-way import', async () => {
    const { mkdtempSync, mkdirSync, writeFileSync } = await import('node:fs')
    const { tmpdir } = await import('node:os')
    const root = mkdtempSync(join(tmpdir(), 'ctpf-arch-'))
    for (const d of ['store', 'agent', 'roles/builder', 'roles/packager']) mkdirSync(join(root, d), { recursive: true })
    writeFileSync(join(root, 'agent/a.ts'), "export const a = 1\n")
    writeFileSync(join(root, 'store/s.ts'), "import { a } from '../agent/a.js'\nexport const s = a\n")
    writeFileSync(join(root, 'roles/builder/b.ts'), "import { p } from '../packager/p.js'\nexport const b = p\n")
    writeFileSync(join(root, 'roles/packager/p.ts'), "export const p = 1\n")
    const v = violations(root)
    expect(v.some(x => x.includes('store/s.ts'))).toBe(true)
    expect(v.some(x => x.includes('role builder → role packager'))).toBe(true)
  })
})
