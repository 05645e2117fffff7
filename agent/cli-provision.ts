/**
 * CLI commands for provisioning: `ctpf profile`, `ctpf group`, `ctpf host`, `ctpf key`,
 * `ctpf dc`. Thin clients of the control API's /v1/profiles, /groups, /hosts, /keys, /dcs.
 */
import { readFileSync } from 'node:fs'
import { client, collect, dataDirOption, fail, fmtJob, fmtTags, out, waitForJob } from './cli-common.js'
import type { ControlClient } from './control/client.js'
import type { Command } from 'commander'
import type { HostView } from './hosts.js'

function kv (list: string[] | undefined, what: string): Record<string, string> {
  const o: Record<string, string> = {}
  for (const p of list ?? []) {
    const i = p.indexOf('=')
    if (i <= 0) throw Object.assign(new Error(`${what} "${p}" is not key=value`), { code: 'BAD_REQUEST' })
    o[p.slice(0, i)] = p.slice(i + 1)
  }
  return o
}

const file = (path: string | undefined): string | undefined => path == null ? undefined : readFileSync(path, 'utf8')
const enc = encodeURIComponent

function fmtHost (h: HostView): string {
  return [
    `host      ${h.id}`, `status    ${h.status}`, `dc        ${h.dc ?? '-'}`, `arch      ${h.arch ?? '-'}`,
    `addresses ${h.addresses.join(', ') || '-'}`, `hostname  ${h.hostname ?? '-'}`, `profile   ${h.profile ?? '-'} (group ${h.group ?? '-'})`,
    `host key  ${h.sshHostKey ?? '-'}`, 'events:',
    ...h.events.map(e => `  ${new Date(e.at).toISOString()}  ${e.status.padEnd(11)} by ${e.by.slice(-8)}${e.reason != null ? `  ${e.reason}` : ''}`)
  ].join('\n')
}

/** Runs a job on a registry agent and prints its result (exit 2 unless it succeeded). */
async function registryJob (c: ControlClient, kind: string, spec: unknown, json: boolean, human: (result: any) => string): Promise<void> {
  const { id } = await c.submitJob({ kind, selector: 'role=registry', spec })
  const j = await waitForJob(c, id)
  out(json, j, () => j.status === 'succeeded' ? human(j.result) : fmtJob(j))
  if (j.status !== 'succeeded') process.exit(2)
}

