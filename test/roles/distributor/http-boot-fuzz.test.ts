import { connect } from 'node:net'
import { mkdtempSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pino } from 'pino'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DirectoryFileSource } from '../../../roles/distributor/index.js'
import { HttpBootServer } from '../../../roles/distributor/http/server.js'
import { prng } from '../../helpers/prng.js'

/** Sends bytes on a fresh connection and waits for the server to answer or close (bounded). */
async function blast (port: number, chunks: Buffer[]): Promise<void> {
  await new Promise<void>(resolve => {
    const s = connect(port, '127.0.0.1')
    const done = (): void => { s.destroy(); resolve() }
    s.setTimeout(300, done)
    s.on('error', done)
    s.on('close', done)
    s.on('data', () => {})
    s.on('connect', () => { for (const c of chunks) s.write(c); s.end() })
  })
}

describe('HTTP boot server under hostile input', () => {
  let server: HttpBootServer
  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'ctpf-httpfuzz-'))
    writeFileSync(join(dir, 'vmlinuz'), Buffer.alloc(50_000, 7))
    server = new HttpBootServer({ bind: '127.0.0.1', port: 0, baseUrl: 'http://127.0.0.1', profile: { name: 'p', kernel: 'vmlinuz' } }, { files: new DirectoryFileSource(dir), logger: pino({ level: 'silent' }) })
    await server.start()
  })
  afterAll(async () => { await server.stop() })

  it('survives 100,000 random, truncated and mutated chunks on 2,000 connections, then still serves', async () => {
    const rand = prng(0xb007)
    const valid = Buffer.from('GET /boot.ipxe?mac=52-54-00-00-00-01&arch=x86_64 HTTP/1.1\r\nHost: x\r\nRange: bytes=0-10\r\n\r\n')
    const heapBefore = process.memoryUsage().heapUsed
    let sent = 0
    for (let c = 0; c < 2000; c++) {
      const chunks: Buffer[] = []
      for (let i = 0; i < 50; i++, sent++) {
        const kind = rand()
        let b: Buffer
        if (kind < 0.4) b = Buffer.from(Array.from({ length: Math.floor(rand() * 200) }, () => Math.floor(rand() * 256)))
        else if (kind < 0.7) b = valid.subarray(0, Math.floor(rand() * valid.length))
        else {
          b = Buffer.from(valid)
          for (let k = 0; k < 1 + Math.floor(rand() * 6); k++) b[Math.floor(rand() * b.length)] = Math.floor(rand() * 256)
        }
        chunks.push(b)
      }
      await blast(server.port, chunks)
    }
    expect(sent).toBe(100_000)
    const script = await (await fetch(`http://127.0.0.1:${server.port}/boot.ipxe?mac=52-54-00-00-00-02`)).text()
    expect(script).toContain('boots profile p')
    const file = await fetch(`http://127.0.0.1:${server.port}/files/vmlinuz`)
    expect((await file.arrayBuffer()).byteLength).toBe(50_000)
    expect(process.memoryUsage().heapUsed - heapBefore).toBeLessThan(64 * 1024 * 1024)
  }, 240_000)
})
