/**
 * The operator's provisioning surface over replicated state: profiles and groups (checked at
 * write time — templates by line and reason, groups against ties with the whole set), the
 * host inventory and its lifecycle, authorized SSH keys per dc or tag, and the per-dc general
 * SSH key pair whose private half is sealed to the SSH distributors of that dc.
 */
import { generateKeyPair as generateSshKeyPair } from '../roles/distributor/ssh/index.js'
import { parseGroup, parseProfile, validateGroups } from '../roles/scripts/index.js'
import { seal } from '../protocols/seal/index.js'
import { HttpError } from './control/errors.js'
import { hasRole } from './roles.js'
import { loadGroups, loadProfiles } from './scripts.js'
import type { StateService } from '../protocols/state/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { Group, Profile } from '../roles/scripts/index.js'
import { hostId } from './hosts.js'
import { listDcs, putDc } from './external.js'
import type { DcRecord } from './external.js'
import type { HostFactsRecord, HostInventory, HostStatus, HostView } from './hosts.js'
import type { AuthorizedKey } from './scripts.js'

export interface DcKeyRecord { dc: string, publicKey: string, fingerprint: string, sealed: unknown, recipients: string[], createdAt: number, by: string }

export interface ProvisionApi {
  profiles: () => Profile[]
  profile: (name: string) => Profile
  putProfile: (input: unknown) => Promise<Profile>
  deleteProfile: (name: string) => Promise<void>
  groups: () => Group[]
  group: (name: string) => Group
  putGroup: (input: unknown) => Promise<Group>
  deleteGroup: (name: string) => Promise<void>
  hosts: () => HostView[]
  host: (id: string) => HostView
  reprovision: (id: string) => Promise<HostView>
  /** Adds or updates a host the operator knows (one that was not network-booted here). */
  putHost: (id: string, facts: HostFactsRecord, status?: HostStatus) => Promise<HostView>
  keys: () => Array<AuthorizedKey & { id: string }>
  addKey: (id: string, key: AuthorizedKey) => Promise<void>
  removeKey: (id: string) => Promise<void>
  dcKeys: () => Array<Omit<DcKeyRecord, 'sealed'>>
  generateDcKey: (dc: string) => Promise<Omit<DcKeyRecord, 'sealed'>>
  dcs: () => Array<Omit<DcRecord, 'token'>>
  putDc: (name: string, input: unknown) => Promise<Omit<DcRecord, 'token'>>
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/

/** A role error (`code`, maybe `line`/`reason`/`template`) as an API error with the details in the message. */
function refused (err: unknown, fallback: string): never {
  const e = err as { code?: string, message?: string, line?: number, reason?: string, template?: string, groups?: string[] }
  if (e.code === 'ERR_SCRIPTS_GROUP_TIE') throw new HttpError('GROUP_TIE', e.message ?? 'groups tie')
  if (typeof e.code === 'string' && e.code.startsWith('ERR_TEMPLATE')) {
    throw new HttpError('TEMPLATE_INVALID', `${e.template ?? 'template'}, line ${e.line ?? '?'}: ${e.reason ?? e.message}`)
  }
  if (typeof e.code === 'string' && e.code.startsWith('ERR_')) throw new HttpError(fallback, e.message ?? fallback)
  throw err
}

export function provisionApi (c: { self: string, state: StateService, inventory: HostInventory, registry: MemberRegistry }): ProvisionApi {
  const { state, inventory } = c
  const profiles = (): Profile[] => [...loadProfiles(state).values()].sort((a, b) => a.name.localeCompare(b.name))
  const groups = (): Group[] => loadGroups(state).sort((a, b) => a.name.localeCompare(b.name))
  const checkName = (name: string, what: string): string => {
    if (!NAME.test(name)) throw new HttpError('BAD_REQUEST', `${what} names are letters, digits, . _ - (at most 64)`)
    return name
  }
  const publicView = (r: DcKeyRecord): Omit<DcKeyRecord, 'sealed'> => { const { sealed: _sealed, ...rest } = r; return rest }
  return {
    profiles,
    profile: name => {
      const p = loadProfiles(state).get(name)
      if (p == null) throw new HttpError('NOT_FOUND', `no profile ${name}`)
      return p
    },
    putProfile: async input => {
      let p: Profile
      try { p = parseProfile(input) } catch (err) { refused(err, 'PROFILE_INVALID') }
      await state.write(`profiles/${p.name}`, input)
      return p
    },
    deleteProfile: async name => {
      checkName(name, 'profile')
      const users = groups().filter(g => g.profile === name).map(g => g.name)
      if (users.length > 0) throw new HttpError('PROFILE_IN_USE', `profile ${name} is used by group(s) ${users.join(', ')}`)
      if (state.store.get(`profiles/${name}`) == null) throw new HttpError('NOT_FOUND', `no profile ${name}`)
      await state.delete(`profiles/${name}`)
    },
    groups,
    group: name => {
      const g = groups().find(x => x.name === name)
      if (g == null) throw new HttpError('NOT_FOUND', `no group ${name}`)
      return g
    },
    putGroup: async input => {
      let g: Group
      try {
        g = parseGroup(input)
        validateGroups([...groups().filter(x => x.name !== g.name), g], { profiles: profiles().map(p => p.name) })
      } catch (err) { refused(err, 'GROUP_INVALID') }
      await state.write(`groups/${g.name}`, input)
      return g
    },
    deleteGroup: async name => {
      checkName(name, 'group')
      if (state.store.get(`groups/${name}`) == null) throw new HttpError('NOT_FOUND', `no group ${name}`)
      // removing a group that covered two others can make them tie
      try { validateGroups(groups().filter(x => x.name !== name)) } catch (err) { refused(err, 'GROUP_INVALID') }
      await state.delete(`groups/${name}`)
    },
    hosts: () => inventory.list(),
    host: id => {
      const h = inventory.get(id)
      if (h == null) throw new HttpError('NOT_FOUND', `no host ${id}`)
      return h
    },
    reprovision: async id => {
      const h = inventory.get(id)
      if (h == null) throw new HttpError('NOT_FOUND', `no host ${id}`)
      await inventory.transition(h.id, 'reprovision')
      return inventory.get(h.id) as HostView
    },
    putHost: async (id, facts, status) => {
      if (!/^([0-9a-f]{2}[-:]){5}[0-9a-f]{2}$/i.test(id) && !/^[a-z][a-z0-9-]{0,62}$/.test(id)) throw new HttpError('BAD_REQUEST', 'a host id is its MAC address or a name of lowercase letters, digits and -')
      const key = hostId(id)
      await state.write(`hosts/${key}`, { ...state.store.get<HostFactsRecord>(`hosts/${key}`), ...facts })
      if (status != null && inventory.get(key)?.status !== status) await inventory.transition(key, status)
      return inventory.get(key) as HostView
    },
    keys: () => state.store.list<AuthorizedKey>('keys/authorized/').map(({ key, value }) => ({ id: key.slice('keys/authorized/'.length), ...value })),
    addKey: async (id, key) => {
      checkName(id, 'key')
      if (!/^(ssh-ed25519|ssh-rsa|ecdsa-sha2-nistp(256|384|521)|sk-ssh-ed25519@openssh\.com) [A-Za-z0-9+/=]{16,}( [^\n]{0,200})?$/.test(key.key.trim())) throw new HttpError('BAD_REQUEST', 'not an OpenSSH public key line')
      await state.write(`keys/authorized/${id}`, { ...key, key: key.key.trim() })
    },
    removeKey: async id => {
      if (state.store.get(`keys/authorized/${id}`) == null) throw new HttpError('NOT_FOUND', `no key ${id}`)
      await state.delete(`keys/authorized/${id}`)
    },
    dcs: () => listDcs(state),
    putDc: async (name, input) => await putDc(c, name, input),
    dcKeys: () => state.store.list<DcKeyRecord>('keys/dc/').map(({ value }) => publicView(value)),
    generateDcKey: async dc => {
      checkName(dc, 'dc')
      // the SSH distributors of that dc: agents tagged dc=<dc> with role ssh, that published a sealing key
      const recipients = c.registry.members()
        .filter(m => m.tags.dc === dc && hasRole(m.tags, 'ssh'))
        .map(m => ({ id: m.peerId, publicKey: state.store.get<{ publicKey: string }>(`sealkeys/${m.peerId}`)?.publicKey }))
        .filter((r): r is { id: string, publicKey: string } => r.publicKey != null)
      if (recipients.length === 0) throw new HttpError('NO_RECIPIENTS', `no agent tagged dc=${dc} and role=ssh has published a sealing key: the private key would have nobody to open it`)
      const pair = generateSshKeyPair({ comment: `ctpf-${dc}` })
      // the private half exists in plaintext only here, in memory, until it is sealed
      const sealed = seal(pair.privateKey, recipients, { aad: `ctpf:dc-key:${dc}` })
      pair.privateKey.fill(0)
      const record: DcKeyRecord = { dc, publicKey: pair.publicKey, fingerprint: pair.fingerprint, sealed, recipients: recipients.map(r => r.id), createdAt: Date.now(), by: c.self }
      await state.write(`keys/dc/${dc}`, record)
      return publicView(record)
    }
  }
}
