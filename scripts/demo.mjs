#!/usr/bin/env node
/**
 * `npm run demo` (root): the whole story of ctpf on one machine, in network namespaces.
 *
 *                          wan 203.0.113.0/24 (a bridge)
 *        ┌───────────────────────┼─────────────────────────┐
 *   relay .10 (relay=true,   dc1 gateway .11 (NAT)      dc2 gateway .12 (NAT)
 *   dc=core, founds mesh)    agent + distributor        agent + distributor
 *                            LAN 10.61.1.0/24           LAN 10.61.2.0/24
 *                            machine A (BIOS, iPXE ROM) machine B (UEFI, OVMF PXE)
 *
 * Steps, each a timeline line: the topology; the agents (the relay founds the mesh, dc1 and
 * dc2 join with invites and reach each other only through the relay); `ctpf ipxe import`;
 * `ctpf package iso` and `pxe` for both dcs' boot endpoints (the PXE set is what the
 * distributors serve over TFTP); the fixture kernel and initramfs as artifacts; `ctpf dc key`
 * for both dcs; a profile whose post-install installs the authorized keys, starts an SSH server
 * and phones home; groups by MAC; the two machines network-boot and show up installed in the
 * registry; `ctpf ssh run` on both dcs' hosts; a ping from dc2 to machine A over the overlay.
 * Everything is removed at the end, on an error, and on SIGINT/SIGTERM.
 *
 * Exit codes: 0 every step ran; 3 the demo ran but skipped steps whose commands are not built
 * (named on the timeline); 1 a step failed; 2 the machine lacks something the demo needs;
 * 130/143 interrupted.
 *
 * Env: CTPF_CLI (the bundle, default dist/ctpf.mjs), CTPF_BOOT_CACHE (default .cache/boot),
 * CTPF_DEMO_LOGS (agent and serial logs, default .cache/demo-logs).
 */
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { gunzipSync } from 'node:zlib'
import { CLI, ROOT, startAgent, until } from './demo/ctpf.mjs'
import { Lab, must, run, sweepStale } from './demo/lab.mjs'
import { OVMF_CODE, OVMF_VARS, startMachine } from './demo/qemu.mjs'
import { Timeline } from './demo/timeline.mjs'

const BOOT_CACHE = process.env.CTPF_BOOT_CACHE ?? join(ROOT, '.cache/boot')
const LOGS = process.env.CTPF_DEMO_LOGS ?? join(ROOT, '.cache/demo-logs')
const TEMPLATE = join(ROOT, 'scripts/demo/post-install.sh')
const WAN = '203.0.113'
const PORT = 4001
const OVERLAY_RANGE = '100.97.0.0/16'
const RELAY_IP = `${WAN}.10`
const DCS = [
  { name: 'dc1', wanIp: `${WAN}.11`, net: '10.61.1', machine: { name: 'A', mac: '52:54:00:de:01:0a', firmware: 'bios' } },
  { name: 'dc2', wanIp: `${WAN}.12`, net: '10.61.2', machine: { name: 'B', mac: '52:54:00:de:02:0b', firmware: 'uefi' } }
]
for (const dc of DCS) Object.assign(dc, { gw: `${dc.net}.1`, lan: `${dc.net}.0/24`, boot: `http://${dc.net}.1:8080` })
const PXE_SET = 'media/demo-pxe/'
const CMDLINE = 'console=ttyS0 quiet panic=-1 ctpf.net=dhcp ctpf.url={{ urls.postInstall }} ctpf.hold=1'
const hostId = mac => mac.replace(/:/g, '-')
const secs = ms => `${(ms / 1000).toFixed(1)} s`

const tl = new Timeline()
const abort = new AbortController()
const signal = abort.signal
let lab
let finishing = false

// ---------------------------------------------------------------------------- preconditions

