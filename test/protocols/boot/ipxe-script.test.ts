import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { chainloadScript, endpointUrl, IDENTITY_QUERY, InvalidEndpointError } from '../../../protocols/boot/ipxe-script.js'
import { describePrivileged } from '../../helpers/privileged.js'
import { bootMachine } from '../../helpers/qemu.js'

describe('iPXE chainload script', () => {
  it('tries each endpoint in order with the identity query, after DHCP with retries, and loops on failure', () => {
    const script = chainloadScript(['http://10.0.0.1:8080/boot.ipxe', 'https://boot.example.org/boot.ipxe'], { dhcpAttempts: 2, retryDelaySeconds: 7 })
    const lines = script.split('\n')
    expect(lines[0]).toBe('#!ipxe')
    const chains = lines.filter(l => l.startsWith('chain '))
    expect(chains).toEqual([
      'chain --autofree http://10.0.0.1:8080/boot.ipxe?mac=${mac}&uuid=${uuid}&buildarch=${buildarch}&platform=${platform} ||',
      'chain --autofree https://boot.example.org/boot.ipxe?mac=${mac}&uuid=${uuid}&buildarch=${buildarch}&platform=${platform} ||'
    ])
    // DHCP: two attempts, each jumping to the endpoints on success, then a wait and a restart
    expect(lines.filter(l => l === 'dhcp && goto ctpf-endpoints ||')).toHaveLength(2)
    const firstChain = lines.findIndex(l => l.startsWith('chain '))
    expect(lines.indexOf(':ctpf-endpoints')).toBeLessThan(firstChain)
    expect(lines.lastIndexOf('dhcp && goto ctpf-endpoints ||')).toBeLessThan(lines.indexOf(':ctpf-endpoints'))
    // after the last endpoint: an error message, a delay, and back to the start
    const tail = lines.slice(lines.findLastIndex(l => l.startsWith('chain ')) + 1).filter(l => l !== '')
    expect(tail[0]).toMatch(/^echo ctpf: ERROR: no boot endpoint answered/)
    expect(tail).toEqual([tail[0], 'sleep 7', 'goto ctpf-start'])
    expect(lines).toContain(':ctpf-start')
    expect(script.endsWith('\n')).toBe(true)
  })

  it('uses boot.ipxe for a bare host and & for an endpoint with a query', () => {
    expect(endpointUrl('http://10.0.0.1:8080')).toBe(`http://10.0.0.1:8080/boot.ipxe?${IDENTITY_QUERY}`)
    expect(endpointUrl('http://10.0.0.1:8080/')).toBe(`http://10.0.0.1:8080/boot.ipxe?${IDENTITY_QUERY}`)
    expect(endpointUrl('http://h/x/boot.ipxe?dc=nbg1')).toBe(`http://h/x/boot.ipxe?dc=nbg1&${IDENTITY_QUERY}`)
    expect(endpointUrl('http://[fd00::1]:8080/boot.ipxe')).toBe(`http://[fd00::1]:8080/boot.ipxe?${IDENTITY_QUERY}`)
  })

  it('refuses endpoints that would inject iPXE syntax or are not http(s)', () => {
    const bad = [
      'http://h/boot.ipxe\nshell', 'http://h/boot.ipxe ||shell', 'http://h/${x}', 'tftp://h/boot.ipxe', 'ftp://h/x',
      'http://user:pw@h/boot.ipxe', 'http://h/boot.ipxe#frag', 'not a url', '', 'http://h/a;b', "http://h/'x'"
    ]
    for (const e of bad) {
      expect(() => chainloadScript([e]), e).toThrow(InvalidEndpointError)
    }
    try { chainloadScript([]) } catch (e) { expect((e as InvalidEndpointError).code).toBe('ERR_IPXE_SCRIPT_ENDPOINT') }
    expect(() => chainloadScript([])).toThrow(InvalidEndpointError)
    expect(() => chainloadScript(['http://h/b'], { dhcpAttempts: 0 })).toThrow(RangeError)
  })
})

const LKRN = '/usr/lib/ipxe/ipxe.lkrn'

describePrivileged('chainload script in iPXE (Debian\'s ipxe.lkrn in QEMU)', ['qemu-system-x86_64'], () => {
  let root: string
  let server: Server
  let port = 0
  const requests: string[] = []

  beforeAll(async () => {
    expect(existsSync(LKRN), `${LKRN} (package ipxe, scripts/install-test-deps.sh)`).toBe(true)
    root = mkdtempSync(join(tmpdir(), 'ctpf-bld-ipxescript-'))
    server = createServer((req, res) => {
      requests.push(req.url ?? '')
      res.end('#!ipxe\necho CTPF-CHAINED-OK\nsleep 30\n')
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as { port: number }).port
  })
  afterAll(async () => {
    await new Promise(resolve => server.close(resolve))
    rmSync(root, { recursive: true, force: true })
  })

  it('tries the endpoints in order and chains the first that answers, with the identity query', async () => {
    // 10.0.2.2 is the host in QEMU's user network; port 9 (discard) refuses
    const script = chainloadScript(['http://10.0.2.2:9/boot.ipxe', `http://10.0.2.2:${port}/boot.ipxe`], { retryDelaySeconds: 1 })
    const scriptFile = join(root, 'embed.ipxe')
    writeFileSync(scriptFile, script)
    const vm = await bootMachine({
      boot: { kernel: LKRN, initrd: scriptFile, append: '' },
      firmware: 'bios',
      serialLog: join(root, 'serial.log'),
      timeoutMs: 120_000,
      extraArgs: ['-nic', 'user,model=e1000,mac=52:54:00:c7:b1:d0']
    })
    try {
      await vm.waitFor(/CTPF-CHAINED-OK/, 90_000)
      expect(vm.log).toMatch(/trying endpoint 1 of 2/)
      expect(vm.log).toMatch(/trying endpoint 2 of 2/)
      expect(requests).toHaveLength(1)
      const url = new URL(requests[0], 'http://x')
      expect(url.pathname).toBe('/boot.ipxe')
      expect(url.searchParams.get('mac')).toBe('52:54:00:c7:b1:d0')
      expect(url.searchParams.get('platform')).toBe('pcbios')
      expect(url.searchParams.get('buildarch')).toMatch(/^(i386|x86_64)$/)
      console.log(`iPXE chained after ${vm.elapsed()} ms`)
    } finally {
      await vm.kill()
    }
  }, 150_000)

  it('says so and starts over when no endpoint answers', async () => {
    const scriptFile = join(root, 'refused.ipxe')
    writeFileSync(scriptFile, chainloadScript(['http://10.0.2.2:9/boot.ipxe'], { retryDelaySeconds: 1 }))
    const vm = await bootMachine({
      boot: { kernel: LKRN, initrd: scriptFile, append: '' },
      firmware: 'bios',
      serialLog: join(root, 'serial-refused.log'),
      timeoutMs: 120_000,
      extraArgs: ['-nic', 'user,model=e1000,mac=52:54:00:c7:b1:d1']
    })
    try {
      await vm.waitFor(/ctpf: ERROR: no boot endpoint answered \(1 tried\), retrying in 1 s/, 90_000)
      // and round again: DHCP, the endpoint, the error
      await vm.waitFor(/trying endpoint 1 of 1[^]*trying endpoint 1 of 1[^]*ERROR: no boot endpoint answered[^]*ERROR: no boot endpoint answered/, 60_000)
    } finally {
      await vm.kill()
    }
  }, 150_000)
})
