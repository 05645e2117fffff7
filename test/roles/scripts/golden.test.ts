import { execFileSync, spawnSync } from 'node:child_process'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { describe, expect, it } from 'vitest'
import { installerConfig, TemplateRenderError, type InstallerKind } from '../../../roles/scripts/index.js'
import { golden, keys, parseYaml, python, renderInput, token } from './fixture.js'

const files: Array<[InstallerKind, string]> = [
  ['kickstart', 'kickstart.ks'],
  ['preseed', 'preseed.cfg'],
  ['user-data', 'user-data.yaml'],
  ['meta-data', 'meta-data.yaml'],
  ['post-install', 'post-install.sh']
]

/** Values a hostile or careless DHCP client / operator could put in a host record. */
const hostile = {
  hostname: 'x\'; touch /tmp/pwned #',
  tags: { rack: 'a"b: c', note: '- [x] {y}, \'z\' \\ $HOME `id`' },
  key: 'ssh-ed25519 AAAA "quoted" \'single\' $(id) `id` \\n # comment: yes'
}

describe('example templates render to the known-good files', () => {
  for (const [kind, file] of files) {
    it(`${file} matches test/roles/scripts/golden/${file}`, () => {
      expect(installerConfig(kind, renderInput()).body).toBe(golden(file))
    })
  }

  it('post-install scripts are shell scripts, the rest plain text', () => {
    expect(installerConfig('post-install', renderInput()).contentType).toBe('text/x-shellscript; charset=utf-8')
    expect(installerConfig('kickstart', renderInput()).contentType).toBe('text/plain; charset=utf-8')
  })
})

describe('the golden files are valid in their own formats', () => {
  it('cloud-config user-data parses as YAML with the expected values', () => {
    const text = golden('user-data.yaml')
    expect(text.split('\n')[0]).toBe('#cloud-config')
    const doc = parseYaml(text)
    expect(doc.hostname).toBe('web1')
    expect(doc.ssh_authorized_keys).toEqual(keys)
    const files = Object.fromEntries(doc.write_files.map((f: any) => [f.path, f]))
    expect(JSON.parse(files['/etc/ctpf/tags.json'].content)).toEqual({ rack: 'r1', role: 'web' })
    expect(files['/etc/ctpf/phone-home-token']).toMatchObject({ content: token, permissions: '0600' })
    expect(doc.runcmd).toEqual([['/usr/local/sbin/ctpf-phone-home']])
    // the embedded phone-home script is valid sh
    const r = spawnSync('sh', ['-n'], { input: files['/usr/local/sbin/ctpf-phone-home'].content })
    expect(r.status, r.stderr?.toString()).toBe(0)
  })

  it('meta-data parses as YAML', () => {
    expect(parseYaml(golden('meta-data.yaml'))).toEqual({ 'instance-id': '52:54:00:12:34:56', 'local-hostname': 'web1' })
  })

  it('the preseed passes debconf-set-selections --checkonly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctpf-scripts-'))
    try {
      writeFileSync(join(dir, 'preseed.cfg'), golden('preseed.cfg'))
      const r = spawnSync('debconf-set-selections', ['--checkonly', join(dir, 'preseed.cfg')], { encoding: 'utf8' })
      expect(r.status, r.stderr).toBe(0)
      expect(r.stderr).toBe('')
    } finally {
      rmSync(dir, { recursive: true, force: true })
    }
    // and a broken line is caught by the same check (the check can fail)
    const bad = spawnSync('debconf-set-selections', ['--checkonly'], { input: 'd-i netcfg/get_hostname\n', encoding: 'utf8' })
    expect(bad.status).not.toBe(0)
  })

  it('the kickstart splits like pykickstart reads it, sections are closed, %post is valid bash', () => {
    const text = golden('kickstart.ks')
    const commands = JSON.parse(python([
      'import sys, json, shlex',
      'out = []; section = None',
      'for line in sys.stdin.read().splitlines():',
      '    s = line.strip()',
      '    if section is None and s.startswith("%") and s != "%end": section = s.split()[0]; continue',
      '    if s == "%end":',
      '        assert section is not None, "%end outside a section"',
      '        section = None; continue',
      '    if section is None and s and not s.startswith("#"): out.append(shlex.split(s))',
      'assert section is None, "unclosed section " + str(section)',
      'print(json.dumps(out))'
    ].join('\n'), text)) as string[][]
    const by = (name: string): string[][] => commands.filter(c => c[0] === name)
    expect(by('sshkey')).toEqual(keys.map(k => ['sshkey', '--username=root', k]))
    expect(by('network')[0]).toEqual(['network', '--bootproto=dhcp', '--device=52:54:00:12:34:56', '--hostname=web1', '--activate'])
    expect(by('timezone')[0]).toEqual(['timezone', 'Europe/Berlin', '--utc'])
    const post = text.slice(text.indexOf('%post'), text.lastIndexOf('%end')).split('\n').slice(1).join('\n')
    const r = spawnSync('bash', ['-n'], { input: post })
    expect(r.status, r.stderr?.toString()).toBe(0)
  })

  it('the post-install script is valid bash', () => {
    const r = spawnSync('bash', ['-n'], { input: golden('post-install.sh') })
    expect(r.status, r.stderr?.toString()).toBe(0)
  })
})