async function preconditions () {
  const problems = []
  if (process.getuid?.() !== 0) problems.push('run as root (network namespaces, taps, iptables)')
  for (const tool of ['ip', 'iptables', 'qemu-system-x86_64', 'radvd', 'curl', 'busybox']) {
    if ((await run(['sh', '-c', 'command -v "$1"', 'sh', tool])).code !== 0) problems.push(`missing ${tool} (bash scripts/install-test-deps.sh)`)
  }
  for (const f of [CLI]) if (!existsSync(f)) problems.push(`no ${f}: run npm run build`)
  for (const f of ['vmlinuz', 'initrd.img']) if (!existsSync(join(BOOT_CACHE, f))) problems.push(`no ${join(BOOT_CACHE, f)}: run bash scripts/boot-fixtures.sh`)
  if (existsSync(join(BOOT_CACHE, 'initrd.img')) && !gunzipSync(readFileSync(join(BOOT_CACHE, 'initrd.img'))).includes('bin/ctpf-sshd')) {
    problems.push(`${join(BOOT_CACHE, 'initrd.img')} predates the SSH server the demo needs: run bash scripts/boot-fixtures.sh`)
  }
  for (const f of [OVMF_CODE, OVMF_VARS, '/usr/lib/ipxe/ipxe.efi', '/usr/lib/ipxe/undionly.kpxe']) if (!existsSync(f)) problems.push(`missing ${f} (bash scripts/install-test-deps.sh)`)
  return problems
}

// ---------------------------------------------------------------------------- topology

async function topology () {
  const wan = await lab.addNs('wan')
  await lab.bridge(wan, 'wan')
  const relayNs = await lab.addNs('relay')
  await lab.veth(relayNs, 'wan0', wan, 'relay')
  await lab.enslave(wan, 'relay', 'wan')
  await lab.addr(relayNs, 'wan0', `${RELAY_IP}/24`)
  for (const dc of DCS) {
    dc.ns = await lab.addNs(dc.name)
    dc.lanNs = await lab.addNs(`${dc.name}-lan`)
    await lab.veth(dc.ns, 'wan0', wan, dc.name)
    await lab.enslave(wan, dc.name, 'wan')
    await lab.addr(dc.ns, 'wan0', `${dc.wanIp}/24`)
    // the LAN: a bridge in its own namespace, the gateway's lan0 on it, the machines' taps later
    await lab.bridge(dc.lanNs, 'lan')
    await lab.veth(dc.ns, 'lan0', dc.lanNs, 'gw')
    await lab.enslave(dc.lanNs, 'gw', 'lan')
    await lab.addr(dc.ns, 'lan0', `${dc.gw}/24`)
    // UEFI PXE takes DHCP replies to 255.255.255.255 only
    await must(lab.inNs(dc.ns, ['ip', 'route', 'replace', '255.255.255.255/32', 'dev', 'lan0']))
    await must(lab.inNs(dc.lanNs, ['sysctl', '-qw', 'net.ipv6.conf.all.accept_dad=0', 'net.ipv6.conf.default.accept_dad=0']))
    // NAT: the LAN goes out masqueraded; nothing on the wan opens a connection into the gateway
    // (a TCP SYN gets a reset at once, so a dial fails fast instead of timing out)
    const ipt = args => must(lab.inNs(dc.ns, ['iptables', '-w', ...args]))
    await must(lab.inNs(dc.ns, ['sysctl', '-qw', 'net.ipv4.ip_forward=1']))
    await ipt(['-t', 'nat', '-A', 'POSTROUTING', '-o', 'wan0', '-s', dc.lan, '-j', 'MASQUERADE'])
    for (const chain of ['INPUT', 'FORWARD']) {
      await ipt(['-A', chain, '-i', 'wan0', '-m', 'conntrack', '--ctstate', 'ESTABLISHED,RELATED', '-j', 'ACCEPT'])
      await ipt(['-A', chain, '-i', 'wan0', '-p', 'tcp', '-j', 'REJECT', '--reject-with', 'tcp-reset'])
      await ipt(['-A', chain, '-i', 'wan0', '-j', 'DROP'])
    }
  }
  return { wan, relayNs }
}

