/**
 * The addon builds from source with the node-gyp bundled with npm and the headers of the
 * running Node — offline: any attempt to download headers would hit a dead proxy and fail.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm, stat } from 'node:fs/promises'
import { createRequire } from 'node:module'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, expect, it } from 'vitest'
import { DEFAULT_ADDON_PATH } from '../../../../protocols/overlay/tun/index.js'
import { BUILD_SCRIPT } from './addon-build.js'

const run = promisify(execFile)
let home = ''
afterAll(async () => { if (home !== '') await rm(home, { recursive: true, force: true }) })

it('builds ctpf_tun.node offline in seconds, and --if-needed then does nothing', async () => {
  home = await mkdtemp(join(tmpdir(), 'ctpf-tun-home-'))
  const env = { PATH: process.env.PATH ?? '', HOME: home, http_proxy: 'http://127.0.0.1:9', https_proxy: 'http://127.0.0.1:9', HTTP_PROXY: 'http://127.0.0.1:9', HTTPS_PROXY: 'http://127.0.0.1:9' }
  const started = Date.now()
  const { stdout } = await run(process.execPath, [BUILD_SCRIPT], { env, timeout: 180_000 })
  console.log(`addon build: ${Date.now() - started} ms`)
  expect(stdout).toContain('ctpf_tun.node')
  expect((await stat(DEFAULT_ADDON_PATH)).isFile()).toBe(true)
  const addon = createRequire(import.meta.url)(DEFAULT_ADDON_PATH) as Record<string, unknown>
  expect(Object.keys(addon).sort()).toEqual(['Reader', 'close', 'open', 'write'])
  const again = await run(process.execPath, [BUILD_SCRIPT, '--if-needed'], { env, timeout: 60_000 })
  expect(again.stdout).toMatch(/up to date/)
}, 200_000)
