/** CLI commands of the overlay: `ctpf net status|routes|ping|firewall`. `status` shows this agent's overlay name and every peer's. */
import { client, dataDirOption, fail, out } from './cli-common.js'
import type { FirewallView, OverlayPing, OverlayRoutes, OverlayStatus } from './overlay.js'
import type { FirewallRule } from '../protocols/overlay/index.js'
import type { Command } from 'commander'

const bytes = (n: number): string => n < 1024 ? `${n} B` : n < 1 << 20 ? `${(n / 1024).toFixed(1)} KiB` : n < 1 << 30 ? `${(n / 2 ** 20).toFixed(1)} MiB` : `${(n / 2 ** 30).toFixed(2)} GiB`

function fmtStatus (s: OverlayStatus): string {
  if (!s.enabled) return `overlay   off (${s.reason ?? 'no reason given'})`
  const lines = [
    `overlay   on, ${s.tun ?? '?'} mtu ${s.mtu ?? '?'}`,
    `name      ${s.name ?? '- (tag this agent name=… to get one)'}`,
    `address   ${s.address ?? '(claiming)'}  ${s.address6 ?? ''}`,
    `range     ${s.range ?? ''}  ${s.range6 ?? ''}`,
    `routes    ${(s.advertised ?? []).join(', ') || '-'}`,
    `dns       ${s.dns == null ? 'off' : `${s.dns.domain} on ${s.dns.listening.join(', ') || '-'}${s.dns.errors.length > 0 ? ` (not on ${s.dns.errors.map(e => `${e.address}: ${e.error}`).join('; ')})` : ''}`}`,
    `firewall  ${s.firewall?.rules ?? 0} rules, ${s.firewall?.denied ?? 0} packets denied${(s.firewall?.errors.length ?? 0) > 0 ? `, invalid: ${s.firewall?.errors.map(e => e.name).join(', ')}` : ''}`,
    ''
  ]
  const rows = [['PEER', 'NAME', 'ADDRESS', 'PATH', 'IN', 'OUT', 'LATENCY'], ...(s.peers ?? []).map(p => [
    p.peer.length > 16 ? `…${p.peer.slice(-15)}` : p.peer, p.name ?? '-', p.address ?? '-', p.path ?? '-', bytes(p.bytesIn), bytes(p.bytesOut), p.latencyMs != null ? `${p.latencyMs.toFixed(2)} ms` : '-'
  ])]
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map(r => r[i]!.length)))
  for (const r of rows) lines.push(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
  return lines.join('\n')
}

export function registerNetCommands (program: Command): void {
  const net = program.command('net').description('the encrypted overlay: addresses, paths, routes')

  net.command('status').description('this agent\'s overlay address and every peer: address, path (direct/relayed), bytes, latency')
    .addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const s = await client(opts).request<OverlayStatus>('GET', '/net/status')
        out(opts.json === true, s, () => fmtStatus(s))
      } catch (err) { fail(err) }
    })

  net.command('routes').description('where each overlay destination goes: agents\' addresses and advertised subnets')
    .addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const r = await client(opts).request<OverlayRoutes>('GET', '/net/routes')
        out(opts.json === true, r, () => [
          ...r.routes.map(e => `${e.destination.padEnd(44)} ${e.kind.padEnd(9)} ${e.peer}`),
          `advertised by this agent: ${r.advertised.join(', ') || '-'}`
        ].join('\n'))
      } catch (err) { fail(err) }
    })

  net.command('ping <address>').description('round-trip time to the member owning an overlay address (over its overlay stream)')
    .addOption(dataDirOption()).option('--json', 'machine output').option('--timeout <ms>', 'give up after this long', '5000')
    .action(async (address: string, opts) => {
      try {
        const r = await client(opts).request<OverlayPing>('POST', '/net/ping', { address, timeoutMs: Number(opts.timeout) })
        out(opts.json === true, r, () => `${r.address} (${r.peer}) ${r.rttMs.toFixed(2)} ms via ${r.path ?? '?'}`)
      } catch (err) { fail(err) }
    })

  const fw = net.command('firewall').description('firewall rules by tags, for the whole mesh (state firewall/<name>); see protocols/overlay/firewall.ts')
  fw.command('ls').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (opts) => {
      try {
        const v = await client(opts).request<FirewallView>('GET', '/net/firewall')
        out(opts.json === true, v, () => [
          ...v.rules.map(fmtRule),
          ...v.invalid.map(e => `${e.name}  INVALID: ${e.error}`)
        ].join('\n') || '(no rules: everything is allowed)')
      } catch (err) { fail(err) }
    })
  fw.command('set <name>').description('add or replace a rule (admins only)')
    .requiredOption('--action <allow|deny>', 'allow or deny')
    .option('--from <selector>', 'sending agents (tag selector; empty: all)', '')
    .option('--to <selector>', 'receiving agents (tag selector; empty: all)', '')
    .option('--proto <tcp|udp|icmp|any>', 'protocol', 'any')
    .option('--ports <a[-b]>', 'destination ports (tcp/udp)')
    .addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        let ports: [number, number] | undefined
        if (opts.ports != null) {
          const m = /^(\d+)(?:-(\d+))?$/.exec(String(opts.ports))
          if (m == null) throw Object.assign(new Error(`--ports ${String(opts.ports)}: use PORT or LOW-HIGH`), { code: 'BAD_REQUEST' })
          ports = [Number(m[1]), Number(m[2] ?? m[1])]
        }
        const r = await client(opts).request<FirewallRule>('PUT', `/net/firewall/${encodeURIComponent(name)}`, { from: opts.from, to: opts.to, proto: opts.proto, action: opts.action, ...(ports != null ? { ports } : {}) })
        out(opts.json === true, r, () => fmtRule(r))
      } catch (err) { fail(err) }
    })
  fw.command('rm <name>').addOption(dataDirOption()).option('--json', 'machine output')
    .action(async (name: string, opts) => {
      try {
        await client(opts).request('DELETE', `/net/firewall/${encodeURIComponent(name)}`)
        out(opts.json === true, { ok: true }, () => `removed ${name}`)
      } catch (err) { fail(err) }
    })
}

function fmtRule (r: FirewallRule): string {
  return `${r.name}  ${r.action} ${r.proto}${r.ports != null ? ` ${r.ports[0]}-${r.ports[1]}` : ''} from [${r.from || '*'}] to [${r.to || '*'}]`
}
