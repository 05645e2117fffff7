#!/usr/bin/env node
// Builds the TUN addon: protocols/overlay/tun/native/build/Release/ctpf_tun.node
//
//   node protocols/overlay/tun/native/build.mjs              rebuild
//   node protocols/overlay/tun/native/build.mjs --if-needed  only when the .node is missing or older than its sources
//
// Uses the node-gyp bundled with npm and the headers of the Node that runs this script
// (<prefix>/include/node, prefix = two levels above process.execPath), passed as --nodedir so
// node-gyp never downloads anything. Needs a C compiler, make and python3.
import { spawnSync } from 'node:child_process'
import { existsSync, statSync, readdirSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const here = dirname(fileURLToPath(import.meta.url))
const output = join(here, 'build', 'Release', 'ctpf_tun.node')
const prefix = dirname(dirname(process.execPath))

function fail (message) {
  console.error(`ctpf_tun build: ${message}`)
  process.exit(1)
}

function findNodeGyp () {
  const candidates = [
    join(prefix, 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
    join(prefix, 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js')
  ]
  try { candidates.push(createRequire(import.meta.url).resolve('node-gyp/bin/node-gyp.js')) } catch {}
  return candidates.find(p => existsSync(p))
}

function findNodeDir () {
  if (existsSync(join(prefix, 'include', 'node', 'node_api.h'))) return prefix
  return undefined
}

function upToDate () {
  if (!existsSync(output)) return false
  const built = statSync(output).mtimeMs
  const sources = [join(here, 'binding.gyp'), ...readdirSync(join(here, 'src')).map(f => join(here, 'src', f))]
  return sources.every(s => statSync(s).mtimeMs <= built)
}

if (process.argv.includes('--if-needed') && upToDate()) {
  console.log(`ctpf_tun build: ${output} is up to date`)
  process.exit(0)
}

const nodeGyp = findNodeGyp()
if (nodeGyp === undefined) fail(`node-gyp not found (looked under ${prefix}/lib/node_modules/npm)`)
const nodedir = findNodeDir()
if (nodedir === undefined) fail(`Node headers not found at ${prefix}/include/node (install the nodejs headers, e.g. Debian libnode-dev)`)

const started = Date.now()
const r = spawnSync(process.execPath, [nodeGyp, 'rebuild', `--nodedir=${nodedir}`, '--release', '--loglevel=warn'], {
  cwd: here,
  stdio: 'inherit'
})
if (r.error !== undefined) fail(r.error.message)
if (r.status !== 0) fail(`node-gyp exited with ${r.status ?? r.signal}`)
if (!existsSync(output)) fail(`node-gyp finished but ${output} is missing`)
console.log(`ctpf_tun build: ${output} in ${((Date.now() - started) / 1000).toFixed(1)} s`)
