/**
 * CLI commands of the builder and packager roles: `ctpf ipxe import`, `ctpf build`,
 * `ctpf package`. They submit `build` and `package` jobs through the control endpoint;
 * whichever agent with that role ranks first runs them.
 */
import { execFile } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { importDistributionIpxe } from '../roles/builder/index.js'
import { client, collect, dataDirOption, fail, fmtJob, out, waitForJob } from './cli-common.js'
import type { Command } from 'commander'
import type { ControlClient } from './control/client.js'

const run = promisify(execFile)

function pairs (list: string[] | undefined, what: string): Record<string, string> {
  const outp: Record<string, string> = {}
  for (const p of list ?? []) {
    const i = p.indexOf('=')
    if (i <= 0) throw Object.assign(new Error(`${what} "${p}" is not key=value`), { code: 'BAD_REQUEST' })
    outp[p.slice(0, i)] = p.slice(i + 1)
  }
  return outp
}

/** Submits a job; with --wait, waits and prints it (exit 2 unless it succeeded). */
async function submitAndMaybeWait (c: ControlClient, body: { kind: string, selector: string, spec: unknown }, opts: { wait?: boolean, json?: boolean }): Promise<void> {
  const { id } = await c.submitJob(body)
  if (opts.wait !== true) { out(opts.json === true, { id }, () => id); return }
  const j = await waitForJob(c, id)
  out(opts.json === true, j, () => fmtJob(j))
  if (j.status !== 'succeeded') process.exit(2)
}

/** Packs a directory as a tar artifact (the form build sources take); returns its CID. */
async function addSourceDir (c: ControlClient, dir: string): Promise<string> {
  const tmp = await mkdtemp(join(tmpdir(), 'ctpf-src-'))
  try {
    const tar = join(tmp, 'source.tar')
    await run('tar', ['-cf', tar, '-C', dir, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', '--mtime=@0', '.'])
    return (await c.addArtifact(tar)).cid
  } finally {
    await rm(tmp, { recursive: true, force: true })
  }
}

export function registerMediaCommands (program: Command): void {
  program.command('ipxe').description('iPXE binaries').command('import')
    .description('add the distribution\'s prebuilt iPXE binaries (/usr/lib/ipxe) as artifacts named ipxe/<file>')
    .addOption(dataDirOption())
    .option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const c = client(opts)
        const files = await importDistributionIpxe()
        if (files.length === 0) throw Object.assign(new Error('no iPXE binaries found (install the Debian package ipxe)'), { code: 'NOT_FOUND' })
        const added: Array<{ name: string, cid: string, size: number }> = []
        for (const f of files) added.push({ name: f.name, ...(await c.addArtifact(f.path, f.name)) })
        out(opts.json === true, added, () => added.map(a => `${a.name}  ${a.cid}  ${a.size} bytes`).join('\n'))
      } catch (err) { fail(err) }
    })

  program.command('build <recipe>')
    .description('build on an agent with role builder (recipes: make, ipxe, grub, syslinux); the mesh-wide cache answers repeated builds')
    .addOption(dataDirOption())
    .option('--source <ref>', 'the source tree: a tar artifact (CID or name)')
    .option('--source-dir <dir>', 'or a local directory, packed and added as the source artifact')
    .option('--var <k=v>', 'a make variable (repeatable)', collect)
    .option('--target <t>', 'a make target (repeatable)', collect)
    .option('--output <path>', 'a file to keep, relative to the job directory (repeatable)', collect)
    .option('--params <json>', 'recipe parameters as JSON, e.g. {"endpoints":["http://10.0.0.1:8080/boot.ipxe"]}')
    .option('--timeout <s>', 'seconds before the build is killed', v => Number(v))
    .option('--selector <selector>', 'which agents may run it', '')
    .option('--wait', 'wait for the build and print its outputs')
    .option('--json', 'machine output')
    .action(async (recipe: string, opts) => {
      try {
        const c = client(opts)
        let source: string | undefined = opts.source
        if (opts.sourceDir != null) source = await addSourceDir(c, opts.sourceDir)
        let params: unknown
        if (opts.params != null) {
          try { params = JSON.parse(opts.params) } catch { throw Object.assign(new Error('--params is not JSON'), { code: 'BAD_REQUEST' }) }
        }
        const spec = {
          recipe,
          ...(source != null ? { source } : {}),
          vars: pairs(opts.var, '--var'),
          ...(opts.target != null ? { targets: opts.target } : {}),
          ...(opts.output != null ? { outputs: opts.output } : {}),
          ...(params != null ? { params } : {}),
          ...(opts.timeout != null ? { timeoutMs: opts.timeout * 1000 } : {})
        }
        await submitAndMaybeWait(c, { kind: 'build', selector: opts.selector, spec }, opts)
      } catch (err) { fail(err) }
    })

  program.command('package <medium>')
    .description('make boot media on an agent with role packager: iso (hybrid BIOS+UEFI, CD or USB), img (FAT, USB/SD), pxe (a PXE file set)')
    .addOption(dataDirOption())
    .requiredOption('--endpoint <url>', 'a boot script endpoint of the scripts role, tried in order (repeatable)', collect)
    .option('--name <name>', 'the artifact name of the medium (pxe: the prefix of its files)')
    .option('--input <k=ref>', 'an input binary other than the distribution\'s: lkrn, efiX64, efiArm64, undionly, ipxeEfi, snponly (repeatable)', collect)
    .option('--selector <selector>', 'which agents may run it', '')
    .option('--wait', 'wait for the medium and print it')
    .option('--json', 'machine output')
    .action(async (medium: string, opts) => {
      try {
        const spec = { medium, endpoints: opts.endpoint, ...(opts.name != null ? { name: opts.name } : {}), inputs: pairs(opts.input, '--input') }
        await submitAndMaybeWait(client(opts), { kind: 'package', selector: opts.selector, spec }, opts)
      } catch (err) { fail(err) }
    })
}
