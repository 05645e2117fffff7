import { execFile } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { promisify } from 'node:util'
import { describe, expect, it } from 'vitest'

const run = promisify(execFile)
const UNIT = 'scripts/systemd/ctpf-agent.service'

describe('the systemd unit', () => {
  it('is a valid unit that gives the agent the capabilities it needs, ambient, and nothing else', async () => {
    // systemd's own checker: unknown keys, bad values and a missing ExecStart binary fail it
    const { stderr } = await run('systemd-analyze', ['verify', UNIT])
    expect(stderr).toBe('')
    const text = readFileSync(UNIT, 'utf8')
    const value = (key: string): string[] => [...text.matchAll(new RegExp(`^${key}=(.*)$`, 'gm'))].map(m => m[1])
    expect(value('AmbientCapabilities')[0]?.split(/\s+/).sort()).toEqual(['CAP_NET_ADMIN', 'CAP_NET_BIND_SERVICE', 'CAP_NET_RAW'])
    expect(value('CapabilityBoundingSet')).toEqual(value('AmbientCapabilities'))
    expect(value('User')).toEqual(['ctpf'])
    expect(value('NoNewPrivileges')).toEqual(['true'])
    expect(value('ExecStart')[0]).toMatch(/ctpf\.mjs agent --data-dir \/var\/lib\/ctpf$/)
  })
})
