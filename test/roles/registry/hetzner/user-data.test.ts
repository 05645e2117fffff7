import { execFile, spawnSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { HETZNER_METADATA_URL, MAX_USER_DATA_BYTES, PATHS, renderUserData } from '../../../../roles/registry/hetzner/index.js'

const INVITE = 'ctpf1.eyJ2IjoxLCJtZXNoIjoiYWJjIn0.c2lnbmF0dXJlLW9mLXRoZS1pbnZpdGVy'
const SHA = 'b'.repeat(64)
const install = { url: 'https://seed.example.net/artifacts/bafy', sha256: SHA }

interface WriteFile { path: string, owner: string, permissions: string, content: string }
interface CloudConfig { packages: string[], write_files: WriteFile[], runcmd: string[][] }

function parse (userData: string): CloudConfig {
  expect(userData.startsWith('#cloud-config\n')).toBe(true)
  return JSON.parse(userData.slice('#cloud-config\n'.length)) as CloudConfig
}

const hasPyYaml = spawnSync('python3', ['-c', 'import yaml'], { stdio: 'ignore' }).status === 0

describe('cloud-init user-data for a new agent', () => {
  const userData = renderUserData({ inviteToken: INVITE, agentInstall: install, tags: { dc: 'hetzner-nbg1', role: 'worker' } })
  const doc = parse(userData)

  it('writes the invite token to a root-only 0600 file and nowhere else', () => {
    const tokenFiles = doc.write_files.filter(f => f.content.includes(INVITE))
    expect(tokenFiles).toEqual([{ path: '/etc/ctpf/join-token', owner: 'root:root', permissions: '0600', content: INVITE + '\n' }])
    // exactly one occurrence in the whole document
    expect(userData.split(INVITE).length - 1).toBe(1)
  })

  it('starts the agent with --join-file; no command line carries the token', () => {
    const unit = doc.write_files.find(f => f.path === PATHS.unit)?.content ?? ''
    const execStart = unit.split('\n').find(l => l.startsWith('ExecStart=')) ?? ''
    expect(execStart).toBe('ExecStart=/usr/bin/node /opt/ctpf/ctpf.mjs agent --data-dir /var/lib/ctpf --join-file /etc/ctpf/join-token --tag dc=hetzner-nbg1 --tag role=worker')
    expect(unit).toContain(`ConditionPathExists=${PATHS.bundle}`)
    expect(unit).not.toMatch(/--join(\s|=)/)
    for (const cmd of doc.runcmd) expect(cmd.join(' ')).not.toContain(INVITE)
    expect(doc.runcmd).toEqual([['/bin/sh', PATHS.installScript, '/etc/ctpf', '/opt/ctpf', '/var/lib/ctpf', '--start']])
    const script = doc.write_files.find(f => f.path === PATHS.installScript)
    expect(script?.permissions).toBe('0700')
    expect(script?.content).not.toContain(INVITE)
    expect(script?.content).not.toContain('join-token')
  })

  it.skipIf(!hasPyYaml)('is the same document to a YAML parser (cloud-init reads it with PyYAML)', async () => {
    const out = await new Promise<string>((resolve, reject) => {
      const child = execFile('python3', ['-c', 'import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))'], (err, stdout) => err != null ? reject(err) : resolve(stdout))
      child.stdin?.end(userData)
    })
    expect(JSON.parse(out)).toEqual(doc)
  })

  it('refuses a malformed token, bad sha256, non-http URL, unsafe tag, and oversize documents', () => {
    const codeOf = (fn: () => unknown): string => { try { fn(); return 'ok' } catch (err) { return (err as { code: string }).code } }
    expect(codeOf(() => renderUserData({ inviteToken: 'ctpf1.a b.c', agentInstall: install, tags: {} }))).toBe('ERR_HETZNER_CONFIG')
    expect(codeOf(() => renderUserData({ inviteToken: INVITE, agentInstall: { ...install, sha256: SHA.toUpperCase() }, tags: {} }))).toBe('ERR_HETZNER_CONFIG')
    expect(codeOf(() => renderUserData({ inviteToken: INVITE, agentInstall: { ...install, url: 'ftp://x/y' }, tags: {} }))).toBe('ERR_HETZNER_CONFIG')
    expect(codeOf(() => renderUserData({ inviteToken: INVITE, agentInstall: install, tags: { x: '%h' } }))).toBe('ERR_HETZNER_CONFIG')
    expect(codeOf(() => renderUserData({ inviteToken: INVITE, agentInstall: install, tags: { x: 'a;b' } }))).toBe('ERR_HETZNER_CONFIG')
    expect(codeOf(() => renderUserData({ inviteToken: INVITE, agentInstall: { ...install, packages: ['nodejs; rm -rf /'] }, tags: {} }))).toBe('ERR_HETZNER_CONFIG')
    const many = Object.fromEntries(Array.from({ length: 400 }, (_, i) => [`tag${i}`, 'v'.repeat(100)]))
    expect(codeOf(() => renderUserData({ inviteToken: INVITE, agentInstall: install, tags: many }))).toBe('ERR_HETZNER_USER_DATA_TOO_LARGE')
    expect(MAX_USER_DATA_BYTES).toBe(32 * 1024)
  })
})

describe('the install script, run for real', () => {
  const bundle = Buffer.from('#!/usr/bin/env node\nconsole.log("ctpf agent bundle")\n')
  const bundleSha = createHash('sha256').update(bundle).digest('hex')
  let http: Server
  let base: string
  let root: string

  beforeAll(async () => {
    root = mkdtempSync(join(tmpdir(), 'ctpf-hz-'))
    http = createServer((req, res) => {
      if (req.url === '/bundle') { res.end(bundle); return }
      if (req.url === '/metadata/public-ipv4') { res.end('198.51.100.7'); return }
      res.writeHead(404).end()
    })
    await new Promise<void>(resolve => http.listen(0, '127.0.0.1', () => resolve()))
    base = `http://127.0.0.1:${(http.address() as { port: number }).port}`
  })
  afterAll(async () => {
    http.closeAllConnections()
    await new Promise<void>(resolve => http.close(() => resolve()))
    rmSync(root, { recursive: true, force: true })
  })

  /** Lays out the document's write_files under a fresh directory, as cloud-init would under /. */
  function materialise (sha256: string): string {
    const dir = mkdtempSync(join(root, 'sys-'))
    const doc = parse(renderUserData({ inviteToken: INVITE, agentInstall: { url: `${base}/bundle`, sha256 }, tags: { dc: 'hetzner-nbg1' } }))
    for (const f of doc.write_files) {
      const path = join(dir, f.path)
      mkdirSync(dirname(path), { recursive: true })
      // the metadata service of this test instead of 169.254.169.254
      writeFileSync(path, f.path === PATHS.metadataUrl ? f.content.replace(HETZNER_METADATA_URL, `${base}/metadata`) : f.content)
      chmodSync(path, parseInt(f.permissions, 8))
    }
    return dir
  }

  /** Async: the bundle and metadata server live in this process and must keep answering. */
  async function run (dir: string): Promise<{ status: number | null, stderr: string }> {
    return await new Promise(resolve => {
      execFile('/bin/sh', [join(dir, PATHS.installScript), join(dir, PATHS.configDir), join(dir, PATHS.installDir), join(dir, PATHS.dataDir)], { encoding: 'utf8', timeout: 60_000 }, (err, _stdout, stderr) => {
        resolve({ status: err == null ? 0 : typeof err.code === 'number' ? err.code : null, stderr })
      })
    })
  }

  it('installs a bundle whose sha256 matches and writes the listen address from the metadata service', async () => {
    const dir = materialise(bundleSha)
    const r = await run(dir)
    expect(r.stderr).toBe('')
    expect(r.status).toBe(0)
    expect(readFileSync(join(dir, PATHS.bundle)).equals(bundle)).toBe(true)
    expect(existsSync(join(dir, PATHS.bundle + '.part'))).toBe(false)
    expect(JSON.parse(readFileSync(join(dir, PATHS.dataDir, 'config.json'), 'utf8'))).toEqual({ listen: ['/ip4/198.51.100.7/tcp/4001'] })
    expect(statSync(join(dir, PATHS.joinToken)).mode & 0o777).toBe(0o600)
    expect(statSync(join(dir, PATHS.dataDir)).mode & 0o777).toBe(0o700)
  })

  it('a bundle with another sha256 is not installed: nothing is left to run', async () => {
    const dir = materialise(createHash('sha256').update('something else').digest('hex'))
    const r = await run(dir)
    expect(r.status).toBe(4)
    expect(r.stderr).toContain('does not match')
    expect(existsSync(join(dir, PATHS.bundle))).toBe(false)
    expect(existsSync(join(dir, PATHS.bundle + '.part'))).toBe(false)
  })
})
