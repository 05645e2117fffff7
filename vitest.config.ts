import { defineConfig } from 'vitest/config'

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    setupFiles: ['./agent/polyfill.ts'],
    testTimeout: 60_000,
    hookTimeout: 60_000,
    // integration tests start real processes and namespaces: keep them from fighting over 2 cores
    fileParallelism: false,
    pool: 'forks'
  }
})
