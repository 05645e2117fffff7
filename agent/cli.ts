#!/usr/bin/env node
/**
 * `ctpf`: runs the agent (`ctpf agent`) and is a thin typed client of a running agent's
 * control endpoint for everything else. Every client command takes --data-dir and --json.
 */
import './polyfill.js'
import { join } from 'node:path'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { Command, Option } from 'commander'
import { Agent, foundMesh } from './agent.js'
import { loadConfig, parseTags, resolveDataDir } from './config.js'
import { ControlClient } from './control/client.js'
import { ensureDataDir, files, loadIdentity, readMeshFile, writeFileAtomic } from './datadir.js'
import { createLogger } from './logger.js'
import { openStore } from '../store/index.js'
import { registerMediaCommands } from './cli-media.js'
import { registerProvisionCommands } from './cli-provision.js'
import { registerSshCommands } from './cli-ssh.js'
import { registerNetCommands } from './cli-net.js'
import { client, collect, dataDirOption, fail, fmtJob, fmtTags, out, progressBar, waitForJob } from './cli-common.js'
import type { MemberView, PeerView, StatusView } from './control/api.js'

const program = new Command('ctpf')
  .description('one agent per machine; together they are a cloud with no central server')
  .version('0.1.0')
  .showHelpAfterError()


program.command('agent')
  .description('run the agent: found a mesh on an empty data directory, or join one with --join')
  .addOption(dataDirOption())
  .option('--listen <multiaddr>', 'mesh listen address (repeatable)', collect)
  .option('--announce <multiaddr>', 'address to announce instead of the listen addresses (repeatable)', collect)
  .option('--control <host:port>', 'control endpoint on loopback (port 0 = any)')
  .option('--tag <k=v>', 'a tag of this agent (repeatable)', collect)
  .option('--join <token>', 'join a mesh with an invite token (prefer --join-file or CTPF_JOIN_TOKEN: arguments are visible to other users)')
  .option('--join-file <path>', 'read the invite token from a file')
  .option('--config <file>', 'config file (default <data-dir>/config.json)')
  .option('--log-level <level>', 'fatal|error|warn|info|debug|trace|silent')
  .action(async (opts) => {
    let agent: Agent | undefined
    try {
      const config = loadConfig({ dataDir: opts.dataDir, listen: opts.listen, announce: opts.announce, control: opts.control, tag: opts.tag, join: opts.join, joinFile: opts.joinFile, config: opts.config, logLevel: opts.logLevel })
      const log = createLogger(config.logLevel)
      agent = await Agent.start(config, log)
      const s = agent.status()
      const lines = [
        `ctpf agent ${s.peerId} ${agent.mode} mesh ${s.meshId}`,
        `control  ${agent.controlUrl}  (bearer token in ${join(config.dataDir, files.controlToken)})`,
        ...s.addresses.map(a => `listen   ${a}`)
      ]
      if (agent.mode === 'founded') {
        const { token } = await ControlClient.fromDataDir(config.dataDir).createInvite({})
        if (process.stdout.isTTY === true) {
          lines.push(`invite   ${token}`, '         (single use, 1 h; join another machine with: ctpf agent --join-file FILE)')
        } else {
          const path = join(config.dataDir, files.invite)
          writeFileAtomic(path, token + '\n')
          lines.push(`invite   written to ${path} (single use, 1 h)`)
        }
      }
      process.stdout.write(lines.join('\n') + '\n')
      log.info({ peer: s.peerId, mesh: s.meshId, mode: agent.mode }, 'agent running')
    } catch (err) {
      await agent?.stop().catch(() => {})
      fail(err)
    }
    let signals = 0
    const shutdown = (sig: string): void => {
      if (++signals > 1) process.exit(130)
      process.stderr.write(`ctpf: ${sig}, shutting down\n`)
      void (agent as Agent).stop().then(() => process.exit(0), err => fail(err))
    }
    process.on('SIGINT', () => { shutdown('SIGINT') })
    process.on('SIGTERM', () => { shutdown('SIGTERM') })
  })

program.command('init')
  .description('found a new mesh in a data directory and stop (for scripts)')
  .addOption(dataDirOption())
  .option('--tag <k=v>', 'a tag of this agent (repeatable)', collect)
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const dir = resolveDataDir(opts.dataDir)
      ensureDataDir(dir)
      const existing = readMeshFile(dir)
      if (existing != null) throw Object.assign(new Error(`${dir} already belongs to mesh ${existing.meshId}`), { code: 'ALREADY_IN_MESH' })
      const identity = await loadIdentity(dir)
      const store = await openStore(join(dir, files.db))
      try {
        const mesh = await foundMesh(dir, store, identity, parseTags(opts.tag ?? []))
        out(opts.json === true, { meshId: mesh.meshId, peerId: peerIdFromPrivateKey(identity).toString(), dataDir: dir }, () => `founded mesh ${mesh.meshId} in ${dir}`)
      } finally {
        await store.close()
      }
    } catch (err) { fail(err) }
  })

