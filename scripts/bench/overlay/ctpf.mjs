// ctpf agents inside the lab's namespaces, from a private copy of dist/ctpf.mjs (another build
// may rewrite dist/ while the bench runs). Its node_modules is a link to the tree's, so the
// agent finds both its external modules and the TUN addon (agent/overlay.ts resolves libp2p
// through it and takes the addon from that tree's protocols/overlay/tun/native/build/).
import { copyFileSync, existsSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { inNs, spawnIn, tempDir, until } from './lab.mjs'

export const RANGE = '100.96.0.0/16'
const TUN = 'ctpfnbov'
let cliCopy

/** Copies the bundle once; resolves to { path, built } (built: the bundle's mtime). */
export async function snapshotBundle (cli) {
  await until('a complete bundle (a build may be writing it)', () => /\/\/# sourceMappingURL=\S+\s*$/.test(readFileSync(cli, 'utf8').slice(-200)), 120_000, 500)
  const dir = tempDir('cli', true)
  cliCopy = join(dir, 'ctpf.mjs')
  copyFileSync(cli, cliCopy)
  symlinkSync(resolve('node_modules'), join(dir, 'node_modules'))
  return { path: cliCopy, built: statSync(cli).mtime.toISOString().slice(0, 19) }
}

/**
 * Starts an agent in `ns` listening on `listen`:4001 with the overlay on. Options: tags,
 * announce (announce the listen address as it is), circuit (also listen on /p2p-circuit),
 * joinToken (given through a 0600 file named by CTPF_JOIN_FILE, never in argv).
 */
export async function startAgent (ns, { listen, tags = [], announce = false, circuit = false, joinToken } = {}) {
  const dir = tempDir('agent')
  writeFileSync(join(dir, 'config.json'), JSON.stringify({ overlay: { range: RANGE, tunName: TUN } }))
  const env = { ...process.env, CTPF_LOG_LEVEL: 'warn' }
  if (joinToken != null) {
    const file = join(dir, 'join.token')
    writeFileSync(file, joinToken + '\n', { mode: 0o600 })
    env.CTPF_JOIN_FILE = file
  }
  const addr = `/ip4/${listen}/tcp/4001`
  // BENCH_AGENT_NODE_ARGS: extra node flags for the agents (e.g. "--cpu-prof --cpu-prof-dir=/tmp/p")
  const nodeArgs = (process.env.BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const argv = [process.execPath, ...nodeArgs, cliCopy, 'agent', '--data-dir', dir, '--listen', addr,
    ...(circuit ? ['--listen', '/p2p-circuit'] : []), ...(announce ? ['--announce', addr] : []), ...tags.flatMap(t => ['--tag', t])]
  const proc = spawnIn(ns, argv, env)
  const m = await proc.waitFor(/ctpf agent (\S+) /, 90_000)
  await until(`${ns}'s control.url`, () => existsSync(join(dir, 'control.url')), 30_000, 100)
  const agent = {
    ns,
    dir,
    proc,
    peerId: m[1],
    cli: async args => {
      const r = await inNs(ns, [process.execPath, cliCopy, ...args, '--data-dir', dir, '--json'], 60_000)
      if (r.code !== 0) throw new Error(`ctpf ${args.join(' ')} in ${ns}: exit ${r.code}: ${r.stderr.trim()}`)
      return JSON.parse(r.stdout)
    },
    stop: () => proc.stop()
  }
  return agent
}

export async function invite (agent, tags) {
  return (await agent.cli(['invite', 'create', ...tags.flatMap(t => ['--tag', t])])).token
}

/** The overlay address `from` knows for `to`, and its view of the path. */
export async function peerView (from, to) {
  const st = await from.cli(['net', 'status'])
  if (!st.enabled) throw new Error(`the overlay is off in ${from.ns}: ${st.reason}`)
  const p = st.peers.find(x => x.peer === to.peerId)
  return { self: st.address, address: p?.address, path: p?.path, remoteAddr: p?.remoteAddr }
}