/** True when a TCP connection from `ns` to `ip:port` is refused (curl exit 7), i.e. the NAT turned it away. */
async function refused (ns, ip, port) {
  const r = await lab.exec(ns, ['curl', '-s', '-o', '/dev/null', '--max-time', '3', `http://${ip}:${port}/`])
  return r.code === 7
}

// ---------------------------------------------------------------------------- steps

async function agentsUp (relayNs) {
  const relay = await startAgent(lab, relayNs, {
    name: 'relay',
    listen: [`/ip4/${RELAY_IP}/tcp/${PORT}`],
    announce: [`/ip4/${RELAY_IP}/tcp/${PORT}`],
    tags: ['dc=core', 'relay=true', 'name=relay'],
    config: { overlay: { range: OVERLAY_RANGE } },
    logDir: LOGS,
    signal
  })
  for (const dc of DCS) {
    const { token } = await relay.json(['invite', 'create', '--tag', `dc=${dc.name}`])
    dc.agent = await startAgent(lab, dc.ns, {
      name: dc.name,
      listen: [`/ip4/${dc.wanIp}/tcp/${PORT}`, '/p2p-circuit'],
      tags: ['role=scripts+registry+builder+packager+ssh', `name=${dc.name}`],
      config: {
        distributor: {
          dc: dc.name,
          address: dc.gw,
          interface: 'lan0',
          // boot loaders from the PXE set `ctpf package pxe` makes (fetched through the mesh)
          files: { names: PXE_SET },
          // never used: the scripts role answers every machine with its group's profile
          profile: { name: 'unused', kernel: 'boot/vmlinuz' },
          http: { port: 8080 },
          tftp: { port: 69 },
          dhcp: { mode: 'full', authoritative: true, subnets: [{ network: `${dc.net}.0`, netmask: '255.255.255.0', range: { start: `${dc.net}.100`, end: `${dc.net}.150` }, leaseTime: 600 }] }
        },
        overlay: { range: OVERLAY_RANGE, routes: [dc.lan] }
      },
      joinToken: token,
      logDir: LOGS,
      signal
    })
    await dc.agent.proc.waitFor(/distributor running/, { timeoutMs: 30_000, signal })
  }
  const members = await until('3 members at the relay', async () => {
    const ms = await relay.json(['member', 'ls'])
    return ms.length === 3 ? ms : undefined
  }, { timeoutMs: 30_000, signal })
  return { relay, members }
}

/**
 * dc1 and dc2 are connected, and only through the relay. Nothing makes two agents connect but
 * work between them: the media step makes dc2 fetch dc1's iPXE binaries and dc1 fetch dc2's
 * PXE set, so by then both have a connection to show.
 */
async function paths () {
  const [d1, d2] = DCS
  const seen = await until('dc1 and dc2 connected to each other', async () => {
    const p1 = (await d1.agent.json(['peers'])).find(p => p.peerId === d2.agent.peerId)
    const p2 = (await d2.agent.json(['peers'])).find(p => p.peerId === d1.agent.peerId)
    return p1 !== undefined && p2 !== undefined ? [p1, p2] : undefined
  }, { timeoutMs: 30_000, signal })
  if (seen.some(p => p.path !== 'relayed')) throw new Error(`dc1 and dc2 must reach each other only through the relay, but the paths are ${seen.map(p => p.path).join(', ')}: ${JSON.stringify(seen)}`)
  return seen
}

/** The NAT really turns away a direct dial between the gateways (the relay is reachable). */
async function natCheck () {
  const [d1, d2] = DCS
  if (!(await refused(d2.ns, d1.wanIp, PORT)) || !(await refused(d1.ns, d2.wanIp, PORT))) throw new Error('a direct TCP dial between the datacenters was not refused: the NAT is not in place')
  if (await refused(d1.ns, RELAY_IP, PORT)) throw new Error(`dc1 cannot reach the relay at ${RELAY_IP}:${PORT}`)
}

