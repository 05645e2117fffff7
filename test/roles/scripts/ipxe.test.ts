import { describe, expect, it } from 'vitest'
import {
  bootAnswer, bootScript, errorScript, parseProfile, validateGroups, type BootScriptInput, type Profile
} from '../../../roles/scripts/index.js'
import { renderInput } from './fixture.js'

const COMMANDS = new Set(['echo', 'imgfree', 'kernel', 'initrd', 'imgargs', 'boot', 'sleep', 'exit', 'chain', 'goto'])

/** Checks what can be checked without an iPXE: magic line, known commands, labels of every goto, no stray syntax. */
function checkIpxe (script: string): string[] {
  const lines = script.split('\n')
  expect(lines[0]).toBe('#!ipxe')
  expect(script.endsWith('\n')).toBe(true)
  const body = lines.slice(1).filter(l => l !== '')
  const labels = new Set(body.filter(l => l.startsWith(':')).map(l => l.slice(1)))
  for (const line of body) {
    expect(line).toMatch(/^[\x20-\x7e]+$/)
    if (line.startsWith(':')) continue
    const [command, ...rest] = line.split(' ')
    expect(COMMANDS.has(command), `unknown command in "${line}"`).toBe(true)
    expect(line).not.toContain('${')
    const gotos = [...line.matchAll(/(?:^|\|\| |&& )goto (\S+)/g)].map(m => m[1])
    for (const target of gotos) expect(labels.has(target), `goto ${target} has no label`).toBe(true)
    if (command === 'sleep') expect(rest[0]).toMatch(/^\d+$/)
  }
  return body
}

const profile: Profile = parseProfile({
  name: 'rocky9',
  kernel: 'rocky/9/x86_64/vmlinuz',
  initrd: ['rocky/9/x86_64/initrd.img', 'extra/firmware.cpio'],
  cmdline: 'inst.ks={{ urls.kickstart }} ip=dhcp\n  console=ttyS0,115200n8 ctpf.dc={{ host.dc | default("none") }}',
  arch: {
    arm64: { kernel: 'rocky/9/aarch64/vmlinuz', initrd: ['rocky/9/aarch64/initrd.img'], cmdline: 'inst.ks={{ urls.kickstart }} console=ttyAMA0' }
  }
})

const input = (over: Partial<BootScriptInput> = {}): BootScriptInput => ({
  ...renderInput(),
  profile,
  arch: 'x86_64',
  platform: 'efi',
  artifactUrl: ref => `http://10.0.0.1:8080/files/${ref}`,
  ...over
})