program.command('status')
  .description('this agent: peer id, mesh, tags, addresses')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const s: StatusView = await client(opts).status()
      out(opts.json === true, s, () => [`peer     ${s.peerId}`, `mesh     ${s.meshId}`, `tags     ${fmtTags(s.tags)}`, `caps     ${s.caps.join(',') || '-'}`, `version  ${s.version}`, ...s.addresses.map(a => `address  ${a}`)].join('\n'))
    } catch (err) { fail(err) }
  })

const member = program.command('member').description('mesh members')
member.command('ls')
  .description('list the members of the mesh')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const ms: MemberView[] = await client(opts).members()
      out(opts.json === true, ms, () => ms.map(m => `${m.peerId}  ${m.caps.join(',') || '-'}  ${fmtTags(m.tags)}`).join('\n'))
    } catch (err) { fail(err) }
  })
member.command('revoke <peerId>')
  .description('revoke a member for good (admin only)')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (peerId: string, opts) => {
    try {
      await client(opts).revoke(peerId)
      out(opts.json === true, { ok: true, peerId }, () => `revoked ${peerId}`)
    } catch (err) { fail(err) }
  })

program.command('invite').description('invite tokens').command('create')
  .description('create a single-use invite token (admin only)')
  .addOption(dataDirOption())
  .option('--tag <k=v>', 'a tag granted to the joiner (repeatable)', collect)
  .option('--cap <capability>', 'a capability granted to the joiner, e.g. admin (repeatable)', collect)
  .option('--ttl <seconds>', 'lifetime of the token', v => Number(v))
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const { token } = await client(opts).createInvite({ tags: parseTags(opts.tag ?? []), caps: opts.cap ?? [], ttlSeconds: opts.ttl })
      out(opts.json === true, { token }, () => token)
    } catch (err) { fail(err) }
  })

program.command('peers')
  .description('connected peers, each direct or relayed')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const ps: PeerView[] = await client(opts).peers()
      out(opts.json === true, ps, () => ps.map(p => `${p.peerId}  ${p.path}  ${p.member ? 'member' : 'non-member'}  ${p.addresses.join(' ')}`).join('\n'))
    } catch (err) { fail(err) }
  })

program.command('tags').description('this agent\'s own tags').command('set <pairs...>')
  .description('replace this agent\'s own tags (k=v ...); they propagate to every member')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (pairs: string[], opts) => {
    try {
      const tags = parseTags(pairs)
      await client(opts).setTags(tags)
      out(opts.json === true, { ok: true, tags }, () => `tags ${fmtTags(tags)}`)
    } catch (err) { fail(err) }
  })

const job = program.command('job').description('jobs: submitted to the mesh, run by whichever matching agent ranks first')
job.command('submit <kind>')
  .description('submit a job (the built-in kind "probe" takes --spec \'{"ms":100,"payload":"x"}\')')
  .addOption(dataDirOption())
  .option('--selector <selector>', 'which agents may run it, e.g. dc=nbg1,role=builder (default: any)', '')
  .option('--spec <json>', 'the job\'s spec as JSON', '{}')
  .option('--max-attempts <n>', 'attempts before it fails', v => Number(v))
  .option('--wait', 'wait for the job to end and print it')
  .option('--json', 'machine output')
  .action(async (kind: string, opts) => {
    try {
      let spec: unknown
      try { spec = JSON.parse(opts.spec) } catch { throw Object.assign(new Error(`--spec is not JSON: ${opts.spec}`), { code: 'BAD_REQUEST' }) }
      const c = client(opts)
      const { id } = await c.submitJob({ kind, selector: opts.selector, spec, maxAttempts: opts.maxAttempts })
      if (opts.wait !== true) { out(opts.json === true, { id }, () => id); return }
      const j = await waitForJob(c, id)
      out(opts.json === true, j, () => fmtJob(j))
      if (j.status !== 'succeeded') process.exit(2)
    } catch (err) { fail(err) }
  })
job.command('ls')
  .description('list jobs')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const js = await client(opts).jobs()
      out(opts.json === true, js, () => js.map(j => `${j.id}  ${j.kind}  ${j.status}  ${j.claim?.peer ?? '-'}  ${j.reason ?? ''}`).join('\n'))
    } catch (err) { fail(err) }
  })
job.command('show <id>')
  .description('one job')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (id: string, opts) => {
    try {
      const j = await client(opts).job(id)
      out(opts.json === true, j, () => fmtJob(j))
    } catch (err) { fail(err) }
  })
