// npm run bench: runs every benchmark in this folder in turn (or those named as arguments).
import { spawnSync } from 'node:child_process'
import { readdirSync } from 'node:fs'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const wanted = process.argv.slice(2)
const benches = readdirSync(here).filter(f => f.endsWith('.mjs') && !['run.mjs', 'lib.mjs'].includes(f))
  .filter(f => wanted.length === 0 || wanted.some(w => f.startsWith(w)))
let failed = 0
for (const b of benches) {
  const r = spawnSync(process.execPath, [join(here, b)], { stdio: 'inherit' })
  if (r.status !== 0) { failed++; console.error(`bench ${b} failed (exit ${r.status})`) }
}
process.exit(failed > 0 ? 1 : 0)
