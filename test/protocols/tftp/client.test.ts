/**
 * Our read client against a reference server, tftpd-hpa: checks the client independently of
 * our server (blksize, tsize, block-number wrap, errors, retransmission of the first request).
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { createHash } from 'node:crypto'
import { createSocket } from 'node:dgram'
import { chmod, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, expect, it } from 'vitest'
import { TFTP_ERROR, TftpClientTimeoutError, TftpRemoteError, fetchFile } from '../../../protocols/tftp/index.js'
import { describePrivileged } from '../../helpers/privileged.js'

const sha = (b: Uint8Array): string => createHash('sha256').update(b).digest('hex')

function pseudoRandom (n: number, seed: number): Buffer {
  const out = Buffer.allocUnsafe(n)
  let x = seed
  for (let i = 0; i < n; i++) { x = (x * 1664525 + 1013904223) >>> 0; out[i] = x >>> 24 }
  return out
}

async function freePort (): Promise<number> {
  const s = createSocket('udp4')
  await new Promise<void>(resolve => { s.bind(0, '127.0.0.1', resolve) })
  const { port } = s.address()
  await new Promise<void>(resolve => { s.close(resolve) })
  return port
}

describePrivileged('TFTP client against tftpd-hpa', ['in.tftpd'], () => {
  let dir: string
  let port: number
  let daemon: ChildProcess
  const files: Record<string, Buffer> = {
    'a.bin': pseudoRandom(100_000, 1),
    'wrap.bin': pseudoRandom(65536 * 16 + 100, 2),
    'exact.bin': pseudoRandom(1468 * 3, 3)
  }

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ctpf-tftpd-hpa-'))
    await chmod(dir, 0o755) // tftpd-hpa drops to the tftp user
    for (const [name, data] of Object.entries(files)) await writeFile(join(dir, name), data, { mode: 0o644 })
    port = await freePort()
    daemon = spawn('in.tftpd', ['--foreground', '--listen', '--address', `127.0.0.1:${port}`, '--secure', dir], { stdio: 'ignore' })
    // wait until it answers
    for (let i = 0; i < 50; i++) {
      const answered = await fetchFile({ address: '127.0.0.1', port, filename: 'a.bin', timeoutMs: 100, retries: 0 }).then(() => true, () => false)
      if (answered) return
    }
    throw new Error('tftpd-hpa did not start')
  })

  afterAll(async () => {
    daemon?.kill()
    await rm(dir, { recursive: true, force: true })
  })

  it('fetches with RFC 1350 defaults', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'a.bin' })
    expect(sha(r.data)).toBe(sha(files['a.bin'] as Buffer))
    expect(r.negotiated.size).toBe(0)
  })

  it('negotiates blksize and tsize, and handles a final empty block', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'exact.bin', blksize: 1468, tsize: true })
    expect(r.negotiated.get('blksize')).toBe('1468')
    expect(r.negotiated.get('tsize')).toBe(String(1468 * 3))
    expect(r.dataPackets).toBe(4)
    expect(sha(r.data)).toBe(sha(files['exact.bin'] as Buffer))
  })

  it('follows the block-number wrap the way tftpd-hpa does it', async () => {
    const r = await fetchFile({ address: '127.0.0.1', port, filename: 'wrap.bin', blksize: 16 })
    expect(sha(r.data)).toBe(sha(files['wrap.bin'] as Buffer))
  })

  it('reports the server\'s error packet', async () => {
    const err = await fetchFile({ address: '127.0.0.1', port, filename: 'missing.bin' }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TftpRemoteError)
    expect((err as TftpRemoteError).tftpCode).toBe(TFTP_ERROR.FILE_NOT_FOUND)
  })

  it('times out against a silent port', async () => {
    const silent = await freePort()
    const err = await fetchFile({ address: '127.0.0.1', port: silent, filename: 'a.bin', timeoutMs: 50, retries: 2 }).catch((e: unknown) => e)
    expect(err).toBeInstanceOf(TftpClientTimeoutError)
  })
})
