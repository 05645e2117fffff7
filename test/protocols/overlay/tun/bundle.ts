/**
 * Bundles a TypeScript child script (and the module under test) into one .mjs with esbuild,
 * so a plain `node` in another network namespace can run it.
 */
import { build } from 'esbuild'
import { join } from 'node:path'

export async function bundleScript (entry: string, outDir: string): Promise<string> {
  const outfile = join(outDir, entry.replace(/^.*\//, '').replace(/\.ts$/, '.mjs'))
  await build({ entryPoints: [entry], outfile, bundle: true, platform: 'node', format: 'esm', target: 'node20', logLevel: 'warning' })
  return outfile
}