async function ipxeImport () {
  const added = await DCS[0].agent.json(['ipxe', 'import'])
  return added
}

async function media (relay) {
  const endpoints = DCS.flatMap(dc => ['--endpoint', `${dc.boot}/boot.ipxe`])
  // the iso at dc1 (where the iPXE binaries are), the PXE set at dc2 (it fetches them from dc1)
  const iso = await relay.json(['package', 'iso', ...endpoints, '--selector', 'name=dc1', '--wait'], 180_000)
  if (iso.status !== 'succeeded') throw new Error(`package iso ${iso.status}: ${JSON.stringify(iso.error ?? iso.reason)}`)
  const pxe = await relay.json(['package', 'pxe', ...endpoints, '--selector', 'name=dc2', '--name', PXE_SET.replace(/\/$/, ''), '--wait'], 180_000)
  if (pxe.status !== 'succeeded') throw new Error(`package pxe ${pxe.status}: ${JSON.stringify(pxe.error ?? pxe.reason)}`)
  // each dc's distributor serves the set's loaders (fetching them through the mesh once)
  for (const dc of DCS) {
    for (const f of ['ipxe.efi', 'undionly.kpxe']) {
      await until(`${dc.name} to serve ${PXE_SET}${f}`, async () => (await httpStatus(dc, `${dc.boot}/files/${f}`)) === 200, { timeoutMs: 60_000, signal })
    }
  }
  return { iso, pxe }
}

async function httpStatus (dc, url) {
  const r = await lab.exec(dc.ns, ['curl', '-s', '-o', '/dev/null', '-w', '%{http_code}', '--max-time', '20', url], { timeoutMs: 30_000 })
  return Number(r.stdout.trim())
}

async function bootArtifacts (relay) {
  const added = []
  for (const [file, name] of [['vmlinuz', 'boot/vmlinuz'], ['initrd.img', 'boot/initrd.img']]) {
    added.push({ name, ...(await relay.json(['artifact', 'add', join(BOOT_CACHE, file), '--name', name])) })
  }
  for (const dc of DCS) {
    for (const { name } of added) {
      await until(`${dc.name} to serve ${name}`, async () => (await httpStatus(dc, `${dc.boot}/artifacts/${name}`)) === 200, { timeoutMs: 90_000, signal })
    }
  }
  return added
}

async function dcKeys (relay) {
  const keys = []
  for (const dc of DCS) {
    // the key is sealed to the dc's ssh agents: wait until the relay knows their sealing keys
    const key = await until(`ctpf dc key ${dc.name}`, async () => await relay.json(['dc', 'key', dc.name]), { timeoutMs: 30_000, intervalMs: 1000, signal })
    await until(`${dc.name} to know its general key`, async () =>
      (await dc.agent.json(['dc', 'ls'])).some(d => d.name === dc.name && d.generalKey === key.fingerprint), { timeoutMs: 30_000, signal })
    keys.push({ dc: dc.name, ...key })
  }
  return keys
}

async function profileAndGroups (relay) {
  await relay.json(['profile', 'put', 'demo', '--kernel', 'boot/vmlinuz', '--initrd', 'boot/initrd.img', '--cmdline', CMDLINE, '--post-install', TEMPLATE])
  for (const dc of DCS) {
    await relay.json(['group', 'put', `machine-${dc.machine.name.toLowerCase()}`, '--profile', 'demo', '--mac', dc.machine.mac])
  }
  for (const dc of DCS) {
    await until(`${dc.name} to have the profile and groups`, async () => {
      const [ps, gs] = [await dc.agent.json(['profile', 'ls']), await dc.agent.json(['group', 'ls'])]
      return ps.some(p => p.name === 'demo') && DCS.every(d => gs.some(g => g.name === `machine-${d.machine.name.toLowerCase()}`))
    }, { timeoutMs: 30_000, signal })
  }
}

