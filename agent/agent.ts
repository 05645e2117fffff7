/**
 * The agent: the one place that wires store, membership, libp2p and the control endpoint.
 *
 * @example
 * const agent = await Agent.start(loadConfig({ dataDir: '/var/lib/ctpf' }), logger)
 * console.info(agent.status())
 * await agent.stop()
 */
import { createHash } from 'node:crypto'
import { join } from 'node:path'
import { peerIdFromPrivateKey, peerIdFromString } from '@libp2p/peer-id'
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { multiaddr } from '@multiformats/multiaddr'
import { Emitter } from '../protocols/events.js'
import {
  MembershipService, ROOT_ISSUER, TokenForeignMeshError, JoinFailedError,
  decodeToken, meshIdFromRoot, membershipKey, requestJoin, signRecord, verifyToken
} from '../protocols/membership/index.js'
import { toBase64url } from '../protocols/codec.js'
import { openStore } from '../store/index.js'
import { createControlServer } from './control/server.js'
import { AddressInUseError, AgentError } from './errors.js'
import {
  createRootKey, ensureDataDir, files, loadControlToken, loadIdentity, loadSealKey, readMeshFile,
  removeControlUrl, writeControlUrl, writeMeshFile
} from './datadir.js'
import { createNode, listenThroughRelays } from './node.js'
import { startReplication } from './replication.js'
import { migrateLegacyMembers, openMeshState } from './mesh-state.js'
import type { MeshState } from './mesh-state.js'
import { startDistributor } from './distributor.js'
import { startArtifacts } from './artifacts.js'
import { startMediaRoles } from './media.js'
import { startSshRoles } from './ssh-roles.js'
import { startOverlay } from './overlay.js'
import { startExternalRegistries } from './external.js'
import type { Overlay } from './overlay.js'
import { HostInventory, startRegistry } from './hosts.js'
import { scriptsAnswerer } from './scripts.js'
import { provisionApi } from './provision.js'
import { clustersApi } from './control/clusters.js'
import { sealPublicKey } from '../protocols/seal/index.js'
import { hasRole } from './roles.js'
import type { Artifacts } from '../protocols/artifacts/index.js'
import type { Distributor } from '../roles/distributor/index.js'
import type { Replication } from './replication.js'
import type { AgentNode } from './node.js'
import type { ControlApi, JobView, JobsApi, PeerView, StatusView } from './control/api.js'
import type { AgentConfig } from './config.js'
import type { Member, MemberRecord, MemberRegistry, Tags, TagsRecord } from '../protocols/membership/index.js'
import type { Store, Sublevel } from '../store/index.js'
import type { PrivateKey } from '@libp2p/interface'
import type { Logger } from 'pino'

export const VERSION = '0.1.0'
/** How long a member may stay unconnected before it is dialled through a member relay. */
const RELAY_DIAL_AFTER_MS = 12_000

export interface AgentEvents {
  'peer:connect': { peerId: string }
  'peer:disconnect': { peerId: string }
  'member:joined': Member
  'member:updated': Member
  'member:revoked': { peerId: string, issuer: string }
  'job:submitted': { id: string, kind: string }
  'job:claimed': { id: string, peer: string }
  'job:finished': { id: string, status: string }
  'host:status': { id: string, status: string, at: number, by: string, profile?: string, addresses?: string[] }
}

export type StartMode = 'founded' | 'joined' | 'resumed'

interface Mesh { meshId: string, root: string, registry: MemberRegistry, state: MeshState }

