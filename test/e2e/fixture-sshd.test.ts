/**
 * The booted test machine can be set up over SSH: its initramfs carries dropbear, and
 * `/bin/ctpf-sshd` (run by a post-install script) starts it and prints the host key — the key a
 * machine reports when it phones home and the SSH distributor pins. QEMU user-mode networking
 * (no namespaces): the script comes from a local HTTP server, port 22 is forwarded.
 */
import { createServer } from 'node:http'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { generateKeyPair, runOnHosts } from '../../roles/distributor/ssh/index.js'
import { describePrivileged } from '../helpers/privileged.js'
import { bootMachine } from '../helpers/qemu.js'
import { BOOT_CACHE } from '../helpers/distributor-agent.js'
import type { AddressInfo } from 'node:net'

describePrivileged('the test machine\'s SSH server', ['qemu-system-x86_64'], () => {
  it('a machine that ran ctpf-sshd takes commands from the SSH runner with its host key pinned, and refuses another key', async () => {
    const client = generateKeyPair({ comment: 'ctpf-fixture-test' })
    const script = [
      '#!/bin/sh',
      'mkdir -p /root/.ssh',
      `printf '%s\\n' '${client.publicKey}' > /root/.ssh/authorized_keys`,
      'echo "CTPF-HOSTKEY $(ctpf-sshd)"'
    ].join('\n') + '\n'
    const http = createServer((_req, res) => { res.end(script) })
    await new Promise<void>(resolve => http.listen(0, '127.0.0.1', resolve))
    const httpPort = (http.address() as AddressInfo).port
    const sshPort = 20000 + Math.floor(Math.random() * 20000)
    const vm = await bootMachine({
      boot: { kernel: join(BOOT_CACHE, 'vmlinuz'), initrd: join(BOOT_CACHE, 'initrd.img'), append: `console=ttyS0 quiet ctpf.url=http://10.0.2.2:${httpPort}/s.sh ctpf.hold=1` },
      extraArgs: ['-netdev', `user,id=u0,hostfwd=tcp:127.0.0.1:${sshPort}-:22`, '-device', 'e1000,netdev=u0'],
      serialLog: join(BOOT_CACHE, '..', 'e2e-logs', 'fixture-sshd.log'),
      timeoutMs: 120_000
    })
    try {
      const m = await vm.waitFor(/^CTPF-HOSTKEY (ssh-ed25519 \S+)/m, 90_000)
      const hostKey = m[1] as string
      const host = { id: 'vm', address: '127.0.0.1', port: sshPort, user: 'root', hostKey }
      const [ok] = await runOnHosts({ hosts: [host], privateKey: client.privateKey, command: ['sh', '-c', 'echo "hello from $(cat /proc/sys/kernel/hostname)"; uname -r'], connectTimeoutMs: 20_000 })
      expect(ok?.ok, JSON.stringify(ok?.error)).toBe(true)
      expect(ok?.stdout).toMatch(/^hello from /)
      // a different pinned key is refused before any credential is sent
      const other = generateKeyPair({ comment: 'not the host' })
      const [refused] = await runOnHosts({ hosts: [{ ...host, hostKey: other.publicKey }], privateKey: client.privateKey, command: ['true'], connectTimeoutMs: 20_000 })
      expect(refused?.error?.code).toBe('ERR_SSH_HOST_KEY_MISMATCH')
    } finally {
      await vm.kill()
      http.close()
    }
  }, 150_000)
})
