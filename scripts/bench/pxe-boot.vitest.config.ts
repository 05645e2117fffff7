// Config for the PXE boot benchmark only (run by scripts/bench/pxe-boot.mjs, never by `npm test`).
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    root: resolve(dirname(fileURLToPath(import.meta.url)), '../..'),
    include: ['scripts/bench/pxe-boot.bench.ts'],
    setupFiles: ['./agent/polyfill.ts'],
    // one run boots two machines under TCG; a loaded host can take minutes
    testTimeout: 600_000,
    hookTimeout: 120_000,
    fileParallelism: false,
    pool: 'forks'
  }
})
