/**
 * The scripts role on an agent's boot endpoint: answers identified machines with the boot
 * script of their group's profile (profiles and groups live in state: `profiles/<name>`,
 * `groups/<name>`), serves their installer configs (`/installer/<mac>/<kind>`), boot files by
 * artifact name or CID (`/artifacts/<ref>`), and takes their phone-home (`POST /phone-home`
 * with the one-time token of their rendered config; only its hash is stored, at
 * `phonehome/<hash>`). Every step is a lifecycle event of the host.
 *
 * @example
 * const answerer = scriptsAnswerer({ dc: 'nbg1', meshId, state, artifacts, inventory, log })
 * createDistributor(config, { …, answerer })
 */
import { pipeline } from 'node:stream/promises'
import {
  bootAnswer, checkPhoneHome, hashToken, installerConfig, installerUsesPhoneHome, isInstallerKind,
  mintPhoneHomeToken, normalizeMac, parseGroup, parseProfile, selectGroup
} from '../roles/scripts/index.js'
import { hostId } from './hosts.js'
import type { Artifacts } from '../protocols/artifacts/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { BootAnswerer, BootIdentity } from '../roles/distributor/index.js'
import type { Group, HostFacts, Profile, StoredPhoneHome } from '../roles/scripts/index.js'
import type { HostInventory } from './hosts.js'
import type { IncomingMessage, ServerResponse } from 'node:http'
import type { Logger } from 'pino'

export const PHONE_HOME_TTL_MS = 24 * 3600_000
const MAX_PHONE_HOME_BYTES = 16 * 1024

export interface AuthorizedKey { key: string, dc?: string, tags?: Record<string, string> }

export interface ScriptsInit {
  dc: string
  meshId: string
  domain?: string
  state: StateService
  artifacts: Artifacts
  inventory: HostInventory
  log: Logger
}

/** Profiles and groups as stored; records that no longer parse (a newer agent wrote them) are skipped. */
export function loadProfiles (state: StateService): Map<string, Profile> {
  const out = new Map<string, Profile>()
  for (const { value } of state.store.list('profiles/')) {
    try { const p = parseProfile(value); out.set(p.name, p) } catch { /* refused at write time; skip */ }
  }
  return out
}

export function loadGroups (state: StateService): Group[] {
  const out: Group[] = []
  for (const { value } of state.store.list('groups/')) {
    try { out.push(parseGroup(value)) } catch { /* skip */ }
  }
  return out
}

/** Public keys for a host: those for its dc or matching its tags, and its dc's general key. */
export function authorizedKeysFor (state: StateService, host: { dc?: string, tags?: Record<string, string> }): string[] {
  const keys = new Set<string>()
  for (const { value } of state.store.list<AuthorizedKey>('keys/authorized/')) {
    const dcOk = value.dc == null || value.dc === host.dc
    const tagsOk = Object.entries(value.tags ?? {}).every(([k, v]) => host.tags?.[k] === v)
    if (dcOk && tagsOk) keys.add(value.key)
  }
  const general = host.dc != null ? state.store.get<{ publicKey: string }>(`keys/dc/${host.dc}`) : undefined
  if (general != null) keys.add(general.publicKey)
  return [...keys]
}

function send (res: ServerResponse, status: number, body: string, type = 'text/plain; charset=utf-8'): void {
  res.writeHead(status, { 'content-type': type, 'cache-control': 'no-store' }).end(body)
}

async function readBody (req: IncomingMessage, max: number): Promise<Buffer> {
  const chunks: Buffer[] = []
  let n = 0
  for await (const c of req) {
    n += (c as Buffer).length
    if (n > max) throw Object.assign(new Error('body too large'), { status: 413 })
    chunks.push(c as Buffer)
  }
  return Buffer.concat(chunks)
}