const PHASES = [
  [/CTPF-BOOT-OK/, 'kernel+initramfs'],
  [/CTPF-NET-UP/, 'network up'],
  [/DEMO-POST-INSTALL/, 'post-install'],
  [/DEMO-SSHD/, 'sshd up'],
  [/DEMO-PHONE-HOME-OK/, 'phoned home']
]
const FAILURES = /CTPF-NET-FAILED|CTPF-SCRIPT-FETCH-FAILED|DEMO-PHONE-HOME-FAILED|DEMO-NO-SSHD|Kernel panic/

function phaseOf (vm) {
  const c = vm.console
  let phase = /boots profile/.test(c) ? 'profile' : /iPXE/.test(c) ? 'iPXE' : 'firmware'
  for (const [re, name] of PHASES) if (re.test(c)) phase = name
  return phase
}

async function bootMachines (relay) {
  const started = Date.now()
  for (const dc of DCS) {
    const tap = `tap${dc.machine.name.toLowerCase()}`
    await lab.tap(dc.lanNs, tap, 'lan')
    dc.vm = startMachine(lab, dc.lanNs, { name: dc.machine.name, tap, mac: dc.machine.mac, firmware: dc.machine.firmware, logDir: LOGS })
  }
  const installedAt = {}
  const hosts = await tl.progress('boot', async update => {
    return await until('both machines installed in the registry', async () => {
      for (const dc of DCS) {
        const vm = dc.vm
        if (!vm.proc.running) throw fatal(new Error(`machine ${vm.name} stopped (${JSON.stringify(vm.proc.exit)}); serial log ${vm.serialLog}:\n${vm.console.slice(-1500)}`))
        const bad = FAILURES.exec(vm.console)
        if (bad !== null) throw fatal(new Error(`machine ${vm.name}: ${bad[0]}; serial log ${vm.serialLog}:\n${vm.console.slice(-1500)}`))
      }
      const hs = await relay.json(['host', 'ls'])
      const status = dc => hs.find(h => h.id === hostId(dc.machine.mac))?.status ?? '-'
      for (const dc of DCS) if (status(dc) === 'installed' && installedAt[dc.name] === undefined) installedAt[dc.name] = Date.now() - started
      update(DCS.map(dc => `${dc.machine.name} (${dc.machine.firmware}, ${dc.name}): ${phaseOf(dc.vm)}, registry ${status(dc)}`).join(' | '))
      return DCS.every(dc => status(dc) === 'installed') ? hs : undefined
    }, { timeoutMs: 240_000, intervalMs: 2000, signal })
  })
  return { hosts, installedAt }
}

/** An error `until` must not retry. */
const fatal = err => Object.assign(err, { fatal: true })

function lifecycle (h) {
  const evs = [...(h.events ?? [])].sort((a, b) => a.at - b.at)
  if (evs.length === 0) return '-'
  const t0 = evs[0].at
  return evs.map((e, i) => i === 0 ? e.status : `${e.status} +${((e.at - t0) / 1000).toFixed(1)}s`).join(' → ')
}

async function sshRun (relay) {
  const help = await run([process.execPath, CLI, 'ssh', 'run', '--help'])
  if (help.code !== 0) return { skipped: 'ctpf ssh run not built yet' }
  const results = []
  for (const dc of DCS) {
    const r = await relay.cli(['ssh', 'run', '--hosts', `dc=${dc.name}`, '--timeout', '60', '--json', '--', 'uname', '-a'], 180_000)
    let parsed
    try { parsed = JSON.parse(r.stdout) } catch { throw new Error(`ctpf ssh run --hosts dc=${dc.name} exited ${String(r.code)}: ${(r.stderr || r.stdout).trim().slice(-1500)}`) }
    results.push(parsed)
    if (r.code !== 0 || parsed.failed !== 0 || parsed.ok !== 1) {
      throw new Error(`ctpf ssh run --hosts dc=${dc.name}: ${parsed.ok} ok, ${parsed.failed} failed: ${JSON.stringify(parsed.hosts)}`)
    }
  }
  return { results }
}

