/**
 * `npm run e2e:provision`: two QEMU machines with different MACs network-boot from a mesh of
 * two agents — A runs the distributor with the scripts and registry roles, B (joined to A over
 * loopback) the registry role and holds the boot artifacts — and receive different profiles.
 * Each boots the fixture kernel and initramfs, whose init fetches its rendered post-install
 * script; the script prints its profile's marker and phones home with its one-time token. Both
 * then show in `ctpf host ls` on B as installed with their DHCP addresses, and B's event stream
 * carried every lifecycle transition (discovered → booting → installing → installed).
 * Wrong and reused phone-home tokens are refused; an unknown machine gets an iPXE error script.
 */
import { mkdir } from 'node:fs/promises'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { Segment } from '../helpers/netns.js'
import { BOOT_CACHE, bootFiles, distributorConfig, startDistributorAgent } from '../helpers/distributor-agent.js'
import { ctpfIn, ctpfJson, followEvents, httpIn, startJoinedAgent } from '../helpers/provision-mesh.js'
import { describePrivileged } from '../helpers/privileged.js'
import { bootMachine } from '../helpers/qemu.js'
import { waitFor } from '../helpers/agents.js'
import type { DistributorAgent } from '../helpers/distributor-agent.js'
import type { EventFollower, MeshAgent } from '../helpers/provision-mesh.js'
import type { Machine } from '../helpers/qemu.js'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '../..')
/** The demo's post-install template: keys, an SSH server, phone-home (the marker comes from group metadata). */
const POST_INSTALL = join(ROOT, 'scripts/demo/post-install.sh')
const LOGS = join(ROOT, '.cache/e2e-logs')
const CMDLINE = 'console=ttyS0 quiet panic=-1 ctpf.net=dhcp ctpf.url={{ urls.postInstall }}'
const LIFECYCLE = ['discovered', 'booting', 'installing', 'installed']

interface HostJson { id: string, mac: string, status: string, addresses: string[], profile?: string, group?: string, sshHostKey?: string, events: Array<{ status: string, at: number }> }

const MACHINES = [
  { name: 'prov-a', mac: '52:54:00:c9:0a:01', profile: 'prov-a', marker: 'PROFILE-A-OK', other: 'PROFILE-B-OK' },
  { name: 'prov-b', mac: '52:54:00:c9:0b:02', profile: 'prov-b', marker: 'PROFILE-B-OK', other: 'PROFILE-A-OK' }
] as const
/** Has a group but never boots: its post-install is fetched by hand to test the token's single use. */
const THIRD_MAC = '52:54:00:c9:0c:03'
const UNKNOWN_MAC = '52:54:00:c9:0d:04'

const idOf = (mac: string): string => mac.replace(/:/g, '-')

