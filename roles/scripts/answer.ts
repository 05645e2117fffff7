/** The whole answer to a booting machine: pick its group and profile, render, or explain why not. */
import { bootScript, errorScript, type BootScriptInput } from './ipxe.js'
import { selectGroup } from './groups.js'
import type { Group, Profile } from './schema.js'

export interface BootRequest extends Omit<BootScriptInput, 'profile' | 'group'> {
  groups: Iterable<Group>
  profile: (name: string) => Profile | undefined
}

export interface BootAnswer {
  /** Always an iPXE script: the boot script, or an error script that retries. */
  script: string
  group?: string
  profile?: string
  /** Why the script is an error script (log it; the machine sees its message). */
  error?: Error
}

/** Never throws: every failure becomes an error script (a booting machine cannot show an HTTP error). */
export function bootAnswer (req: BootRequest): BootAnswer {
  const retry = (error: Error, extra: Partial<BootAnswer> = {}): BootAnswer =>
    ({ ...extra, error, script: errorScript(error.message, req.retrySeconds, { retryUrl: req.retryUrl }) })
  try {
    const group = selectGroup(req.groups, { ...req.host, arch: req.arch, platform: req.platform })
    if (group == null) return retry(new Error(`no group matches this machine (mac ${req.host.mac ?? 'unknown'}, arch ${req.arch}/${req.platform})`))
    const profile = req.profile(group.profile)
    if (profile == null) return retry(new Error(`group ${group.name} uses profile ${group.profile}, which does not exist`), { group: group.name })
    try {
      return { script: bootScript({ ...req, profile, group }), group: group.name, profile: profile.name }
    } catch (err) {
      return retry(err instanceof Error ? err : new Error(String(err)), { group: group.name, profile: profile.name })
    }
  } catch (err) {
    return retry(err instanceof Error ? err : new Error(String(err)))
  }
}
