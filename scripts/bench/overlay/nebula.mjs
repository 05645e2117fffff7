// Nebula (Debian's 1.6.x package) in the lab's namespaces: a CA and host certificates made with
// nebula-cert in a temp dir, a config per node (JSON, which nebula's YAML loader reads), one
// process per node. The nodes' TUN gets ctpf's MTU (1400) so both overlays carry the same
// packet size; everything else is nebula's default (AES-GCM, one routine).
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { must, run, spawnIn, tempDir } from './lab.mjs'

export const NEBULA_PREFIX = '100.97.0'
const PORT = 4242

/** nebula's version, or throws with the reason it cannot be used. */
export async function nebulaVersion () {
  const v = await run('nebula', ['-version'], 10_000)
  if (v.code !== 0) throw new Error(`nebula is not usable: ${(v.stderr || v.stdout).trim() || `exit ${v.code}`} (apt-get install -y nebula)`)
  const c = await run('nebula-cert', ['-version'], 10_000)
  if (c.code !== 0) throw new Error(`nebula-cert is not usable: ${(c.stderr || c.stdout).trim()}`)
  return /Version: (\S+)/.exec(v.stdout)?.[1] ?? v.stdout.trim()
}

/** A fresh CA; `host(name, ip)` signs a host certificate, returns { crt, key, ca }. */
export async function makePki () {
  const dir = tempDir('nebula')
  const ca = join(dir, 'ca.crt')
  const caKey = join(dir, 'ca.key')
  await must('nebula-cert', ['ca', '-name', 'ctpf-nb bench', '-duration', '2h', '-out-crt', ca, '-out-key', caKey])
  return {
    dir,
    host: async (name, ip) => {
      const crt = join(dir, `${name}.crt`)
      const key = join(dir, `${name}.key`)
      await must('nebula-cert', ['sign', '-ca-crt', ca, '-ca-key', caKey, '-name', name, '-ip', `${ip}/16`, '-out-crt', crt, '-out-key', key])
      return { ca, crt, key }
    }
  }
}

/**
 * Starts a nebula node in `ns`. `lighthouse`: [nebulaIp, underlayIp] of the lighthouse (absent
 * for the lighthouse itself); `amRelay`; `relays`: nebula IPs others may use to reach this node.
 */
export async function startNebula (pki, ns, name, ip, { lighthouse, amRelay = false, relays = [], mtu = 1400 } = {}) {
  const certs = await pki.host(name, ip)
  const config = {
    pki: { ca: certs.ca, cert: certs.crt, key: certs.key },
    static_host_map: lighthouse != null ? { [lighthouse[0]]: [`${lighthouse[1]}:${PORT}`] } : {},
    lighthouse: { am_lighthouse: lighthouse == null, interval: 60, hosts: lighthouse != null ? [lighthouse[0]] : [] },
    listen: { host: '0.0.0.0', port: PORT },
    punchy: { punch: true },
    relay: { am_relay: amRelay, use_relays: true, relays },
    tun: { disabled: false, dev: 'ctpfnbneb', mtu },
    logging: { level: 'info', format: 'text' },
    firewall: {
      conntrack: { tcp_timeout: '12m', udp_timeout: '3m', default_timeout: '10m' },
      outbound: [{ port: 'any', proto: 'any', host: 'any' }],
      inbound: [{ port: 'any', proto: 'any', host: 'any' }]
    }
  }
  const file = join(pki.dir, `${name}.yml`)
  writeFileSync(file, JSON.stringify(config, null, 1))
  const proc = spawnIn(ns, ['nebula', '-config', file])
  await proc.waitFor(/Nebula interface is active/, 20_000)
  return { ns, name, ip, proc, stop: () => proc.stop() }
}