describe('host-controlled values cannot break out of their context', () => {
  const input = renderInput({
    host: { mac: '52:54:00:12:34:56', hostname: hostile.hostname, tags: hostile.tags },
    authorizedKeys: [hostile.key]
  })

  it('user-data: YAML reads back exactly the hostile hostname, tags and key', () => {
    const doc = parseYaml(installerConfig('user-data', input).body)
    expect(doc.hostname).toBe(hostile.hostname)
    expect(doc.ssh_authorized_keys).toEqual([hostile.key])
    const tags = doc.write_files.find((f: any) => f.path === '/etc/ctpf/tags.json')
    expect(JSON.parse(tags.content)).toEqual(hostile.tags)
    expect(Object.keys(doc).sort()).toEqual(['hostname', 'packages', 'preserve_hostname', 'runcmd', 'ssh_authorized_keys', 'ssh_pwauth', 'write_files'])
  })

  it('post-install: bash receives exactly the hostile values and runs nothing they contain', () => {
    const body = installerConfig('post-install', input).body
    // Run only the lines that print host values, with output files redirected to stdout.
    const lines = body.split('\n').filter(l => l.startsWith('printf \'%s\\n\' ')).map(l => l.replace(/ >>? \S+$/, ''))
    const out = execFileSync('bash', ['-c', lines.join('\n')], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HOME: '/nonexistent' } })
    expect(out.split('\n').slice(0, 3)).toEqual([hostile.key, hostile.hostname, JSON.stringify(hostile.tags)])
  })

  it('kickstart: shell-style splitting gives back the hostile key and hostname as single words', () => {
    const body = installerConfig('kickstart', input).body
    const split = (line: string): string[] => JSON.parse(python('import sys, json, shlex; print(json.dumps(shlex.split(sys.stdin.read())))', line))
    expect(split(body.split('\n').find(l => l.startsWith('sshkey')) as string)).toEqual(['sshkey', '--username=root', hostile.key])
    expect(split(body.split('\n').find(l => l.startsWith('network')) as string)).toContain(`--hostname=${hostile.hostname}`)
  })

  it('a value with a line break is refused, naming the template and line', () => {
    const bad = renderInput({ host: { mac: '52:54:00:12:34:56', hostname: 'web1\nd-i preseed/late_command string reboot' } })
    const err = (() => { try { installerConfig('preseed', bad); return undefined } catch (e) { return e } })()
    expect(err).toBeInstanceOf(TemplateRenderError)
    expect(err).toMatchObject({ code: 'ERR_TEMPLATE_RENDER', template: 'installer.preseed', line: 8 })
  })
})
