import { execFile } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { invite, runCli, startAgent, tempDir, waitFor } from '../helpers/agents.js'
import type { RunningAgent } from '../helpers/agents.js'

const run = promisify(execFile)

/** Ports above 1024 so the test needs no privilege; the e2e boots use the real ones. */
function distributorConfig (dir: string, files: string, base: number): void {
  writeFileSync(join(dir, 'config.json'), JSON.stringify({
    distributor: {
      dc: 'lab',
      address: '127.0.0.1',
      files: { dir: files, names: 'boot/' },
      profile: { name: 'test', kernel: 'vmlinuz', initrd: 'initrd.img', cmdline: 'console=ttyS0' },
      http: { port: base },
      tftp: { port: base + 1 },
      dns: { port: base + 2, domain: 'mesh.internal' }
    }
  }))
}

describe('an agent with the distributor role', () => {
  let agent: RunningAgent
  let peer: RunningAgent
  const files = tempDir()
  const base = 20000 + Math.floor(Math.random() * 20000)
  const kernel = Buffer.alloc(300_000).map((_, i) => (i * 7) & 0xff)

  beforeAll(async () => {
    writeFileSync(join(files, 'vmlinuz'), kernel)
    writeFileSync(join(files, 'initrd.img'), 'initrd')
    mkdirSync(join(files, 'sub'))
    const dir = tempDir()
    distributorConfig(dir, files, base)
    agent = await startAgent({ dir, args: ['--tag', 'dc=lab', '--tag', 'name=alpha', '--tag', 'ip=127.0.0.1'] })
    peer = await startAgent({ joinToken: await invite(agent) })
  })
  afterAll(async () => { await Promise.all([agent?.stop('SIGKILL'), peer?.stop('SIGKILL')]) })

  it('answers iPXE: first a chain with the machine\'s identity, then the profile\'s script', async () => {
    const first = await (await fetch(`http://127.0.0.1:${base}/boot.ipxe`)).text()
    expect(first).toMatch(/^#!ipxe\n/)
    expect(first).toContain('boot.ipxe?mac=${mac:hexhyp}&uuid=${uuid}&buildarch=${buildarch}&platform=${platform}')
    const script = await (await fetch(`http://127.0.0.1:${base}/boot.ipxe?mac=52-54-00-aa-bb-cc&buildarch=x86_64&platform=efi`)).text()
    expect(script).toContain(`kernel http://127.0.0.1:${base}/files/vmlinuz console=ttyS0 initrd=initrd.img`)
    expect(script).toContain(`initrd http://127.0.0.1:${base}/files/initrd.img`)
    const bad = await fetch(`http://127.0.0.1:${base}/boot.ipxe?mac=not-a-mac`)
    expect(bad.status).toBe(200)
    expect(await bad.text()).toContain('retrying')
  })

  it('serves boot files over HTTP with ranges, and over TFTP with blksize', async () => {
    const whole = Buffer.from(await (await fetch(`http://127.0.0.1:${base}/files/vmlinuz`)).arrayBuffer())
    expect(whole.equals(kernel)).toBe(true)
    const part = await fetch(`http://127.0.0.1:${base}/files/vmlinuz`, { headers: { range: 'bytes=1000-1999' } })
    expect(part.status).toBe(206)
    expect(Buffer.from(await part.arrayBuffer()).equals(kernel.subarray(1000, 2000))).toBe(true)
    expect((await fetch(`http://127.0.0.1:${base}/files/vmlinuz`, { headers: { range: 'bytes=999999-' } })).status).toBe(416)
    expect((await fetch(`http://127.0.0.1:${base}/files/../../etc/passwd`)).status).toBe(404)
    expect((await fetch(`http://127.0.0.1:${base}/files/%2e%2e/%2e%2e/etc/passwd`)).status).toBe(404)
    expect((await fetch(`http://127.0.0.1:${base}/files/missing`)).status).toBe(404)
    const out = join(tempDir(), 'k')
    await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${base + 1}/vmlinuz`])
    const { readFileSync } = await import('node:fs')
    expect(readFileSync(out).equals(kernel)).toBe(true)
  })

  it('serves boot files by artifact name, fetched through the mesh from the agent that has them', async () => {
    const path = join(tempDir(), 'initrd-artifact')
    const data = Buffer.alloc(2_500_000).map((_, i) => (i * 13) & 0xff)
    writeFileSync(path, data)
    const add = await runCli(['artifact', 'add', path, '--name', 'boot/initrd-from-mesh.img', '--data-dir', peer.dir])
    expect(add.code, add.stderr).toBe(0)
    const body = await waitFor(async () => {
      const res = await fetch(`http://127.0.0.1:${base}/files/initrd-from-mesh.img`)
      return res.status === 200 ? Buffer.from(await res.arrayBuffer()) : undefined
    }, { what: 'the distributor serving the artifact by name' })
    expect(body.equals(data)).toBe(true)
    // a name that does not exist falls through to the directory
    expect((await fetch(`http://127.0.0.1:${base}/files/initrd.img`)).status).toBe(200)
  })

  it('resolves agents by name in the mesh zone, and records boot requests as sightings every member sees', async () => {
    const { stdout } = await run('dig', ['+short', '@127.0.0.1', '-p', String(base + 2), 'alpha.lab.mesh.internal'])
    expect(stdout.trim()).toBe('127.0.0.1')
    await fetch(`http://127.0.0.1:${base}/boot.ipxe?mac=52-54-00-11-22-33&arch=x86_64&platform=pcbios&uuid=abc`)
    const seen = await waitFor(async () => {
      const s = (await peer.api('GET', '/state?prefix=sightings/lab/')).body as Array<{ key: string }>
      return s.find(x => x.key === 'sightings/lab/52-54-00-11-22-33')
    }, { what: 'sighting replicated to the other agent' })
    expect(seen).toBeDefined()
    const m = (await agent.api('GET', '/metrics')).body
    expect(m.httpBootScripts).toBeGreaterThan(0)
    expect(m.tftpFilesServed).toBeGreaterThan(0)
  })

  it('a bad distributor config stops the agent with a clear message', async () => {
    const dir = tempDir()
    writeFileSync(join(dir, 'config.json'), JSON.stringify({ distributor: { dc: 'Bad DC', address: 'x', files: {}, profile: {} } }))
    const r = await runCli(['agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0'], { CTPF_LOG_LEVEL: 'silent' })
    expect(r.code).toBe(1)
    expect(r.stderr).toContain('[CONFIG_INVALID]')
    expect(r.stderr).toContain('distributor config')
  })

  it('a port in use ends the start with a clear message', async () => {
    const dir = tempDir()
    distributorConfig(dir, files, base) // the same HTTP port as the running agent
    const r = await runCli(['agent', '--data-dir', dir, '--listen', '/ip4/127.0.0.1/tcp/0'], { CTPF_LOG_LEVEL: 'silent' })
    expect(r.code).toBe(1)
    expect(r.stderr).toMatch(/distributor \w+ could not start/)
  })
})
