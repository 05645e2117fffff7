/**
 * `runOnHosts` against ssh2's `Server` as a fake host on loopback (no root needed): the paths
 * a real sshd rarely takes — a session killed by a signal, a channel closed without an exit
 * status — and what goes over the wire (no authentication after a host key mismatch, the
 * command line, the kill requests on stdin).
 */
import type { AddressInfo } from 'node:net'
import ssh2 from 'ssh2'
import type { ServerChannel } from 'ssh2'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { generateKeyPair, runOnHosts, type SshKeyPair } from '../../../../roles/distributor/ssh/index.js'

type Behaviour = (command: string, stream: ServerChannel) => void

describe('runOnHosts against a fake SSH host', () => {
  const hostKey = generateKeyPair({ comment: 'fake-host' })
  let clientKey: SshKeyPair
  let server: InstanceType<typeof ssh2.Server>
  let port: number
  let behaviour: Behaviour = () => {}
  const authAttempts: string[] = []
  const commands: string[] = []

  beforeAll(async () => {
    clientKey = generateKeyPair()
    server = new ssh2.Server({ hostKeys: [hostKey.privateKey] }, (client) => {
      client.on('error', () => {})
      client.on('authentication', (ctx) => {
        authAttempts.push(ctx.method)
        ctx.accept()
      })
      client.on('ready', () => {
        client.on('session', (accept) => {
          const session = accept()
          session.on('exec', (acceptExec, _reject, info) => {
            commands.push(info.command)
            behaviour(info.command, acceptExec())
          })
        })
      })
    })
    await new Promise<void>(resolve => server.listen(0, '127.0.0.1', resolve))
    port = (server.address() as AddressInfo).port
  })

  afterAll(async () => { await new Promise(resolve => server.close(resolve)) })

  const hosts = (hostKeyLine = hostKey.publicKey): Array<{ id: string, address: string, port: number, user: string, hostKey: string }> =>
    [{ id: 'fake', address: '127.0.0.1', port, user: 'root', hostKey: hostKeyLine }]

  it('sends the quoted command line through the supervisor and reports the exit status', async () => {
    behaviour = (_cmd, stream) => { stream.write('out\n'); stream.stderr.write('err\n'); stream.exit(0); stream.end() }
    commands.length = 0
    const [r] = await runOnHosts({ hosts: hosts(), privateKey: clientKey.privateKey, command: ['echo', "it's"], env: { X: 'a b' } })
    expect(r).toMatchObject({ ok: true, exitCode: 0, stdout: 'out\n', stderr: 'err\n' })
    expect(commands).toHaveLength(1)
    expect(commands[0]).toMatch(/^export X='a b' CTPF_SSH_GRACE='2'; exec '\/bin\/sh' '-c' '.+' 'ctpf-run' 'echo' 'it'\\''s'$/s)
  })

  it('a command killed by a signal the host reports is ERR_SSH_COMMAND_KILLED with the signal', async () => {
    behaviour = (_cmd, stream) => { stream.exit('SEGV', true, 'boom'); stream.end() }
    const [r] = await runOnHosts({ hosts: hosts(), privateKey: clientKey.privateKey, command: ['crash'] })
    expect(r).toMatchObject({ ok: false, signal: 'SIGSEGV', error: { code: 'ERR_SSH_COMMAND_KILLED' } })
    expect(r?.exitCode).toBeUndefined()
  })

  it('a channel closed without an exit status is ERR_SSH_CONNECTION_LOST', async () => {
    behaviour = (_cmd, stream) => { stream.write('partial\n'); stream.close() }
    const [r] = await runOnHosts({ hosts: hosts(), privateKey: clientKey.privateKey, command: ['x'] })
    expect(r).toMatchObject({ ok: false, stdout: 'partial\n', error: { code: 'ERR_SSH_CONNECTION_LOST' } })
  })

  it('on timeout asks the supervisor for TERM, then KILL, on stdin, then closes the channel', async () => {
    const received: string[] = []
    behaviour = (_cmd, stream) => { stream.on('data', (d: Buffer) => received.push(d.toString())) } // never exits
    const started = Date.now()
    const [r] = await runOnHosts({ hosts: hosts(), privateKey: clientKey.privateKey, command: ['hang'], timeoutMs: 300, killGraceMs: 200 })
    expect(r?.error?.code).toBe('ERR_SSH_TIMEOUT')
    expect(received.join('')).toBe('TERM\nKILL\n')
    expect(Date.now() - started).toBeLessThan(3000)
  })

  it('a changed host key is refused before any authentication request is sent', async () => {
    authAttempts.length = 0
    const other = generateKeyPair()
    const [r] = await runOnHosts({ hosts: hosts(other.publicKey), privateKey: clientKey.privateKey, command: ['true'] })
    expect(r?.error).toMatchObject({ code: 'ERR_SSH_HOST_KEY_MISMATCH', seenFingerprint: hostKey.fingerprint })
    expect(authAttempts).toEqual([])
    // the same host with the right pin, by fingerprint: authentication happens
    behaviour = (_cmd, stream) => { stream.exit(0); stream.end() }
    const [ok] = await runOnHosts({ hosts: hosts(hostKey.fingerprint), privateKey: clientKey.privateKey, command: ['true'] })
    expect(ok?.ok).toBe(true)
    expect(authAttempts.length).toBeGreaterThan(0)
  })

  it('output callbacks that throw do not break the run', async () => {
    behaviour = (_cmd, stream) => { stream.write('a\nb\n'); stream.exit(0); stream.end() }
    const [r] = await runOnHosts({ hosts: hosts(), privateKey: clientKey.privateKey, command: ['x'] }, {
      onOutput: () => { throw new Error('callback bug') },
      onHostDone: () => { throw new Error('callback bug') }
    })
    expect(r).toMatchObject({ ok: true, stdout: 'a\nb\n' })
  })
})