describe('boot scripts per architecture', () => {
  it('x86_64 BIOS (undionly reports i386/pcbios): kernel, both initrds, no initrd= arguments', () => {
    const script = bootScript(input({ arch: 'i386', platform: 'pcbios' }))
    checkIpxe(script)
    expect(script).toBe([
      '#!ipxe',
      'echo ctpf: 52:54:00:12:34:56 x86_64/pcbios boots profile rocky9',
      'imgfree',
      'kernel --name kernel http://10.0.0.1:8080/files/rocky/9/x86_64/vmlinuz || goto failed',
      'initrd --name initrd.img http://10.0.0.1:8080/files/rocky/9/x86_64/initrd.img || goto failed',
      'initrd --name firmware.cpio http://10.0.0.1:8080/files/extra/firmware.cpio || goto failed',
      'imgargs kernel inst.ks=http://10.0.0.1:8080/v1/installer/52-54-00-12-34-56/kickstart ip=dhcp console=ttyS0,115200n8 ctpf.dc=nbg1 || goto failed',
      'boot || goto failed',
      ':failed',
      'echo ctpf: booting profile rocky9 failed, retrying in 30 s',
      ':retry',
      'sleep 30',
      'exit 1',
      ''
    ].join('\n'))
  })

  it('x86_64 UEFI: the command line names every initrd for the EFI stub', () => {
    const script = bootScript(input({ arch: 'x86_64', platform: 'efi', host: { ...renderInput().host, dc: undefined } }))
    const body = checkIpxe(script)
    expect(body).toContain('imgargs kernel initrd=initrd.img initrd=firmware.cpio inst.ks=http://10.0.0.1:8080/v1/installer/52-54-00-12-34-56/kickstart ip=dhcp console=ttyS0,115200n8 ctpf.dc=none || goto failed')
    expect(body[0]).toBe('echo ctpf: 52:54:00:12:34:56 x86_64/efi boots profile rocky9')
  })

  it('arm64 UEFI: the per-arch kernel, initrd and command line replace the defaults', () => {
    const script = bootScript(input({ arch: 'arm64', platform: 'efi' }))
    const body = checkIpxe(script)
    expect(body).toEqual(expect.arrayContaining([
      'kernel --name kernel http://10.0.0.1:8080/files/rocky/9/aarch64/vmlinuz || goto failed',
      'initrd --name initrd.img http://10.0.0.1:8080/files/rocky/9/aarch64/initrd.img || goto failed',
      'imgargs kernel initrd=initrd.img inst.ks=http://10.0.0.1:8080/v1/installer/52-54-00-12-34-56/kickstart console=ttyAMA0 || goto failed'
    ]))
    expect(script).not.toContain('x86_64')
  })

  it('gives initrds with clashing or odd names names of their own', () => {
    const p = parseProfile({ name: 'p', kernel: 'k', initrd: ['a/initrd', 'b/initrd', 'c/x+y.img', 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'] })
    const body = checkIpxe(bootScript(input({ profile: p })))
    expect(body.filter(l => l.startsWith('initrd ')).map(l => l.split(' ')[2])).toEqual(['initrd', 'initrd1', 'initrd2', 'bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi'])
  })

  it('chains retryUrl in a loop when given', () => {
    const body = checkIpxe(bootScript(input({ retrySeconds: 5, retryUrl: 'http://10.0.0.1:8080/boot.ipxe?mac=52-54-00-12-34-56' })))
    expect(body.slice(-3)).toEqual([':retry', 'sleep 5', 'chain http://10.0.0.1:8080/boot.ipxe?mac=52-54-00-12-34-56 || goto retry'])
  })

  it('refuses architectures and platforms iPXE cannot boot', () => {
    expect(() => bootScript(input({ arch: 'arm64', platform: 'pcbios' }))).toThrow(expect.objectContaining({ code: 'ERR_SCRIPTS_UNSUPPORTED_PLATFORM' }))
    expect(() => bootScript(input({ arch: 'x86_64', platform: 'linux' }))).toThrow(expect.objectContaining({ code: 'ERR_SCRIPTS_UNSUPPORTED_PLATFORM' }))
    expect(() => bootScript(input({ arch: 'sparc64', platform: 'efi' }))).toThrow(expect.objectContaining({ code: 'ERR_SCRIPTS_UNSUPPORTED_PLATFORM' }))
  })

  it('refuses a rendered command line or URL that would change the script', () => {
    const p = parseProfile({ name: 'p', kernel: 'k', cmdline: 'x={{ host.tags.note }}' })
    for (const note of ['${net0/mac}', 'a || goto evil', 'a && b', 'a ; b', 'say "hi"', 'it\'s', 'a\\b', 'a #x']) {
      expect(() => bootScript(input({ profile: p, host: { mac: '52:54:00:12:34:56', tags: { note } } }))).toThrow(expect.objectContaining({ code: 'ERR_SCRIPTS_UNSAFE_VALUE' }))
    }
    expect(() => bootScript(input({ profile: p, host: { mac: '52:54:00:12:34:56', tags: { note: 'ds=nocloud-net;s=http://x/' } } }))).not.toThrow()
    expect(() => bootScript(input({ artifactUrl: ref => `http://x/files/${ref} extra` }))).toThrow(expect.objectContaining({ code: 'ERR_SCRIPTS_UNSAFE_VALUE' }))
  })
})

describe('error scripts', () => {
  it('print the reason and retry after the delay, returning to the calling script', () => {
    const script = errorScript('no group matches this machine (mac 52:54:00:12:34:56)', 20)
    expect(script).toBe([
      '#!ipxe',
      'echo ctpf: cannot boot this machine: no group matches this machine (mac 52:54:00:12:34:56)',
      'echo ctpf: retrying in 20 s',
      ':retry',
      'sleep 20',
      'exit 1',
      ''
    ].join('\n'))
    checkIpxe(script)
  })

  it('strip iPXE syntax from the reason and wrap long reasons', () => {
    const script = errorScript('template "x" failed: ${evil} || goto x && y; # z\nnext line '.repeat(8), 10, { retryUrl: 'http://10.0.0.1:8080/boot.ipxe' })
    const body = checkIpxe(script)
    const echoes = body.filter(l => l.startsWith('echo'))
    for (const l of echoes) expect(l).not.toMatch(/[$|&;#"]/)
    expect(echoes.length).toBeGreaterThan(2)
    for (const l of body) expect(l.length).toBeLessThanOrEqual(200)
    expect(body.slice(-2)).toEqual(['sleep 10', 'chain http://10.0.0.1:8080/boot.ipxe || goto retry'])
  })

  it('bound the delay', () => {
    expect(errorScript('x', 0)).toContain('sleep 1\n')
    expect(errorScript('x', 1e9)).toContain('sleep 3600\n')
    expect(errorScript('x')).toContain('sleep 30\n')
  })
})

describe('bootAnswer: always a script', () => {
  const groups = validateGroups([
    { name: 'rocky', profile: 'rocky9', selector: { arch: 'x86_64' } },
    { name: 'broken', profile: 'broken', selector: { mac: '52:54:00:00:00:02', arch: 'x86_64' } },
    { name: 'gone', profile: 'gone', selector: { mac: '52:54:00:00:00:03', arch: 'x86_64' } }
  ])
  const broken = parseProfile({ name: 'broken', kernel: 'k', cmdline: 'token={{ phoneHome.token }}' })
  const profiles = new Map([['rocky9', profile], ['broken', broken]])
  const ask = (mac: string, arch = 'x86_64'): ReturnType<typeof bootAnswer> => bootAnswer({
    groups, profile: n => profiles.get(n), host: { mac }, arch, platform: 'efi',
    artifactUrl: ref => `http://10.0.0.1:8080/files/${ref}`, urls: renderInput().urls
  })

  it('answers the matching profile', () => {
    const a = ask('52-54-00-00-00-01')
    expect(a).toMatchObject({ group: 'rocky', profile: 'rocky9' })
    expect(a.error).toBeUndefined()
    expect(a.script).toContain('boots profile rocky9')
  })

  it('answers an error script when nothing matches, a profile is missing, or a template fails', () => {
    const none = ask('52-54-00-00-00-01', 'arm64')
    expect(none.script).toMatch(/^#!ipxe\necho ctpf: cannot boot this machine: no group matches this machine/)
    const gone = ask('52-54-00-00-00-03')
    expect(gone).toMatchObject({ group: 'gone' })
    expect(gone.script).toContain('uses profile gone, which does not exist')
    const failed = ask('52-54-00-00-00-02')
    expect(failed).toMatchObject({ group: 'broken', profile: 'broken', error: expect.objectContaining({ code: 'ERR_TEMPLATE_RENDER', template: 'cmdline', line: 1 }) })
    expect(failed.script).toContain('cmdline line 1:')
    for (const a of [none, gone, failed]) checkIpxe(a.script)
  })
})