async function overlayPing () {
  const [d1, d2] = DCS
  const st = await d2.agent.cli(['net', 'status', '--json'])
  if (st.code !== 0) return { skipped: `ctpf net status failed: ${(st.stderr || st.stdout).trim().split('\n').at(-1)}` }
  const status = JSON.parse(st.stdout)
  if (status.enabled !== true) return { skipped: `the overlay is off at dc2: ${status.reason ?? 'no reason given'}` }
  const target = d1.address
  // dc1 advertises its LAN; dc2 routes it into its TUN
  await until(`dc2 to route ${d1.lan} to dc1`, async () =>
    (await d2.agent.json(['net', 'routes'])).routes.some(r => r.destination === d1.lan && r.peer === d1.agent.peerId), { timeoutMs: 30_000, signal })
  const ping = await until(`ctpf net ping ${target} at dc2`, async () => await d2.agent.json(['net', 'ping', target]), { timeoutMs: 30_000, intervalMs: 1000, signal })
  // the kernel's own ICMP from dc2's gateway to machine A: dc2's TUN → overlay → dc1 → its LAN
  const icmp = await until(`ICMP from dc2 to machine A (${target})`, async () => {
    const r = await lab.exec(d2.ns, ['busybox', 'ping', '-c', '3', '-W', '2', target], { timeoutMs: 20_000 })
    return r.code === 0 ? r.stdout : undefined
  }, { timeoutMs: 45_000, intervalMs: 1000, signal })
  const m = /(\d+) packets transmitted, (\d+) packets received.*\n.*min\/avg\/max = [\d.]+\/([\d.]+)\//s.exec(icmp)
  return { status, ping, icmp: { sent: m?.[1], received: m?.[2], avgMs: m?.[3] } }
}

// ---------------------------------------------------------------------------- main

