/**
 * Gates for tests that need root, network namespaces, TUN or QEMU.
 *
 * On a developer laptop without root they skip loudly, saying why. Under CI=true they never
 * skip: a missing privilege or tool fails the suite instead.
 */
import { execFileSync } from 'node:child_process'
import { describe } from 'vitest'

export const isCI = process.env.CI === 'true'
export const isRoot = typeof process.getuid === 'function' && process.getuid() === 0

function missingTools (tools: string[]): string[] {
  return tools.filter(t => {
    try {
      execFileSync('sh', ['-c', 'command -v "$1"', 'sh', t], { stdio: 'ignore' })
      return false
    } catch {
      return true
    }
  })
}

/**
 * `describe` that needs root and the given executables.
 * Skips with a printed reason on a laptop; throws under CI.
 */
export function describePrivileged (name: string, tools: string[], fn: () => void): void {
  const reasons: string[] = []
  if (!isRoot) reasons.push('needs root')
  const missing = missingTools(tools)
  if (missing.length > 0) reasons.push(`missing ${missing.join(', ')} (run scripts/install-test-deps.sh)`)
  if (reasons.length === 0) {
    describe(name, fn)
    return
  }
  const why = `${name}: ${reasons.join('; ')}`
  if (isCI) throw new Error(`CI=true and a privileged test cannot run: ${why}`)
  console.warn(`\n*** SKIPPING privileged tests — ${why}\n`)
  describe.skip(name, fn)
}