job.command('logs <id>')
  .description('a job\'s log lines')
  .addOption(dataDirOption())
  .option('-f, --follow', 'follow until the job ends')
  .option('--json', 'machine output (one JSON line each)')
  .action(async (id: string, opts) => {
    try {
      for await (const l of client(opts).jobLogs(id, opts.follow === true)) {
        process.stdout.write(opts.json === true ? JSON.stringify(l) + '\n' : `${new Date(l.at).toISOString()}  ${l.line}\n`)
      }
    } catch (err) { fail(err) }
  })
job.command('cancel <id>')
  .description('cancel a job; a running one is stopped')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (id: string, opts) => {
    try {
      const j = await client(opts).cancelJob(id)
      out(opts.json === true, j, () => fmtJob(j))
    } catch (err) { fail(err) }
  })

const artifact = program.command('artifact').description('content-addressed artifacts, shared by the whole mesh')
artifact.command('add <file>')
  .description('import a file; prints its CID')
  .addOption(dataDirOption())
  .option('--name <name>', 'also point a name (e.g. ipxe/undionly.kpxe) at it')
  .option('--json', 'machine output')
  .action(async (file: string, opts) => {
    try {
      const bar = progressBar('add')
      const r = await client(opts).addArtifact(file, opts.name, opts.json === true ? undefined : bar)
      bar.done()
      out(opts.json === true, r, () => r.cid)
    } catch (err) { fail(err) }
  })
artifact.command('get <ref>')
  .description('write an artifact (CID or name) to a file, fetching it through the mesh if needed')
  .addOption(dataDirOption())
  .requiredOption('-o, --output <file>', 'where to write it')
  .option('--json', 'machine output')
  .action(async (ref: string, opts) => {
    try {
      const c = client(opts)
      // the mesh fetch comes first (its progress arrives on the event stream), then the bytes
      const fetchBar = progressBar('fetch')
      const stop = new AbortController()
      const following = opts.json === true || process.stderr.isTTY !== true
        ? Promise.resolve()
        : (async () => {
            for await (const e of c.events(stop.signal)) {
              const d = e.data as { type?: string, bytes?: number, totalBytes?: number }
              if (e.event === 'artifact:progress' && d.type === 'fetch:progress') fetchBar(d.bytes ?? 0, d.totalBytes ?? 0)
            }
          })().catch(() => {})
      const bar = progressBar('get')
      let size: number
      try {
        size = await c.getArtifact(ref, opts.output, opts.json === true ? undefined : (b, t) => { stop.abort(); bar(b, t) })
      } finally {
        stop.abort()
        await following
      }
      fetchBar.done()
      bar.done()
      out(opts.json === true, { ref, size, output: opts.output }, () => `${size} bytes → ${opts.output}`)
    } catch (err) { fail(err) }
  })
artifact.command('import <car>')
  .description('import a CAR file (its roots are pinned); prints the roots')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (car: string, opts) => {
    try {
      const r = await client(opts).importCar(car)
      out(opts.json === true, r, () => r.roots.join('\n'))
    } catch (err) { fail(err) }
  })
artifact.command('ls')
  .description('pinned artifacts')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const ls = await client(opts).request<Array<{ cid: string }>>('GET', '/artifacts')
      out(opts.json === true, ls, () => ls.map(a => JSON.stringify(a)).join('\n'))
    } catch (err) { fail(err) }
  })
for (const [cmd, method, what] of [['pin', 'PUT', 'keep an artifact (fetching it if needed)'], ['unpin', 'DELETE', 'let garbage collection take an artifact']] as const) {
  artifact.command(`${cmd} <ref>`)
    .description(what)
    .addOption(dataDirOption())
    .option('--json', 'machine output')
    .action(async (ref: string, opts) => {
      try {
        const r = await client(opts).request(method, `/pins/${encodeURIComponent(ref)}`)
        out(opts.json === true, r, () => `${cmd} ${ref}`)
      } catch (err) { fail(err) }
    })
}
artifact.command('gc')
  .description('remove blocks no pinned artifact needs')
  .addOption(dataDirOption())
  .option('--json', 'machine output')
  .action(async (opts) => {
    try {
      const r = await client(opts).request<{ removedBlocks: number, freedBytes: number }>('POST', '/artifacts/gc')
      out(opts.json === true, r, () => `removed ${r.removedBlocks} blocks, ${r.freedBytes} bytes`)
    } catch (err) { fail(err) }
  })

registerMediaCommands(program)
registerProvisionCommands(program)
registerSshCommands(program)
registerNetCommands(program)

await program.parseAsync(process.argv)
