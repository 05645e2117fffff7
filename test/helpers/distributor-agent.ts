/**
 * A ctpf agent with the distributor role in a Segment's server namespace, as the e2e boots
 * and the boot benchmark run it: boot files copied in, full DHCP on the segment, TFTP, HTTP
 * on 8080, radvd, and the limited-broadcast route UEFI PXE needs.
 */
import { copyFile, readFile, writeFile } from 'node:fs/promises'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { sh } from './netns.js'
import type { NsProcess, Segment } from './netns.js'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
export const BOOT_CACHE = process.env.CTPF_BOOT_CACHE ?? join(ROOT, '.cache/boot')
/** The agent bundle; CTPF_CLI points tests at another build (a private bundle while dist/ is rebuilt). */
export const CLI = process.env.CTPF_CLI ?? join(ROOT, 'dist/ctpf.mjs')

export interface DistributorAgent { proc: NsProcess, dir: string }

/** The fixtures and Debian's iPXE loaders, copied into a directory the segment cleans up. */
export async function bootFiles (seg: Segment): Promise<string> {
  const dir = await seg.tempDir('ctpf-bootfiles-')
  for (const f of ['vmlinuz', 'initrd.img']) await copyFile(join(BOOT_CACHE, f), join(dir, f))
  for (const f of ['undionly.kpxe', 'ipxe.efi']) await copyFile(join('/usr/lib/ipxe', f), join(dir, f))
  return dir
}

export function fullDhcp (seg: Segment): Record<string, unknown> {
  return {
    mode: 'full',
    authoritative: true,
    subnets: [{ network: `${seg.net}.0`, netmask: '255.255.255.0', range: { start: `${seg.net}.100`, end: `${seg.net}.150` }, leaseTime: 600 }]
  }
}

export function distributorConfig (seg: Segment, files: string, opts: { profile: string, cmdline: string, dhcp?: Record<string, unknown> }): Record<string, unknown> {
  return {
    dc: 'lab',
    address: seg.serverAddress,
    interface: seg.serverIf,
    files: { dir: files },
    profile: { name: opts.profile, kernel: 'vmlinuz', initrd: 'initrd.img', cmdline: opts.cmdline },
    http: { port: 8080 },
    tftp: { port: 69 },
    // no ipv6RouterAdvertisements: with an interface given, radvd runs by default
    dhcp: opts.dhcp ?? fullDhcp(seg)
  }
}

export async function startDistributorAgent (seg: Segment, distributor: Record<string, unknown>, opts: { args?: string[] } = {}): Promise<DistributorAgent> {
  const dir = await seg.tempDir('ctpf-agent-')
  // a boot server's host has a route for the limited broadcast (UEFI PXE takes no other replies)
  if (seg.serverNs !== undefined) await sh('ip', ['-n', seg.serverNs, 'route', 'replace', '255.255.255.255/32', 'dev', seg.serverIf])
  await writeFile(join(dir, 'config.json'), JSON.stringify({ distributor }))
  const proc = seg.spawnServer(['env', 'CTPF_LOG_LEVEL=info', process.execPath, CLI, 'agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0', '--tag', 'dc=lab', ...(opts.args ?? [])])
  await proc.waitForOutput(/^control +http/m, 30_000)
  await proc.waitForOutput(/distributor running/, 10_000)
  return { proc, dir }
}

/** GET on the agent's control API from inside its namespace (the token goes in a header file, not an argument). */
export async function agentApi (seg: Segment, agent: DistributorAgent, path: string): Promise<any> {
  const url = (await readFile(join(agent.dir, 'control.url'), 'utf8')).trim()
  const token = (await readFile(join(agent.dir, 'control.token'), 'utf8')).trim()
  const headers = join(agent.dir, 'curl-headers')
  await writeFile(headers, `Authorization: Bearer ${token}\n`, { mode: 0o600 })
  const [cmd, ...args] = seg.serverArgv(['curl', '-sS', '-H', `@${headers}`, `${url}/v1${path}`])
  return JSON.parse(await sh(cmd as string, args))
}