async function main () {
  const problems = await preconditions()
  if (problems.length > 0) {
    for (const p of problems) process.stderr.write(`ctpf demo: ${p}\n`)
    return 2
  }
  mkdirSync(LOGS, { recursive: true })
  const stale = sweepStale()
  lab = await Lab.create()
  tl.say(`ctpf demo — run ${lab.nsName('*')}, temp ${lab.tmp}, bundle ${CLI}, logs in ${LOGS}`)
  if (stale.length > 0) tl.detail(`removed what an interrupted run left: ${stale.join(', ')}`)

  const step = async (name, fn) => {
    signal.throwIfAborted()
    try {
      return await fn()
    } catch (err) {
      throw Object.assign(err, { step: name })
    }
  }

  const { relayNs } = await step('topology', topology)
  tl.ok('topology', `wan ${WAN}.0/24 with the relay (${RELAY_IP}); ${DCS.map(dc => `${dc.name}: gateway ${dc.wanIp} (NAT), LAN ${dc.lan}`).join('; ')}`)

  const { relay, members } = await step('agents', async () => {
    const up = await agentsUp(relayNs)
    await natCheck()
    return up
  })
  tl.ok('agents', `the relay founded the mesh; dc1 and dc2 joined with invites (${members.length} members)`)
  for (const a of [relay, ...DCS.map(dc => dc.agent)]) {
    const m = members.find(x => x.peerId === a.peerId)
    tl.detail(`${a.name.padEnd(5)} …${a.peerId.slice(-10)}  ${Object.entries(m?.tags ?? {}).map(([k, v]) => `${k}=${v}`).join(',')}`)
  }

  const ipxe = await step('ipxe', ipxeImport)
  tl.ok('ipxe', `ctpf ipxe import at dc1: ${ipxe.map(x => x.name).join(', ')}`)

  const { iso, pxe } = await step('media', async () => await tl.progress('media', async update => {
    update('package iso, then pxe')
    return await media(relay)
  }))
  const by = job => DCS.find(dc => dc.agent.peerId === job.claim?.peer)?.name ?? job.claim?.peer ?? '?'
  tl.ok('media', `package iso → ${iso.result.name} (${(iso.result.size / 2 ** 20).toFixed(1)} MiB, by ${by(iso)}); package pxe → ${pxe.result.files.map(f => f.name).join(', ')} (by ${by(pxe)})`)
  tl.detail(`endpoints: ${DCS.map(dc => `${dc.boot}/boot.ipxe`).join(', ')}; both distributors serve ${PXE_SET}{ipxe.efi,undionly.kpxe} over TFTP`)

  const seen = await step('paths', paths)
  tl.ok('paths', `dc1 ↔ dc2 ${seen[0].path} through the relay (dc2 fetched dc1's iPXE binaries, dc1 dc2's PXE set); a direct dial between the gateways is refused by the NAT`)

  const arts = await step('artifacts', async () => await tl.progress('artifacts', async update => {
    update('adding the kernel and initramfs at the relay; dc1 and dc2 fetch them')
    return await bootArtifacts(relay)
  }))
  tl.ok('artifacts', arts.map(a => `${a.name} ${(a.size / 2 ** 20).toFixed(1)} MiB ${String(a.cid).slice(0, 16)}…`).join(', ') + '; served by both dcs')

  const keys = await step('dc-keys', async () => await dcKeys(relay))
  tl.ok('dc-keys', keys.map(k => `${k.dc} ${k.fingerprint} (sealed to ${k.recipients.length} ssh agent)`).join('; '))

  await step('profile', async () => await profileAndGroups(relay))
  tl.ok('profile', `profile demo (boot/vmlinuz + boot/initrd.img, post-install ${TEMPLATE.slice(ROOT.length + 1)}); groups ${DCS.map(dc => `machine-${dc.machine.name.toLowerCase()} = ${dc.machine.mac}`).join(', ')}`)

  const { hosts, installedAt } = await step('boot', async () => await bootMachines(relay))
  tl.ok('boot', DCS.map(dc => `${dc.machine.name} (${dc.machine.firmware === 'bios' ? 'BIOS, iPXE ROM' : 'UEFI, OVMF PXE → ipxe.efi'}) in ${dc.name} installed after ${secs(installedAt[dc.name])}`).join('; '))
  const efi = pxe.result.files.find(f => f.name === `${PXE_SET}ipxe.efi`)
  for (const dc of DCS) {
    const c = dc.vm.console
    const nbp = /NBP filesize is (\d+) Bytes/.exec(c)
    const firmware = nbp !== null
      ? `OVMF loaded ipxe.efi over TFTP (${nbp[1]} bytes${Number(nbp[1]) === efi?.size ? `, the PXE set's ${efi.name}` : ''})`
      : /Filename: (\S+)/.exec(c) !== null ? `the NIC's iPXE chained ${/Filename: (\S+)/.exec(c)[1]}` : 'firmware'
    tl.detail(`${dc.machine.name}: ${firmware} → ${/ctpf: (\S+ \S+ boots profile \S+)/.exec(c)?.[1] ?? '?'} → ${/^DEMO-POST-INSTALL .*$/m.exec(c.replace(/\r/g, ''))?.[0] ?? '?'}`)
  }

  for (const dc of DCS) {
    const h = hosts.find(x => x.id === hostId(dc.machine.mac))
    dc.address = h.addresses.find(a => !a.includes(':'))
  }
  tl.ok('registry', `ctpf host ls: ${hosts.filter(h => DCS.some(dc => h.id === hostId(dc.machine.mac))).length} hosts installed`)
  for (const dc of DCS) {
    const h = hosts.find(x => x.id === hostId(dc.machine.mac))
    tl.detail(`${h.id}  ${h.dc}  ${h.status}  ${h.addresses.join(',')}  profile ${h.profile ?? '-'}  host key ${(h.sshHostKey ?? '-').slice(0, 28)}…`)
    tl.detail(`  ${lifecycle(h)}`)
  }

  const ssh = await step('ssh', async () => await tl.progress('ssh', async update => {
    update('ctpf ssh run --hosts dc=… -- uname -a')
    return await sshRun(relay)
  }))
  if (ssh.skipped !== undefined) {
    tl.skip('ssh', ssh.skipped)
  } else {
    tl.ok('ssh', `ctpf ssh run -- uname -a: ${ssh.results.map(r => `${r.dc} ${r.ok} ok, ${r.failed} failed`).join('; ')}`)
    for (const r of ssh.results) {
      for (const h of r.hosts) tl.detail(`${r.dc}  ${h.host}  ${h.ok ? 'ok' : 'FAILED'}  exit ${h.exitCode ?? '-'}  ${(h.durationMs / 1000).toFixed(2)}s  ${h.stdoutTail.trim().split('\n').at(-1) ?? ''}`)
    }
  }

  const ov = await step('overlay', async () => await tl.progress('overlay', async update => {
    update('dc2 → machine A over the overlay')
    return await overlayPing()
  }))
  if (ov.skipped !== undefined) {
    tl.skip('overlay', ov.skipped)
  } else {
    tl.ok('overlay', `dc2 → machine A ${DCS[0].address} over the overlay: ${ov.icmp.received}/${ov.icmp.sent} ICMP replies, avg ${ov.icmp.avgMs} ms; ctpf net ping ${ov.ping.rttMs} ms via dc1 (${ov.ping.path})`)
    tl.detail(`dc2 overlay address ${ov.status.address}, routes ${DCS[0].lan} → dc1 …${DCS[0].agent.peerId.slice(-10)}`)
  }
  return tl.skipped.length > 0 ? 3 : 0
}