export function scriptsAnswerer (init: ScriptsInit): BootAnswerer {
  const { state, inventory, log } = init
  const phoningHome = new Set<string>()

  const factsOf = (mac: string, who?: BootIdentity & { ip?: string }): HostFacts & { dc: string, tags: Record<string, string> } => {
    const view = inventory.get(mac)
    return {
      mac: normalizeMac(mac),
      uuid: who?.uuid ?? view?.uuid,
      arch: who?.arch ?? view?.arch,
      platform: who?.platform ?? view?.platform,
      hostname: view?.hostname,
      dc: view?.dc ?? init.dc,
      addresses: who?.ip != null ? [who.ip.replace(/^::ffff:/, '')] : view?.addresses ?? [],
      tags: view?.tags ?? {}
    }
  }

  const urlsFor = (base: string, id: string): Record<string, string> => ({
    kickstart: `${base}/installer/${id}/kickstart`,
    preseed: `${base}/installer/${id}/preseed`,
    cloudInit: `${base}/installer/${id}/`,
    preInstall: `${base}/installer/${id}/pre-install`,
    postInstall: `${base}/installer/${id}/post-install`
  })

  const script = async (who: BootIdentity & { ip: string }, base: string): Promise<string> => {
    const id = hostId(who.mac as string)
    const status = inventory.get(id)?.status
    if (status === 'installed' || status === 'ready') {
      return ['#!ipxe', `echo ctpf: ${id} is ${status}: booting from its disk (ctpf host reprovision to install again)`, 'sanboot --no-describe --drive 0x80 || exit 1', ''].join('\n')
    }
    const host = factsOf(id, who)
    const profiles = loadProfiles(state)
    const answer = bootAnswer({
      groups: loadGroups(state),
      profile: name => profiles.get(name),
      host,
      arch: who.arch ?? 'x86_64',
      platform: who.platform ?? 'pcbios',
      artifactUrl: ref => `${base}/artifacts/${ref}`,
      authorizedKeys: authorizedKeysFor(state, host),
      mesh: { id: init.meshId, domain: init.domain },
      baseUrl: base,
      urls: urlsFor(base, id)
    })
    if (answer.error != null) {
      log.info({ host: id, reason: answer.error.message }, 'boot answered with an error script')
      if (answer.profile != null) await inventory.transition(id, 'failed', { reason: answer.error.message.slice(0, 500), profile: answer.profile, group: answer.group }).catch(() => {})
    } else {
      await inventory.transition(id, 'booting', { profile: answer.profile, group: answer.group, arch: who.arch, platform: who.platform }).catch(err => { log.warn({ err, host: id }, 'boot not recorded') })
    }
    return answer.script
  }

  const installer = async (res: ServerResponse, id: string, kind: string, base: string): Promise<void> => {
    if (!isInstallerKind(kind)) { send(res, 404, `no installer config "${kind}"\n`); return }
    const host = factsOf(id)
    const group = selectGroup(loadGroups(state), host)
    const profile = group != null ? loadProfiles(state).get(group.profile) : undefined
    if (group == null || profile == null) { send(res, 404, `no profile for ${id}\n`); return }
    let phoneHome: { url: string, token: string } | undefined
    if (installerUsesPhoneHome({ profile }, kind)) {
      const token = mintPhoneHomeToken()
      const stored: StoredPhoneHome & { mac: string } = { hash: hashToken(token), expiresAt: Date.now() + PHONE_HOME_TTL_MS, mac: id }
      await state.write(`phonehome/${stored.hash}`, stored)
      phoneHome = { url: `${base}/phone-home`, token }
    }
    let body: string
    let contentType: string
    try {
      ({ body, contentType } = installerConfig(kind, { profile, host, group, authorizedKeys: authorizedKeysFor(state, host), phoneHome, mesh: { id: init.meshId, domain: init.domain }, baseUrl: base, urls: urlsFor(base, id) }))
    } catch (err) {
      log.warn({ host: id, err }, 'installer config failed to render')
      await inventory.transition(id, 'failed', { reason: `${kind}: ${(err as Error).message}`.slice(0, 500), profile: profile.name, group: group.name }).catch(() => {})
      send(res, 500, `${kind} for ${id} failed to render: ${(err as Error).message}\n`)
      return
    }
    const status = inventory.get(id)?.status
    if (status === 'booting' || status === 'discovered' || status === 'reprovision' || status == null) {
      await inventory.transition(id, 'installing', { profile: profile.name, group: group.name }).catch(() => {})
    }
    send(res, 200, body, contentType)
  }

  const phoneHomeRoute = async (req: IncomingMessage, res: ServerResponse, ip: string): Promise<void> => {
    if (req.method !== 'POST') { res.writeHead(405, { allow: 'POST' }).end(); return }
    const m = /^Bearer ([A-Za-z0-9_-]{16,128})$/.exec(req.headers.authorization ?? '')
    const body = await readBody(req, MAX_PHONE_HOME_BYTES)
    const hash = m != null ? hashToken(m[1]) : ''
    const stored = m != null ? state.store.get<StoredPhoneHome & { mac: string }>(`phonehome/${hash}`) : undefined
    const verdict = m == null ? 'wrong' : phoningHome.has(hash) ? 'reused' : checkPhoneHome(stored, m[1], Date.now())
    if (verdict !== 'ok' || stored == null) {
      log.warn({ ip, verdict }, 'phone-home refused')
      send(res, 403, JSON.stringify({ error: { code: `PHONE_HOME_${verdict.toUpperCase()}`, message: `phone-home refused: the token is ${verdict}` } }), 'application/json')
      return
    }
    phoningHome.add(hash)
    try {
      let report: { addresses?: unknown, sshHostKey?: unknown } = {}
      try { report = JSON.parse(body.toString('utf8') || '{}') } catch { send(res, 400, '{"error":{"code":"BAD_REQUEST","message":"the body is not JSON"}}', 'application/json'); phoningHome.delete(hash); return }
      const addresses = Array.isArray(report.addresses) ? report.addresses.filter((a): a is string => typeof a === 'string' && a.length <= 64 && /^[0-9a-fA-F:.]+$/.test(a)).slice(0, 32) : []
      if (addresses.length === 0) addresses.push(ip.replace(/^::ffff:/, ''))
      const sshHostKey = typeof report.sshHostKey === 'string' && /^[a-z0-9-]+ [A-Za-z0-9+/=]+( [^\n]{0,200})?$/.test(report.sshHostKey) ? report.sshHostKey : undefined
      await state.write(`phonehome/${hash}`, { ...stored, usedAt: Date.now() })
      await inventory.transition(stored.mac, 'installed', { addresses, sshHostKey })
      log.info({ host: stored.mac, ip }, 'host phoned home: installed')
      send(res, 200, JSON.stringify({ ok: true, host: stored.mac }), 'application/json')
    } finally {
      // the used record is in state now; the in-memory guard covers the moment before
      setTimeout(() => phoningHome.delete(hash), 60_000).unref()
    }
  }

  const artifact = async (req: IncomingMessage, res: ServerResponse, ref: string): Promise<void> => {
    if (req.method !== 'GET' && req.method !== 'HEAD') { res.writeHead(405, { allow: 'GET, HEAD' }).end(); return }
    let cid = ref
    try { cid = init.artifacts.resolveName(ref) } catch { /* a CID */ }
    let found
    try {
      found = await init.artifacts.cat(cid, { signal: AbortSignal.timeout(120_000) })
    } catch {
      send(res, 404, `no artifact ${ref}\n`)
      return
    }
    res.writeHead(200, { 'content-type': 'application/octet-stream', 'content-length': String(found.size) })
    if (req.method === 'HEAD') { res.end(); await found.body.return(undefined); return }
    await pipeline(found.body, res)
  }

  return {
    script,
    owns: path => path.startsWith('/installer/') || path === '/phone-home' || path.startsWith('/artifacts/'),
    handle: async (req, res, url, ip, base) => {
      if (url.pathname === '/phone-home') { await phoneHomeRoute(req, res, ip); return }
      if (url.pathname.startsWith('/artifacts/')) { await artifact(req, res, decodeURIComponent(url.pathname.slice('/artifacts/'.length))); return }
      const [, , mac, kind] = url.pathname.split('/')
      if (req.method !== 'GET' || mac == null || !/^([0-9a-f]{2}-){5}[0-9a-f]{2}$/i.test(mac) || kind == null) { send(res, 404, 'not found\n'); return }
      await installer(res, hostId(mac), kind, base)
    }
  }
}
