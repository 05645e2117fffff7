import { execFileSync } from 'node:child_process'
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { runCli, startAgent, tempDir, waitFor } from '../helpers/agents.js'
import { FakeHetzner } from '../helpers/fake-hetzner.js'
import type { RunningAgent } from '../helpers/agents.js'

const API_TOKEN = 'hz-project-token-0123456789abcdefghijklmnop'

/** Every file under a directory that contains `needle` (the token must be in none). */
function filesContaining (dir: string, needle: string): string[] {
  const hits: string[] = []
  for (const name of readdirSync(dir)) {
    const p = join(dir, name)
    if (statSync(p).isDirectory()) hits.push(...filesContaining(p, needle))
    else if (readFileSync(p).includes(needle)) hits.push(p)
  }
  return hits
}

describe('a Hetzner Cloud project as a virtual remote datacenter (against a local server with the documented endpoints)', () => {
  let fake: FakeHetzner
  let agent: RunningAgent
  const cli = async (...args: string[]): Promise<{ code: number | null, stdout: string, stderr: string }> => await runCli([...args, '--data-dir', agent.dir])

  beforeAll(async () => {
    fake = await FakeHetzner.start({ token: API_TOKEN })
    agent = await startAgent({ args: ['--tag', 'role=registry', '--tag', 'dc=lab'], env: { CTPF_LOG_LEVEL: 'debug' } })
    await waitFor(async () => (await agent.api('GET', '/state?prefix=sealkeys/')).body.length === 1, { what: 'the sealing key published' })
  }, 60_000)

  afterAll(async () => {
    await agent?.stop('SIGKILL')
    await fake?.stop()
  })

  it('adds the project with its API token sealed, creates a server that joins with an invite from a 0600 file, lists and deletes it', async () => {
    const tokenFile = join(tempDir(), 'hz.token')
    writeFileSync(tokenFile, API_TOKEN + '\n', { mode: 0o600 })
    const added = await cli('dc', 'add-hetzner', 'hz-nbg1', '--location', 'nbg1', '--token-file', tokenFile, '--endpoint', fake.url,
      '--agent-url', 'http://127.0.0.1:9/ctpf.mjs', '--agent-sha256', 'a'.repeat(64), '--json')
    expect(added.code, added.stderr).toBe(0)
    expect(JSON.parse(added.stdout).recipients).toHaveLength(1)

    const created = await cli('host', 'create', 'edge-1', '--dc', 'hz-nbg1', '--type', 'cx22', '--image', 'debian-12', '--json')
    expect(created.code, created.stderr + created.stdout).toBe(0)
    const job = JSON.parse(created.stdout)
    expect(job.result).toMatchObject({ id: 'hetzner-42', name: 'edge-1', status: 'installed' })
    const server = fake.servers.get(42)
    expect(server?.labels).toMatchObject({ 'ctpf-dc': 'hz-nbg1' })
    // the new agent joins with an invite token written to a root-only file, never on a command line
    const userData = JSON.parse((server?.userData ?? '').replace(/^#cloud-config\n/, ''))
    const tokenFiles = userData.write_files.filter((f: { content: string }) => /ctpf1\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+/.test(f.content))
    expect(tokenFiles.map((f: { path: string, permissions: string }) => [f.path, f.permissions])).toEqual([['/etc/ctpf/join-token', '0600']])
    expect(JSON.stringify(userData.runcmd ?? [])).not.toMatch(/ctpf1\./)

    const hosts = JSON.parse((await cli('host', 'ls', '--json')).stdout)
    expect(hosts).toEqual([expect.objectContaining({ id: 'hetzner-42', dc: 'hz-nbg1', hostname: 'edge-1', status: 'installed', addresses: expect.arrayContaining([server?.ipv4]) })])
    const dcs = JSON.parse((await cli('dc', 'ls', '--json')).stdout)
    expect(dcs.find((d: { name: string }) => d.name === 'hz-nbg1')).toMatchObject({ hosts: 1 })

    const synced = await cli('dc', 'sync', 'hz-nbg1', '--json')
    expect(JSON.parse(synced.stdout).result.hosts.map((h: { id: string }) => h.id)).toEqual(['hetzner-42'])

    const deleted = await cli('host', 'delete', 'hetzner-42', '--dc', 'hz-nbg1', '--json')
    expect(deleted.code, deleted.stderr + deleted.stdout).toBe(0)
    expect(fake.servers.size).toBe(0)
    await waitFor(async () => JSON.parse((await cli('host', 'ls', '--json')).stdout).length === 0, { what: 'the host record gone' })

    // the API token went over loopback, was sealed, and is nowhere on disk, in logs or in state
    expect(filesContaining(agent.dir, API_TOKEN)).toEqual([])
    expect(agent.stdout() + agent.stderr()).not.toContain(API_TOKEN)
    expect(execFileSync('ps', ['-eo', 'args'], { encoding: 'utf8' })).not.toContain(API_TOKEN)
  }, 90_000)

  it('a bad API token fails the job at once with the provider\'s refusal, and the token is not echoed', async () => {
    const tokenFile = join(tempDir(), 'bad.token')
    writeFileSync(tokenFile, 'wrong-token-0123456789', { mode: 0o600 })
    expect((await cli('dc', 'add-hetzner', 'hz-bad', '--location', 'fsn1', '--token-file', tokenFile, '--endpoint', fake.url, '--agent-url', 'http://127.0.0.1:9/a', '--agent-sha256', 'b'.repeat(64))).code).toBe(0)
    const r = await cli('host', 'create', 'edge-2', '--dc', 'hz-bad', '--json')
    expect(r.code).toBe(2)
    const job = JSON.parse(r.stdout)
    expect(job.status).toBe('failed')
    expect(job.error.code).toBe('ERR_HETZNER_UNAUTHORIZED')
    expect(r.stdout).not.toContain('wrong-token-0123456789')
  }, 60_000)
})