describePrivileged('e2e:provision — machines boot from a mesh, get their profiles, phone home', ['ip', 'qemu-system-x86_64', 'radvd', 'curl'], () => {
  let seg: Segment | undefined
  let a: DistributorAgent
  let b: MeshAgent
  let events: EventFollower
  const machines: Machine[] = []
  const timings: Record<string, number> = {}
  const transitions: Record<string, string> = {}
  let boot = ''

  beforeAll(async () => {
    for (const f of ['vmlinuz', 'initrd.img']) {
      if (!existsSync(join(BOOT_CACHE, f))) throw new Error(`boot fixture ${join(BOOT_CACHE, f)} missing: run bash scripts/boot-fixtures.sh`)
    }
    await mkdir(LOGS, { recursive: true })
    seg = await Segment.create()
    const s = seg
    boot = `http://${s.serverAddress}:8080`
    // A: the boot services (its built-in profile is never used: the scripts role answers)
    a = await startDistributorAgent(s, distributorConfig(s, await bootFiles(s), { profile: 'unused', cmdline: 'console=ttyS0' }), { args: ['--tag', 'role=scripts+registry'] })
    // B: joined over loopback, the registry role only
    b = await startJoinedAgent(s, a, { inviteTags: ['dc=lab'], tags: ['role=registry'] })
    await waitFor(async () => (await ctpfJson<unknown[]>(s, b, ['member', 'ls'])).length === 2 && (await ctpfJson<unknown[]>(s, a, ['member', 'ls'])).length === 2,
      { what: 'A and B to list each other as members', timeoutMs: 30_000, intervalMs: 500 })
    // B's event stream, from before anything is provisioned
    events = await followEvents(s, b)

    // the boot files live on B; A serves them by name, fetching them through the mesh
    await ctpfIn(s, b, ['artifact', 'add', join(BOOT_CACHE, 'vmlinuz'), '--name', 'boot/vmlinuz'])
    await ctpfIn(s, b, ['artifact', 'add', join(BOOT_CACHE, 'initrd.img'), '--name', 'boot/initrd.img'])
    for (const m of MACHINES) {
      const letter = m.profile.slice(-1)
      await ctpfIn(s, a, ['profile', 'put', m.profile, '--kernel', 'boot/vmlinuz', '--initrd', 'boot/initrd.img', '--cmdline', CMDLINE,
        '--post-install', POST_INSTALL])
      await ctpfIn(s, a, ['group', 'put', `machine-${letter}`, '--profile', m.profile, '--mac', m.mac, '--meta', `marker=${m.marker}`])
    }
    await ctpfIn(s, a, ['group', 'put', 'machine-c', '--profile', 'prov-a', '--mac', THIRD_MAC, '--meta', 'marker=PROFILE-A-OK'])
    // A resolves the names written on B and has the bytes before any machine asks
    await waitFor(async () => {
      const k = await httpIn(s, `${boot}/artifacts/boot/vmlinuz`, { method: 'HEAD' })
      const i = await httpIn(s, `${boot}/artifacts/boot/initrd.img`, { method: 'HEAD' })
      return k.status === 200 && i.status === 200
    }, { what: 'A to serve the artifacts added on B', timeoutMs: 60_000, intervalMs: 500 })
  }, 180_000)

  afterAll(async () => {
    for (const m of machines.splice(0)) await m.kill()
    await seg?.destroy()
    seg = undefined
    console.log(`e2e:provision, ms from QEMU start to CTPF-SCRIPT-EXIT: ${JSON.stringify(timings)}; transitions seen on B (ms after discovered): ${JSON.stringify(transitions)}`)
  })

  it('two machines boot their own profiles, phone home, and show as installed with every transition on B', async () => {
    const s = seg as Segment
    // both at once
    const started: Machine[] = await Promise.all(MACHINES.map(async m =>
      await bootMachine({ segment: s, mac: m.mac, nic: 'e1000', firmware: 'bios', boot: 'pxe', serialLog: join(LOGS, `ctpf-${m.name}.log`), timeoutMs: 170_000 })))
    machines.push(...started)
    const results = await Promise.all(MACHINES.map(async (m, i) => {
      const vm = started[i] as Machine
      const exit = await vm.waitFor(/^CTPF-SCRIPT-EXIT rc=(\d+)/m, 160_000)
      timings[m.name] = exit.atMs
      const net = /^CTPF-NET-UP ip=(\S+)/m.exec(vm.log)
      return { m, vm, rc: exit[1], ip: net?.[1] }
    }))
    for (const { m, vm, rc, ip } of results) {
      expect(vm.log).toMatch(new RegExp(`ctpf: ${m.mac} \\w+/pcbios boots profile ${m.profile}`))
      expect(vm.log).toMatch(new RegExp(`^${m.marker} mac=${m.mac} profile=${m.profile} group=machine-${m.profile.slice(-1)}$`, 'm'))
      expect(vm.log).not.toContain(m.other)
      expect(vm.log).toMatch(new RegExp(`^DEMO-PHONE-HOME-OK .*"host":"${idOf(m.mac)}"`, 'm'))
      expect(rc).toBe('0')
      expect(ip).toMatch(new RegExp(`^${s.net.replace(/\./g, '\\.')}\\.\\d+$`))
    }
    expect(results[0]?.ip).not.toBe(results[1]?.ip)

    // B, which booted nothing, lists both as installed with the addresses they phoned home
    const hosts = await waitFor(async () => {
      const hs = await ctpfJson<HostJson[]>(s, b, ['host', 'ls'])
      return MACHINES.every(m => hs.find(h => h.id === idOf(m.mac))?.status === 'installed') ? hs : undefined
    }, { what: 'both hosts installed on B', timeoutMs: 30_000, intervalMs: 500 })
    for (const { m, ip } of results) {
      const h = hosts.find(x => x.id === idOf(m.mac)) as HostJson
      expect(h.mac).toBe(m.mac)
      expect(h.addresses).toEqual([ip])
      expect(h.profile).toBe(m.profile)
      expect(h.group).toBe(`machine-${m.profile.slice(-1)}`)
      const shown = await ctpfJson<HostJson>(s, b, ['host', 'show', idOf(m.mac)])
      // the key the machine's own SSH server made and printed is the one the registry pinned
      expect(shown.sshHostKey).toBe(/^DEMO-SSHD (ssh-ed25519 \S+)$/m.exec(machines.find(x => x.log.includes(m.marker))?.log ?? '')?.[1])
      expect(inOrder(shown.events.map(e => e.status))).toBe(true)
      // two registry agents sighted it; the stored lifecycle has one discovery
      expect(shown.events.filter(e => e.status === 'discovered')).toHaveLength(1)
    }

    // B's event stream carried every transition of both, in lifecycle order, with timestamps
    const seen = await events.waitUntil(evs => MACHINES.every(m => evs.some(e => e.event === 'host:status' && e.data.id === idOf(m.mac) && e.data.status === 'installed')), 30_000)
    for (const { m, ip } of results) {
      const mine = seen.filter(e => e.event === 'host:status' && e.data.id === idOf(m.mac)).map(e => e.data as { status: string, at: number, by: string, profile?: string, addresses?: string[] })
      expect(inOrder(mine.map(e => e.status)), `events of ${m.mac}: ${JSON.stringify(mine)}`).toBe(true)
      const firstOf = (st: string): { at: number } => mine.find(e => e.status === st) as { at: number }
      const ats = LIFECYCLE.map(st => firstOf(st).at)
      for (const at of ats) expect(at).toBeGreaterThan(Date.now() - 600_000)
      expect([...ats].sort((x, y) => x - y)).toEqual(ats)
      expect(mine.find(e => e.status === 'booting')?.profile).toBe(m.profile)
      expect(mine.find(e => e.status === 'installed')?.addresses).toEqual([ip])
      transitions[m.name] = mine.map(e => `${e.status}@${e.at - (ats[0] as number)} by …${e.by.slice(-6)}`).join(', ')
    }
  }, 240_000)

  it('a wrong token and a used token are refused; the first use of a fresh one is accepted', async () => {
    const s = seg as Segment
    const wrong = await httpIn(s, `${boot}/phone-home`, { method: 'POST', headers: ['Authorization: Bearer AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA', 'Content-Type: application/json'], body: '{"addresses":["192.0.2.9"]}' })
    expect(wrong.status).toBe(403)
    expect(JSON.parse(wrong.body).error.code).toBe('PHONE_HOME_WRONG')

    // the third machine's rendered post-install holds a fresh one-time token
    const script = await httpIn(s, `${boot}/installer/${idOf(THIRD_MAC)}/post-install`)
    expect(script.status).toBe(200)
    expect(script.body).toContain(`PROFILE-A-OK mac=${THIRD_MAC} profile=prov-a group=machine-c`)
    expect(script.body).toContain(`${boot}/phone-home`)
    const token = /^token='([A-Za-z0-9_-]{16,128})'$/m.exec(script.body)?.[1]
    expect(token).toBeDefined()
    const phoneHome = async (): Promise<{ status: number, body: string }> => await httpIn(s, `${boot}/phone-home`, {
      method: 'POST', headers: [`Authorization: Bearer ${token as string}`, 'Content-Type: application/json'], body: '{"addresses":["192.0.2.33"]}'
    })
    const first = await phoneHome()
    expect(first.status).toBe(200)
    expect(JSON.parse(first.body)).toEqual({ ok: true, host: idOf(THIRD_MAC) })
    const again = await phoneHome()
    expect(again.status).toBe(403)
    expect(JSON.parse(again.body).error.code).toBe('PHONE_HOME_REUSED')

    const h = await waitFor(async () => {
      const x = await ctpfJson<HostJson>(s, b, ['host', 'show', idOf(THIRD_MAC)]).catch(() => undefined)
      return x?.status === 'installed' ? x : undefined
    }, { what: 'the third host installed on B', timeoutMs: 30_000, intervalMs: 500 })
    expect(h.addresses).toEqual(['192.0.2.33'])
    expect(h.events.filter(e => e.status === 'installed')).toHaveLength(1)
    // the token is a secret: neither agent logged it
    expect(a.proc.text).not.toContain(token)
    expect(b.proc.text).not.toContain(token)
  }, 60_000)

  it('a machine no group matches gets an iPXE script that says why and retries, not an HTTP error', async () => {
    const s = seg as Segment
    const r = await httpIn(s, `${boot}/boot.ipxe?mac=${UNKNOWN_MAC}&buildarch=x86_64&platform=pcbios`)
    expect(r.status).toBe(200)
    expect(r.body.startsWith('#!ipxe\n')).toBe(true)
    expect(r.body).toContain(`cannot boot this machine: no group matches this machine (mac ${UNKNOWN_MAC}`)
    expect(r.body).toMatch(/^sleep \d+$/m)
    expect(r.body).not.toMatch(/^kernel /m)
  }, 30_000)

  it('an installed machine that network-boots again is sent to its disk, not installed again', async () => {
    const s = seg as Segment
    const m = MACHINES[0]
    const r = await httpIn(s, `${boot}/boot.ipxe?mac=${m.mac}&buildarch=i386&platform=pcbios`)
    expect(r.status).toBe(200)
    expect(r.body).toContain(`ctpf: ${idOf(m.mac)} is installed: booting from its disk`)
    expect(r.body).toMatch(/^sanboot /m)
    expect(r.body).not.toMatch(/^kernel /m)
  }, 30_000)
})

/** True when the lifecycle statuses occur in order (the first of each after the first of the one before). */
function inOrder (statuses: string[]): boolean {
  let from = 0
  for (const st of LIFECYCLE) {
    const i = statuses.indexOf(st, from)
    if (i === -1) return false
    from = i + 1
  }
  return true
}