/** Founds a mesh in a data directory without starting anything (`ctpf init`). */
export async function foundMesh (dataDir: string, store: Store, identity: PrivateKey, tags: Tags): Promise<Mesh> {
  const rootKey = await createRootKey(dataDir)
  const rootRaw = rootKey.publicKey.raw
  const meshId = meshIdFromRoot(rootRaw)
  const peerId = peerIdFromPrivateKey(identity).toString()
  const state = await openMeshState({ db: store, meshId, rootKey: rootKey.publicKey, self: peerId, privateKey: identity })
  const { registry } = state
  const now = Date.now()
  const self = await signRecord<MemberRecord>({ type: 'member', mesh: meshId, peer: peerId, tags: {}, caps: ['admin'], issuer: ROOT_ISSUER, issuedAt: now }, rootKey)
  const selfTags = await signRecord<TagsRecord>({ type: 'tags', mesh: meshId, peer: peerId, tags, issuedAt: now }, identity)
  for (const r of [self, selfTags]) {
    await registry.apply(r, { silent: true })
    await state.store.write(membershipKey(r), r)
  }
  const root = toBase64url(rootRaw)
  writeMeshFile(dataDir, { meshId, root, bootstrap: [] })
  return { meshId, root, registry, state }
}

export class Agent {
  readonly events = new Emitter<AgentEvents>()
  readonly peerId: string
  readonly mode: StartMode
  controlUrl = ''
  readonly #config: AgentConfig
  readonly #log: Logger
  readonly #store: Store
  readonly #node: AgentNode
  readonly #mesh: Mesh
  readonly #membership: MembershipService
  readonly #replication: Replication
  readonly #blocked: Set<string>
  readonly #distributor?: Distributor
  readonly #artifacts: Artifacts
  readonly #addrs: Sublevel<string[]>
  #control?: { close: () => Promise<void> }
  #stopping?: Promise<void>

  readonly #inventory: HostInventory
  #overlay?: Overlay
  readonly #stopRegistry?: () => void

  private constructor (parts: { config: AgentConfig, log: Logger, store: Store, node: AgentNode, mesh: Mesh, membership: MembershipService, replication: Replication, mode: StartMode, addrs: Sublevel<string[]>, blocked: Set<string>, distributor?: Distributor, artifacts: Artifacts, inventory: HostInventory, stopRegistry?: () => void }) {
    this.#inventory = parts.inventory
    this.#stopRegistry = parts.stopRegistry
    this.#config = parts.config
    this.#log = parts.log
    this.#store = parts.store
    this.#node = parts.node
    this.#mesh = parts.mesh
    this.#membership = parts.membership
    this.#replication = parts.replication
    this.#blocked = parts.blocked
    this.#distributor = parts.distributor
    this.#artifacts = parts.artifacts
    this.#addrs = parts.addrs
    this.mode = parts.mode
    this.peerId = parts.node.peerId.toString()
  }

  static async start (config: AgentConfig, log: Logger): Promise<Agent> {
    ensureDataDir(config.dataDir)
    const identity = await loadIdentity(config.dataDir)
    const store = await openStore(join(config.dataDir, files.db))
    try {
      return await Agent.#startWith(config, log, identity, store)
    } catch (err) {
      await store.close().catch(() => {})
      throw err
    }
  }

  static async #startWith (config: AgentConfig, log: Logger, identity: PrivateKey, store: Store): Promise<Agent> {
    const selfId = peerIdFromPrivateKey(identity).toString()
    let meshFile = readMeshFile(config.dataDir)
    let mode: StartMode = 'resumed'
    let mesh: Mesh | undefined

    if (meshFile != null) {
      const state = await openMeshState({ db: store, meshId: meshFile.meshId, rootKey: publicKeyFromRaw(fromB64(meshFile.root)), self: selfId, privateKey: identity })
      mesh = { meshId: meshFile.meshId, root: meshFile.root, registry: state.registry, state }
      if (config.join != null) {
        const token = decodeToken(config.join)
        if (token.payload.mesh !== meshFile.meshId) throw new TokenForeignMeshError(token.payload.mesh, meshFile.meshId)
        if (mesh.registry.isMember(selfId)) log.warn('already a member of this mesh: the join token is not used')
      }
    } else if (config.join == null) {
      mesh = await foundMesh(config.dataDir, store, identity, config.tags)
      mode = 'founded'
    }

