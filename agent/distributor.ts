/**
 * Runs the distributor role when the agent's config has a `distributor` section: its lease
 * store in level, boot files from a directory, the DNS zone fed from replicated state
 * (members with a `name` tag, sighted hosts with a hostname), and every sighting written to
 * state under `sightings/<dc>/<mac>`.
 */
import { createDistributor, DirectoryFileSource, distributorConfigSchema, MemoryZoneSource } from '../roles/distributor/index.js'
import { LevelLeaseStore } from '../store/leases.js'
import { describeIssues } from './config.js'
import { ConfigError } from './errors.js'
import { artifactFileSource } from './artifacts.js'
import type { Distributor, FileSource, Sighting } from '../roles/distributor/index.js'
import type { Artifacts } from '../protocols/artifacts/index.js'
import type { MemberRegistry } from '../protocols/membership/index.js'
import type { BootAnswerer } from '../roles/distributor/index.js'
import type { StateService } from '../protocols/state/index.js'
import type { Store } from '../store/index.js'
import type { Logger } from 'pino'

function bootFiles (files: { dir?: string, names?: string }, artifacts: Artifacts): FileSource {
  const dir = files.dir != null ? new DirectoryFileSource(files.dir) : undefined
  if (files.names == null) return dir as FileSource
  return artifactFileSource(artifacts, files.names, dir)
}

/** How often an unchanged sighting of the same host is written again. */
const RESIGHT_MS = 60_000

export async function startDistributor (raw: unknown, c: { db: Store, state: StateService, registry: MemberRegistry, artifacts: Artifacts, log: Logger, answerer?: (dc: string) => BootAnswerer }): Promise<Distributor> {
  const parsed = distributorConfigSchema.safeParse(raw)
  if (!parsed.success) throw new ConfigError(`distributor config: ${describeIssues(parsed.error)}`)
  const config = parsed.data
  const zone = new MemoryZoneSource()
  const refreshZone = (): void => {
    const entries: Array<{ name: string, dc?: string, a: string[] }> = []
    for (const m of c.registry.members()) {
      const name = m.tags.name
      const ip = m.tags.ip
      if (name != null && ip != null && /^[a-z0-9-]{1,63}$/.test(name)) entries.push({ name, dc: m.tags.dc, a: [ip] })
    }
    for (const { value } of c.state.store.list<Sighting>('sightings/')) {
      if (value.hostname != null && value.ip != null && /^[a-z0-9-]{1,63}$/.test(value.hostname)) entries.push({ name: value.hostname, dc: value.dc, a: [value.ip] })
    }
    try { zone.replace(entries) } catch (err) { c.log.warn({ err }, 'DNS zone not refreshed') }
  }
  refreshZone()
  c.state.store.watch('sightings/', refreshZone)
  c.registry.on('member:updated', refreshZone)
  c.registry.on('member:joined', refreshZone)

  const distributor = createDistributor(config, {
    logger: c.log.child({ component: 'distributor', dc: config.dc }),
    leaseStore: new LevelLeaseStore(c.db.raw('dhcp-leases')),
    files: bootFiles(config.files, c.artifacts),
    zone,
    answerer: c.answerer?.(config.dc)
  })
  const lastWrite = new Map<string, { at: number, json: string }>()
  distributor.on('host:sighted', s => {
    const key = `sightings/${s.dc}/${s.mac.replace(/:/g, '-')}`
    const { at: _at, ...rest } = s
    const json = JSON.stringify(rest)
    const last = lastWrite.get(key)
    if (last != null && last.json === json && s.at - last.at < RESIGHT_MS) return
    lastWrite.set(key, { at: s.at, json })
    void c.state.write(key, s).catch(err => { c.log.warn({ err, host: s.mac }, 'sighting not recorded') })
  })
  await distributor.start()
  return distributor
}
