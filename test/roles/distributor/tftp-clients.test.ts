/**
 * The server against real TFTP clients: tftp-hpa (RFC 1350 only), curl (blksize, tsize,
 * timeout) and busybox tftp (blksize, tsize). Files must arrive byte for byte.
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import type { TftpServer } from '../../../roles/distributor/tftp/index.js'
import { LossyProxy, directory, makeTree, run, sha256, startServer, type Tree } from './tftp-helpers.js'

let tree: Tree
let server: TftpServer
let port: number
// a second server for lossy paths: fast retransmits, and it ignores the client's RFC 2349
// timeout (curl asks for 6 s, which would make every lost packet cost 6 s)
let lossyServer: TftpServer
let lossyPort: number

const BIG = 6 * 1024 * 1024 + 777

beforeAll(async () => {
  tree = await makeTree({ 'big.bin': BIG, 'lossy.bin': 256 * 1024 + 5, 'huge.bin': 33 * 1024 * 1024 + 3, 'wrap.bin': 65536 * 8 + 8 * 50 + 1 })
  ;({ server, port } = await startServer({}, directory(tree.root)))
  ;({ server: lossyServer, port: lossyPort } = await startServer({ timeoutMs: 100, maxRetries: 10, allowClientTimeout: false }, directory(tree.root)))
})

afterAll(async () => {
  await server?.stop()
  await lossyServer?.stop()
  await tree?.cleanup()
})

async function expectSame (out: string, name: string): Promise<void> {
  const got = await readFile(out)
  expect(got.length).toBe((tree.files[name] as Buffer).length)
  expect(sha256(got)).toBe(sha256(tree.files[name] as Buffer))
}

function outPath (name: string): string {
  return join(tree.root, '..', `out-${name}-${Math.random().toString(16).slice(2)}`)
}

describe('tftp-hpa client', () => {
  it('fetches a several-MiB file byte for byte (512-byte blocks)', async () => {
    const out = outPath('big')
    const r = await run('tftp', ['-v', '-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'big.bin', out])
    expect(r.stdout + r.stderr).toMatch(new RegExp(`Received ${BIG} bytes`))
    await expectSame(out, 'big.bin')
  })

  it('fetches a 33 MiB file, past block number 65535 at 512-byte blocks', async () => {
    const out = outPath('huge')
    const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'huge.bin', out], { timeoutMs: 120_000 })
    expect(r.stdout + r.stderr).toBe('')
    await expectSame(out, 'huge.bin')
  }, 120_000)

  it('gets error 1 for a missing file', async () => {
    const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', 'missing.bin', outPath('missing')])
    expect(r.stdout + r.stderr).toMatch(/Error code 1: file not found/)
  })

  it('gets error 2 for ../ traversal and a symlink out of the root', async () => {
    for (const name of ['../secret.txt', 'sub/../../secret.txt', 'escape.txt']) {
      const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'get', name, outPath('trav')])
      expect(r.stdout + r.stderr).toMatch(/Error code 2: access violation/)
    }
  })

  it('cannot put a file (read-only server)', async () => {
    const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(port), '-c', 'put', join(tree.root, 'small.bin'), 'upload.bin'])
    expect(r.stdout + r.stderr).toMatch(/Error code 2: server is read-only/)
  })

  it('completes through a path that drops every 13th datagram', async () => {
    const proxy = await LossyProxy.start(lossyPort, 13)
    try {
      const out = outPath('lossy')
      // commands on stdin: the retransmit interval can only be set interactively
      const r = await run('tftp', ['-m', 'binary', '127.0.0.1', String(proxy.port)], { input: `rexmt 1\nget lossy.bin ${out}\nquit\n`, timeoutMs: 120_000 })
      expect(r.stderr).toBe('')
      await expectSame(out, 'lossy.bin')
      expect(proxy.dropped).toBeGreaterThan(15)
    } finally { proxy.close() }
  }, 120_000)
})

describe('curl (blksize, tsize, timeout options)', () => {
  it('fetches a several-MiB file byte for byte with blksize 1468', async () => {
    const out = outPath('curl-big')
    const r = await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${port}/big.bin`])
    expect(r.stderr).toBe('')
    expect(r.code).toBe(0)
    await expectSame(out, 'big.bin')
  })

  it('completes with blksize 1468 through a path that drops every 11th datagram', async () => {
    const proxy = await LossyProxy.start(lossyPort, 11)
    try {
      const out = outPath('curl-lossy')
      const r = await run('curl', ['-sS', '--tftp-blksize', '1468', '-o', out, `tftp://127.0.0.1:${proxy.port}/lossy.bin`], { timeoutMs: 120_000 })
      expect(r.code).toBe(0)
      await expectSame(out, 'lossy.bin')
      expect(proxy.dropped).toBeGreaterThan(15)
    } finally { proxy.close() }
  }, 120_000)

  it('fetches a file past the 65535 block-number wrap with blksize 8', async () => {
    const out = outPath('curl-wrap')
    const r = await run('curl', ['-sS', '--tftp-blksize', '8', '-o', out, `tftp://127.0.0.1:${port}/wrap.bin`], { timeoutMs: 120_000 })
    expect(r.code).toBe(0)
    await expectSame(out, 'wrap.bin')
  }, 120_000)

  it('maps refusals to curl\'s TFTP exit codes (68 not found, 69 access violation)', async () => {
    expect((await run('curl', ['-sS', '-o', outPath('c'), `tftp://127.0.0.1:${port}/missing.bin`])).code).toBe(68)
    expect((await run('curl', ['-sS', '-o', outPath('c'), `tftp://127.0.0.1:${port}/escape.txt`])).code).toBe(69)
  })
})

describe('busybox tftp (blksize, tsize)', () => {
  it('fetches a several-MiB file byte for byte with blksize 1468', async () => {
    const out = outPath('bb-big')
    const r = await run('busybox', ['tftp', '-g', '-b', '1468', '-r', 'big.bin', '-l', out, '127.0.0.1', String(port)])
    expect(r.code).toBe(0)
    await expectSame(out, 'big.bin')
  })

})