    // the gate reads the registry through this indirection: before a join there is none
    let registry: MemberRegistry | undefined = mesh?.registry
    let refused = 0
    const blocked = new Set<string>()
    const node = await createNode({
      privateKey: identity,
      listen: [...config.listen],
      announce: [...config.announce],
      relayServer: config.tags.relay === 'true' || mesh?.registry.member(selfId)?.tags.relay === 'true',
      admission: {
        isMember: peer => registry?.isMember(peer) === true,
        isRevoked: peer => registry?.isRevoked(peer) === true,
        isBlocked: peer => blocked.has(peer),
        onRefused: () => { refused++ }
      }
    })
    try {
      await node.start()
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'EADDRINUSE' || /EADDRINUSE/.test(String((err as Error).message))) throw new AddressInUseError('the mesh transport', config.listen.join(', '), err)
      throw new AgentError('LISTEN_FAILED', `the mesh transport could not listen on ${config.listen.join(', ')}: ${(err as Error).message}`, { cause: err })
    }

    try {
      if (mesh == null || (config.join != null && !mesh.registry.isMember(selfId))) {
        mesh = await Agent.#join(config, log, identity, store, node, mesh)
        meshFile = readMeshFile(config.dataDir)
        mode = 'joined'
      }
      registry = mesh.registry
      if (!registry.isMember(selfId)) {
        throw new AgentError(registry.isRevoked(selfId) ? 'SELF_REVOKED' : 'NOT_A_MEMBER', registry.isRevoked(selfId)
          ? 'this agent was revoked from its mesh; it cannot rejoin with this identity'
          : 'this agent holds no valid membership of its mesh (join with an invite token)')
      }
      const replication = await startReplication({ self: selfId, meshId: mesh.meshId, mesh: mesh.state, node, log, testHooks: config.testHooks })
      const membership = new MembershipService({
        peerId: selfId,
        privateKey: identity,
        registry,
        nonces: store.sublevel<number>('invite-nonces'),
        libp2p: node,
        write: async (key, record) => { await replication.state.write(key, record) },
        snapshot: () => replication.state.store.list('members/').map(e => e.record),
        logger: log.child({ component: 'membership' })
      })
      Object.defineProperty(membership.metrics, 'refusedStreams', { get: () => refused, enumerable: true })
      await membership.start()
      const migrated = await migrateLegacyMembers(mesh.state, selfId, async (key, r) => { await replication.state.write(key, r) })
      if (migrated > 0) log.info({ records: migrated }, 'membership records of an older data directory moved into replicated state')
      const artifacts = await startArtifacts({ self: selfId, dataDir: config.dataDir, quotaBytes: config.artifactQuotaBytes, corruptServedBlocks: config.testCorruptBlocks, db: store, node, replication, log })
      const selfTags = registry.member(selfId)?.tags ?? config.tags
      const inventory = new HostInventory(replication.state, selfId)
      const meshId = mesh.meshId
      const meshRoot = mesh.root
      const answerer = hasRole(selfTags, 'scripts')
        ? (dc: string) => scriptsAnswerer({ dc, meshId, state: replication.state, artifacts, inventory, log: log.child({ component: 'role:scripts' }) })
        : undefined
      const distributor = config.distributor != null ? await startDistributor(config.distributor, { db: store, state: replication.state, registry, artifacts, log, answerer }) : undefined
      const stopRegistry = hasRole(selfTags, 'registry') ? startRegistry(inventory, replication.state, log.child({ component: 'role:registry' })) : undefined
      const agent = new Agent({ config, log, store, node, mesh, membership, replication, mode, addrs: store.sublevel<string[]>('peer-addrs'), blocked, distributor, artifacts, inventory, stopRegistry })
      await agent.#wire(meshFile?.bootstrap ?? [])
      // roles by the agent's tags as the mesh sees them (granted ones win); a change of tags
      // takes effect at the next start
      const tagsNow = registry.member(selfId)?.tags ?? config.tags
      await startMediaRoles({ tags: tagsNow, jobs: replication.jobs, state: replication.state, artifacts, dataDir: config.dataDir, log })
      agent.#overlay = await startOverlay({
        self: selfId, meshId, tags: tagsNow, config: { enabled: config.overlay?.enabled ?? true, ...config.overlay }, node, state: replication.state, registry, jobs: replication.jobs,
        sign: async data => await identity.sign(data),
        log: log.child({ component: 'overlay' })
      })
      if (hasRole(tagsNow, 'registry')) {
        startExternalRegistries({
          self: selfId, meshId, state: replication.state, jobs: replication.jobs, inventory, sealKey: loadSealKey(config.dataDir),
          createInvite: async init => await membership.createInvite({ ...init, addrs: node.getMultiaddrs().map(a => a.toString()) }, meshRoot),
          log: log.child({ component: 'role:registry' })
        })
      }
      if (hasRole(tagsNow, 'ssh')) {
        await startSshRoles({
          self: selfId, tags: tagsNow, dataDir: config.dataDir, overlayRange: config.overlay?.range, jobs: replication.jobs, state: replication.state, inventory, artifacts, registry,
          createInvite: async init => await membership.createInvite({ ...init, addrs: node.getMultiaddrs().map(a => a.toString()) }, meshRoot),
          log: log.child({ component: 'role:ssh' })
        })
      }
      listenThroughRelays(node, config.listen)
      return agent
    } catch (err) {
      await Promise.resolve(node.stop()).catch(() => {})
      throw err
    }
  }

  static async #join (config: AgentConfig, log: Logger, identity: PrivateKey, store: Store, node: AgentNode, existing: Mesh | undefined): Promise<Mesh> {
    const text = config.join as string
    const token = decodeToken(text)
    await verifyToken(token)
    const { payload } = token
    const selfId = node.peerId.toString()
    const tags = await signRecord<TagsRecord>({ type: 'tags', mesh: payload.mesh, peer: selfId, tags: { ...config.tags }, issuedAt: Date.now() }, identity)
    log.info({ mesh: payload.mesh, inviter: payload.inviter }, 'joining mesh')
    const outcome = await requestJoin(node, text, tags)
    const state = existing?.state ?? await openMeshState({ db: store, meshId: payload.mesh, rootKey: publicKeyFromRaw(fromB64(payload.root)), self: selfId, privateKey: identity })
    // the members' records arrive as state records: verified (chains and signatures) and
    // persisted before the mesh file says this agent belongs to the mesh
    await state.store.applyMany(await state.store.verifyMany(outcome.records))
    const { registry } = state
    if (!registry.isMember(selfId)) throw new JoinFailedError('JOIN_INCOMPLETE', 'the inviter answered but sent no valid membership record for this agent')
    writeMeshFile(config.dataDir, { meshId: payload.mesh, root: payload.root, bootstrap: payload.addrs })
    // the connection was opened as a non-member, so both sides refused identify, kad and
    // gossipsub on it; a fresh connection (dialled again in #wire) runs them as members
    await Promise.resolve(node.hangUp(peerIdFromString(outcome.inviter))).catch(() => {})
    return { meshId: payload.mesh, root: payload.root, registry, state }
  }

  async #wire (bootstrap: string[]): Promise<void> {
    const node = this.#node
    const registry = this.#mesh.registry
    node.addEventListener('peer:connect', evt => { this.events.emit('peer:connect', { peerId: evt.detail.toString() }) })
    node.addEventListener('peer:disconnect', evt => { this.events.emit('peer:disconnect', { peerId: evt.detail.toString() }) })
    node.addEventListener('peer:identify', evt => {
      const peer = evt.detail.peerId.toString()
      if (!registry.isMember(peer)) return
      const addrs = evt.detail.listenAddrs.map(a => a.toString())
      if (addrs.length > 0) this.#addrs.put(peer, addrs).catch(() => {})
    })
    registry.on('member:joined', m => { this.events.emit('member:joined', m) })
    registry.on('member:updated', m => { this.events.emit('member:updated', m) })
    registry.on('member:revoked', r => { this.events.emit('member:revoked', r) })
    const { jobs } = this.#replication
    // every lifecycle transition of a host, as it reaches this agent
    this.#replication.state.store.watch('hostevents/', r => {
      const e = r.value as { status: string, at: number, by: string, profile?: string, addresses?: string[] } | null
      if (e != null) this.events.emit('host:status', { id: r.key.split('/')[1], status: e.status, at: e.at, by: e.by, profile: e.profile, addresses: e.addresses })
    })
    jobs.on('job:submitted', e => { this.events.emit('job:submitted', e) })
    jobs.on('job:claimed', e => { this.events.emit('job:claimed', e) })
    jobs.on('job:finished', e => { this.events.emit('job:finished', e) })

    // publish this agent's sealing key (secrets for it are sealed to it)
    const sealPublic = sealPublicKey(loadSealKey(this.#config.dataDir))
    if (this.#replication.state.store.get<{ publicKey: string }>(`sealkeys/${this.peerId}`)?.publicKey !== sealPublic) {
      await this.#replication.state.write(`sealkeys/${this.peerId}`, { publicKey: sealPublic })
    }
    const self = registry.member(this.peerId)
    if (this.#config.tagsGiven && self != null && !sameTags(this.#selfDeclaredTags(), this.#config.tags)) {
      await this.#membership.setSelfTags({ ...this.#config.tags })
    }

    this.#control = await createControlServer({
      api: this.#api(),
      token: loadControlToken(this.#config.dataDir),
      host: this.#config.control.host,
      port: this.#config.control.port,
      logger: this.#log.child({ component: 'control' })
    })
    this.controlUrl = (this.#control as unknown as { url: string }).url
    writeControlUrl(this.#config.dataDir, this.controlUrl)
    void this.#dialKnown(bootstrap)
    // members we know but are not connected to are dialled again (a healed network, a peer
    // that restarted, a join whose first redial failed)
    // — the bootstrap addresses too: a joiner's first redial of its inviter can race the
    // closing of its join connection, and it knows no other address yet
    this.#redial = setInterval(() => { void this.#dialKnown(bootstrap) }, 5000)
    const retry = setTimeout(() => { void this.#dialKnown(bootstrap) }, 1000)
    retry.unref()
    this.#redial.unref()
  }

  #redial?: NodeJS.Timeout

  #selfDeclaredTags (): Tags {
    const rec = this.#mesh.registry.records().find(r => r.type === 'tags' && r.peer === this.peerId) as TagsRecord | undefined
    return rec?.tags ?? {}
  }

  /** Dials the bootstrap addresses and every member address remembered from earlier runs. */
  async #dialKnown (bootstrap: string[]): Promise<void> {
    const targets = new Set(bootstrap)
    for await (const [peer, addrs] of this.#addrs.entries()) {
      if (peer === this.peerId || !this.#mesh.registry.isMember(peer)) continue
      for (const a of addrs) targets.add(a.includes('/p2p/') ? a : `${a}/p2p/${peer}`)
    }
    const byPeer = new Map<string, string[]>()
    const connected = new Set(this.#node.getConnections().map(c => c.remotePeer.toString()))
    for (const t of targets) {
      const peer = t.split('/p2p/').pop() ?? ''
      if (peer === this.peerId || connected.has(peer) || !this.#mesh.registry.isMember(peer)) continue
      byPeer.set(peer, [...(byPeer.get(peer) ?? []), t])
    }
    const unreached = new Set<string>()
    await Promise.all([...byPeer.entries()].map(async ([peer, addrs]) => {
      for (const a of addrs) {
        try {
          await this.#node.dial(multiaddr(a), { signal: AbortSignal.timeout(10_000) })
          return
        } catch (err) {
          this.#log.debug({ addr: a, err }, 'could not dial known peer')
        }
      }
      unreached.add(peer)
    }))
    // members behind NAT have no address anyone can dial: once one has stayed out of reach for
    // a while (a fresh member usually connects directly within seconds), go through a relay
    const now = Date.now()
    for (const m of this.#mesh.registry.members()) {
      if (m.peerId === this.peerId || connected.has(m.peerId)) { this.#unreachedSince.delete(m.peerId); continue }
      const since = this.#unreachedSince.get(m.peerId) ?? now
      this.#unreachedSince.set(m.peerId, since)
      if (now - since < RELAY_DIAL_AFTER_MS) unreached.delete(m.peerId)
      else unreached.add(m.peerId)
    }
    await Promise.all([...unreached].map(async peer => { await this.#dialThroughRelay(peer) }))
  }

  readonly #relayTried = new Map<string, number>()
  readonly #unreachedSince = new Map<string, number>()

  /** Dials `<relay>/p2p-circuit/p2p/<peer>` through each connected member relay, at most every 30 s per peer. */
  async #dialThroughRelay (peer: string): Promise<void> {
    const last = this.#relayTried.get(peer) ?? 0
    if (Date.now() - last < 30_000) return
    this.#relayTried.set(peer, Date.now())
    const relays = this.#mesh.registry.members().filter(m => m.tags.relay === 'true' && m.peerId !== peer && m.peerId !== this.peerId)
    for (const relay of relays) {
      for (const c of this.#node.getConnections(peerIdFromString(relay.peerId))) {
        if (c.status !== 'open' || c.limits != null || c.remoteAddr.toString().includes('/p2p-circuit')) continue
        const base = c.remoteAddr.toString().includes('/p2p/') ? c.remoteAddr.toString() : `${c.remoteAddr.toString()}/p2p/${relay.peerId}`
        try {
          await this.#node.dial(multiaddr(`${base}/p2p-circuit/p2p/${peer}`), { signal: AbortSignal.timeout(10_000) })
          return
        } catch (err) {
          this.#log.debug({ peer, relay: relay.peerId, err }, 'could not reach member through relay')
        }
      }
    }
  }

  status (): StatusView {
    const me = this.#mesh.registry.member(this.peerId)
    return {
      peerId: this.peerId,
      meshId: this.#mesh.meshId,
      tags: me?.tags ?? {},
      caps: me?.caps ?? [],
      addresses: this.#node.getMultiaddrs().map(a => a.toString()),
      version: VERSION
    }
  }

  peers (): PeerView[] {
    const registry = this.#mesh.registry
    const byPeer = new Map<string, PeerView>()
    for (const c of this.#node.getConnections()) {
      const peerId = c.remotePeer.toString()
      const relayed = c.limits != null || c.remoteAddr.toString().includes('/p2p-circuit')
      const prev = byPeer.get(peerId)
      const view: PeerView = prev ?? { peerId, path: relayed ? 'relayed' : 'direct', addresses: [], member: registry.isMember(peerId) }
      view.addresses.push(c.remoteAddr.toString())
      if (!relayed) view.path = 'direct'
      byPeer.set(peerId, view)
    }
    return [...byPeer.values()]
  }

  #api (): ControlApi {
    const registry = this.#mesh.registry
    return {
      status: () => this.status(),
      members: () => registry.members().map(m => ({ peerId: m.peerId, tags: m.tags, caps: m.caps })),
      peers: () => this.peers(),
      createInvite: async body => {
        const addrs = this.#node.getMultiaddrs().map(a => a.toString()).filter(a => !a.includes('/p2p-circuit/p2p/') || a.endsWith(this.peerId))
        const token = await this.#membership.createInvite({ ...body, addrs }, this.#mesh.root)
        return { token }
      },
      revoke: async peerId => { await this.#membership.revoke(peerId) },
      setTags: async tags => { await this.#membership.setSelfTags(tags) },
      metrics: () => this.metrics(),
      state: {
        list: prefix => this.#replication.state.store.list(prefix).map(({ key, record }) => ({ key, stamp: record.stamp, author: record.author })),
        digest: () => ({ records: this.#replication.state.store.size, digest: createHash('sha256').update(this.#replication.state.store.digests().join('')).digest('hex') })
      },
      testHooks: this.#config.testHooks
        ? {
            block: async peers => {
              this.#blocked.clear()
              for (const p of peers) this.#blocked.add(p)
              await Promise.all(peers.map(async p => { await Promise.resolve(this.#node.hangUp(peerIdFromString(p))).catch(() => {}) }))
              if (peers.length === 0) void this.#dialKnown([])
            }
          }
        : undefined,
      jobs: this.#jobsApi(),
      clusters: clustersApi({ self: this.peerId, state: this.#replication.state, dataDir: this.#config.dataDir }),
      provision: provisionApi({ self: this.peerId, state: this.#replication.state, inventory: this.#inventory, registry: this.#mesh.registry }),
      artifacts: this.#artifacts,
      events: this.events,
      net: () => this.#overlay
    }
  }

  metrics (): Record<string, number> {
    const { state, jobs, counters } = this.#replication
    const prefixed = (p: string, o: object): Record<string, number> => Object.fromEntries(Object.entries(o).filter(([, v]) => typeof v === 'number').map(([k, v]) => [`${p}${k[0].toUpperCase()}${k.slice(1)}`, v as number]))
    return {
      ...this.#membership.metrics,
      ...prefixed('state', state.metrics),
      ...prefixed('stateRefused', state.store.refused),
      stateRecords: state.store.size,
      ...prefixed('jobs', jobs.metrics),
      probeRuns: counters.probeRuns,
      ...prefixed('dhcp', this.#distributor?.dhcp?.metrics ?? {}),
      ...prefixed('tftp', this.#distributor?.tftp?.metrics ?? {}),
      ...prefixed('dns', this.#distributor?.dns?.metrics ?? {}),
      ...prefixed('httpBoot', this.#distributor?.http.metrics ?? {}),
      ...prefixed('artifacts', this.#artifacts.metrics),
      ...prefixed('overlay', this.#overlay?.metrics() ?? {})
    }
  }

  #jobsApi (): JobsApi {
    const { jobs, state } = this.#replication
    const finished = (id: string): boolean => { const s = jobs.get(id)?.status; return s === 'succeeded' || s === 'failed' || s === 'cancelled' }
    return {
      submit: async body => ({ id: (await jobs.submit(body)).id }),
      list: () => jobs.list(),
      get: id => jobs.get(id),
      cancel: async id => { await jobs.cancel(id); return jobs.get(id) as JobView },
      logs: id => jobs.logs(id),
      isFinished: finished,
      onLog: (id, fn) => jobs.on('job:log', l => { if (l.id === id) fn(l) }),
      onFinished: (id, fn) => state.store.watch(`jobs/${id}`, () => { if (finished(id)) fn() })
    }
  }

  /** Closes the control endpoint, the mesh connections and the store. Safe to call twice. */
  async stop (): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#redial)
      this.#stopRegistry?.()
      await this.#overlay?.stop().catch(err => { this.#log.warn({ err }, 'overlay did not stop cleanly') })
      removeControlUrl(this.#config.dataDir)
      await this.#control?.close().catch(err => { this.#log.warn({ err }, 'control endpoint did not close cleanly') })
      await this.#distributor?.stop().catch(err => { this.#log.warn({ err }, 'distributor did not stop cleanly') })
      await this.#artifacts.stop().catch(() => {})
      await this.#replication.stop().catch(() => {})
      await this.#membership.stop().catch(() => {})
      await Promise.resolve(this.#node.stop()).catch((err: unknown) => { this.#log.warn({ err }, 'libp2p did not stop cleanly') })
      await this.#store.close()
    })()
    await this.#stopping
  }
}

function sameTags (a: Tags, b: Tags): boolean {
  const ka = Object.keys(a).sort()
  const kb = Object.keys(b).sort()
  return ka.length === kb.length && ka.every((k, i) => k === kb[i] && a[k] === b[k])
}

function fromB64 (s: string): Uint8Array {
  return new Uint8Array(Buffer.from(s, 'base64url'))
}
