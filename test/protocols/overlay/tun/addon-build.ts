/** Builds the addon when it is missing or stale (about a second), as `npm ci` will. */
import { execFile } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { promisify } from 'node:util'

export const BUILD_SCRIPT = fileURLToPath(new URL('../../../../protocols/overlay/tun/native/build.mjs', import.meta.url))

export async function ensureAddonBuilt (): Promise<void> {
  await promisify(execFile)(process.execPath, [BUILD_SCRIPT, '--if-needed'], { timeout: 120_000 })
}