// ---------------------------------------------------------------------------- cleanup and exit

async function cleanUp () {
  if (lab === undefined) return
  const r = await lab.cleanup()
  tl.ok('cleanup', `${r.processes} processes stopped, ${r.namespaces} namespaces and the temp dir removed`)
}

async function finish (code, why) {
  if (finishing) return
  finishing = true
  try { await cleanUp() } catch (err) { tl.fail('cleanup', err.message); lab?.cleanupSync() }
  if (code === 0) tl.say(`demo complete in ${secs(tl.elapsed() * 1000)}`)
  else if (code === 3) tl.say(`demo incomplete in ${secs(tl.elapsed() * 1000)}: skipped ${tl.skipped.map(s => `${s.step} (${s.reason})`).join(', ')} — exit 3`)
  else if (why !== undefined) tl.say(why)
  process.exit(code)
}

process.once('exit', () => { lab?.cleanupSync() })
for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143], ['SIGHUP', 129]]) {
  process.on(sig, () => {
    if (finishing) { lab?.cleanupSync(); process.exit(code) }
    abort.abort(new Error(`interrupted by ${sig}`))
    tl.say(`interrupted by ${sig}: cleaning up`)
    void finish(code, `demo interrupted by ${sig} — exit ${code}`)
  })
}

main().then(async code => { await finish(code) }, async err => {
  if (finishing) return
  if (err.step !== undefined) tl.fail(err.step, err.message.split('\n')[0])
  const rest = err.message.split('\n').slice(1)
  if (rest.length > 0) tl.detail(...rest.slice(-30))
  tl.detail(`logs: ${LOGS}`)
  if (!(err.step !== undefined)) tl.say(`demo failed: ${err.stack ?? err.message}`)
  await finish(1, 'demo failed — exit 1')
})