export function registerProvisionCommands (program: Command): void {
  const profile = program.command('profile').description('boot profiles: kernel, initrd, command line and installer templates')
  profile.command('put <name>')
    .description('create or replace a profile; templates are checked (syntax, unknown variables) and refused with line and reason')
    .addOption(dataDirOption())
    .option('--file <json>', 'the whole profile as JSON (other options override its fields)')
    .option('--kernel <ref>', 'kernel: artifact name or CID')
    .option('--initrd <ref>', 'an initrd: artifact name or CID (repeatable)', collect)
    .option('--cmdline <template>', 'kernel command line template')
    .option('--kickstart <file>').option('--preseed <file>').option('--user-data <file>').option('--meta-data <file>')
    .option('--pre-install <file>').option('--post-install <file>')
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const base = opts.file != null ? JSON.parse(readFileSync(opts.file, 'utf8')) as Record<string, any> : {}
        const installer = { ...(base.installer ?? {}) }
        for (const [opt, key] of [['kickstart', 'kickstart'], ['preseed', 'preseed'], ['preInstall', 'preInstall'], ['postInstall', 'postInstall']] as const) {
          const text = file(opts[opt])
          if (text != null) installer[key] = text
        }
        if (opts.userData != null || opts.metaData != null) installer.cloudInit = { userData: file(opts.userData) ?? '', metaData: file(opts.metaData) ?? '' }
        const body = {
          ...base,
          ...(opts.kernel != null ? { kernel: opts.kernel } : {}),
          ...(opts.initrd != null ? { initrd: opts.initrd } : {}),
          ...(opts.cmdline != null ? { cmdline: opts.cmdline } : {}),
          ...(Object.keys(installer).length > 0 ? { installer } : {})
        }
        const p = await client(opts).request('PUT', `/profiles/${enc(name)}`, body)
        out(opts.json === true, p, () => `profile ${name} stored`)
      } catch (err) { fail(err) }
    })
  for (const what of ['profile', 'group'] as const) {
    const cmd = what === 'profile' ? profile : program.commands.find(c => c.name() === 'group') ?? program.command('group').description('groups: selectors over MAC, UUID, arch, hostname and tags that pick a profile (the most specific wins)')
    cmd.command('ls').description(`list ${what}s`).addOption(dataDirOption()).option('--json', 'machine output')
      .action(async (opts) => {
        try {
          const list = await client(opts).request<Array<Record<string, any>>>('GET', `/${what}s`)
          out(opts.json === true, list, () => list.map(x => what === 'profile'
            ? `${x.name}\tkernel ${x.kernel}\tinitrd ${(x.initrd as string[]).join(',') || '-'}`
            : `${x.name}\tprofile ${x.profile}\tselector ${JSON.stringify(x.selector)}`).join('\n'))
        } catch (err) { fail(err) }
      })
    cmd.command('show <name>').addOption(dataDirOption()).option('--json', 'machine output')
      .action(async (name: string, opts) => {
        try {
          const x = await client(opts).request('GET', `/${what}s/${enc(name)}`)
          out(opts.json === true, x, () => JSON.stringify(x, null, 2))
        } catch (err) { fail(err) }
      })
    cmd.command('rm <name>').addOption(dataDirOption()).option('--json', 'machine output')
      .action(async (name: string, opts) => {
        try {
          const r = await client(opts).request('DELETE', `/${what}s/${enc(name)}`)
          out(opts.json === true, r, () => `${what} ${name} removed`)
        } catch (err) { fail(err) }
      })
    if (what === 'profile') {
      program.command('group').description('groups: selectors over MAC, UUID, arch, hostname and tags that pick a profile (the most specific wins)')
        .command('put <name>')
        .description('create or replace a group; a group that could tie with another is refused')
        .addOption(dataDirOption())
        .requiredOption('--profile <name>', 'the profile its machines boot')
        .option('--mac <mac>').option('--uuid <uuid>').option('--arch <arch>').option('--hostname <name>')
        .option('--tag <k=v>', 'a host tag the machine must have (repeatable)', collect)
        .option('--meta <k=v>', 'metadata for its templates: group.metadata.<k> (repeatable)', collect)
        .option('--json', 'machine output')
        .action(async (name: string, opts) => {
          try {
            const selector = {
              ...(opts.mac != null ? { mac: opts.mac } : {}),
              ...(opts.uuid != null ? { uuid: opts.uuid } : {}),
              ...(opts.arch != null ? { arch: opts.arch } : {}),
              ...(opts.hostname != null ? { hostname: opts.hostname } : {}),
              ...(opts.tag != null ? { tags: kv(opts.tag, '--tag') } : {})
            }
            const g = await client(opts).request('PUT', `/groups/${enc(name)}`, { profile: opts.profile, selector, metadata: kv(opts.meta, '--meta') })
            out(opts.json === true, g, () => `group ${name} stored`)
          } catch (err) { fail(err) }
        })
    }
  }

  const host = program.command('host').description('the host inventory: machines sighted, booted, installed')
  host.command('ls').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const hs = await client(opts).request<HostView[]>('GET', '/hosts')
        out(opts.json === true, hs, () => hs.length === 0 ? 'no hosts' : hs.map(h => `${h.id}  ${h.status.padEnd(11)} ${(h.dc ?? '-').padEnd(8)} ${(h.arch ?? '-').padEnd(7)} ${h.addresses.join(',') || '-'}  ${h.profile ?? '-'}`).join('\n'))
      } catch (err) { fail(err) }
    })
  host.command('add <mac>').description('add or update a host this mesh did not boot (an existing machine, a cloud server)')
    .addOption(dataDirOption())
    .option('--address <ip>', 'an address (repeatable)', collect)
    .option('--host-key <file>', 'its SSH host public key (e.g. /etc/ssh/ssh_host_ed25519_key.pub): pinned for every SSH connection')
    .option('--dc <dc>').option('--hostname <name>').option('--arch <arch>').option('--user <user>').option('--port <n>', 'SSH port', v => Number(v))
    .option('--tag <k=v>', 'a host tag (repeatable)', collect)
    .option('--status <status>', 'e.g. installed (default: unchanged)')
    .option('--json', 'machine output')
    .action(async (mac: string, opts) => {
      try {
        const body = {
          ...(opts.address != null ? { addresses: opts.address } : {}),
          ...(opts.hostKey != null ? { sshHostKey: readFileSync(opts.hostKey, 'utf8').trim() } : {}),
          ...(opts.dc != null ? { dc: opts.dc } : {}),
          ...(opts.hostname != null ? { hostname: opts.hostname } : {}),
          ...(opts.arch != null ? { arch: opts.arch } : {}),
          ...(opts.user != null ? { user: opts.user } : {}),
          ...(opts.port != null ? { port: opts.port } : {}),
          ...(opts.tag != null ? { tags: kv(opts.tag, '--tag') } : {}),
          ...(opts.status != null ? { status: opts.status } : {})
        }
        const h = await client(opts).request<HostView>('PUT', `/hosts/${enc(mac)}`, body)
        out(opts.json === true, h, () => `${h.id}: ${h.status}`)
      } catch (err) { fail(err) }
    })
  host.command('show <id>').description('a host with its lifecycle events').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (id: string, opts) => {
      try {
        const h = await client(opts).request<HostView>('GET', `/hosts/${enc(id)}`)
        out(opts.json === true, h, () => fmtHost(h))
      } catch (err) { fail(err) }
    })
  host.command('reprovision <id>').description('install the host again at its next network boot').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (id: string, opts) => {
      try {
        const h = await client(opts).request<HostView>('POST', `/hosts/${enc(id)}/reprovision`)
        out(opts.json === true, h, () => `${h.id}: ${h.status}`)
      } catch (err) { fail(err) }
    })

  const key = program.command('key').description('authorized SSH public keys, per dc or tag')
  key.command('add <id>').addOption(dataDirOption())
    .requiredOption('--file <pub>', 'an OpenSSH public key file')
    .option('--dc <dc>', 'only for hosts of this datacenter')
    .option('--tag <k=v>', 'only for hosts with this tag (repeatable)', collect)
    .option('--json', 'machine output')
    .action(async (id: string, opts) => {
      try {
        const r = await client(opts).request('PUT', `/keys/${enc(id)}`, { key: readFileSync(opts.file, 'utf8').trim(), ...(opts.dc != null ? { dc: opts.dc } : {}), ...(opts.tag != null ? { tags: kv(opts.tag, '--tag') } : {}) })
        out(opts.json === true, r, () => `key ${id} stored`)
      } catch (err) { fail(err) }
    })
  key.command('ls').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const ks = await client(opts).request<Array<{ id: string, key: string, dc?: string, tags?: Record<string, string> }>>('GET', '/keys')
        out(opts.json === true, ks, () => ks.map(k => `${k.id}\tdc ${k.dc ?? '*'}\ttags ${fmtTags(k.tags ?? {})}\t${k.key.slice(0, 40)}…`).join('\n'))
      } catch (err) { fail(err) }
    })
  key.command('rm <id>').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (id: string, opts) => {
      try {
        const r = await client(opts).request('DELETE', `/keys/${enc(id)}`)
        out(opts.json === true, r, () => `key ${id} removed`)
      } catch (err) { fail(err) }
    })

  const dc = program.command('dc').description('datacenters')
  dc.command('ls').description('datacenters seen in the mesh: agents\' dc tags, sighted hosts, general keys').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const c = client(opts)
        const [members, hosts, keys] = await Promise.all([
          c.members(), c.request<HostView[]>('GET', '/hosts'), c.request<Array<{ dc: string, fingerprint: string }>>('GET', '/dcs/keys')
        ])
        const names = new Set([...members.map(m => m.tags.dc), ...hosts.map(h => h.dc), ...keys.map(k => k.dc)].filter((d): d is string => d != null))
        const rows = [...names].sort().map(name => ({
          name,
          agents: members.filter(m => m.tags.dc === name).length,
          hosts: hosts.filter(h => h.dc === name).length,
          generalKey: keys.find(k => k.dc === name)?.fingerprint ?? null
        }))
        out(opts.json === true, rows, () => rows.map(r => `${r.name}\tagents ${r.agents}\thosts ${r.hosts}\tgeneral key ${r.generalKey ?? '-'}`).join('\n') || 'no datacenters')
      } catch (err) { fail(err) }
    })
  dc.command('add-hetzner <name>').description('a Hetzner Cloud project as a virtual remote datacenter; the API token is sealed to the registry agents')
    .addOption(dataDirOption())
    .requiredOption('--location <loc>', 'e.g. nbg1, fsn1, hel1')
    .requiredOption('--token-file <file>', 'the project\'s API token (a file keeps it out of ps and shell history)')
    .option('--endpoint <url>', 'the API endpoint (default https://api.hetzner.cloud/v1)')
    .option('--agent-url <url>', 'where new servers download the agent bundle')
    .option('--agent-sha256 <hex>', 'its sha256, checked before it runs')
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const body = {
          kind: 'hetzner',
          location: opts.location,
          token: readFileSync(opts.tokenFile, 'utf8').trim(),
          ...(opts.endpoint != null ? { endpoint: opts.endpoint } : {}),
          ...(opts.agentUrl != null ? { agentInstall: { url: opts.agentUrl, sha256: opts.agentSha256 } } : {})
        }
        const r = await client(opts).request<{ recipients: string[] }>('PUT', `/dcs/${enc(name)}`, body)
        out(opts.json === true, r, () => `datacenter ${name}: token sealed to ${r.recipients.length} registry agent(s)`)
      } catch (err) { fail(err) }
    })
  dc.command('sync <name>').description('record the provider\'s servers of this mesh as hosts').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        await registryJob(client(opts), 'dc-sync', { dc: name }, opts.json === true, r => (r.hosts as Array<{ id: string, name: string, status: string, addresses: string[] }>).map(h => `${h.id}  ${h.name}  ${h.status}  ${h.addresses.join(',')}`).join('\n') || 'no servers')
      } catch (err) { fail(err) }
    })
  host.command('create <name>').description('create a server in a provider datacenter; it installs the agent and joins the mesh')
    .addOption(dataDirOption())
    .requiredOption('--dc <dc>', 'a datacenter added with ctpf dc add-hetzner')
    .option('--type <type>', 'server type', 'cx22')
    .option('--image <image>', 'OS image', 'debian-12')
    .option('--tag <k=v>', 'a tag for its agent (repeatable)', collect)
    .option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        await registryJob(client(opts), 'dc-create-host', { dc: opts.dc, name, serverType: opts.type, image: opts.image, ...(opts.tag != null ? { tags: kv(opts.tag, '--tag') } : {}) }, opts.json === true, h => `${h.id}  ${h.name}  ${h.status}  ${(h.addresses as string[]).join(',')}`)
      } catch (err) { fail(err) }
    })
  host.command('delete <id>').description('delete a provider server (hetzner-<id>) and its host record')
    .addOption(dataDirOption())
    .requiredOption('--dc <dc>', 'its datacenter')
    .option('--json', 'machine output')
    .action(async (id: string, opts) => {
      try {
        await registryJob(client(opts), 'dc-delete-host', { dc: opts.dc, id }, opts.json === true, r => `deleted ${r.deleted}`)
      } catch (err) { fail(err) }
    })
  dc.command('key <dc>').description('generate the dc\'s general SSH key pair; the private half is sealed to the dc\'s SSH distributors (agents tagged dc=<dc>, role=ssh)')
    .addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        const r = await client(opts).request<{ publicKey: string, fingerprint: string, recipients: string[] }>('POST', `/dcs/${enc(name)}/key`)
        out(opts.json === true, r, () => `${r.fingerprint}\nsealed to ${r.recipients.length} agent(s)\n${r.publicKey}`)
      } catch (err) { fail(err) }
    })
}
