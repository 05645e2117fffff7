import { execFileSync } from 'node:child_process'
import { mkdtemp, rm } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { expect, it } from 'vitest'
import { Artifacts } from '../../protocols/artifacts/index.js'
import { describePrivileged } from '../helpers/privileged.js'
import { openBlockstore, pseudoRandomStream, silent } from '../protocols/artifacts/helpers.js'

describePrivileged('blockstore on a full disk', ['mount', 'umount'], () => {
  it('fails an add with DISK_FULL on a full file system and keeps no partial artifact', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'ctpf-full-'))
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=4m', 'tmpfs', dir])
    try {
      const bs = await openBlockstore(join(dir, 'blocks'))
      const names = new Map<string, unknown>()
      const a = new Artifacts({
        self: 'self',
        libp2p: { handle: async () => {}, unhandle: async () => {}, dialProtocol: async () => { throw new Error('offline') }, getConnections: () => [] } as any,
        routing: { provide: async () => {}, findProviders: async function * () {} },
        blockstore: bs,
        names: { write: async (k, v) => { names.set(k, v) }, get: <T>(k: string) => names.get(k) as T },
        logger: silent
      })
      await expect(a.add(pseudoRandomStream(16 * 1024 * 1024, 1), { name: 'too/big' })).rejects.toMatchObject({ code: 'DISK_FULL' })
      expect(bs.stat()).toMatchObject({ blocks: 0, bytes: 0, pins: 0 })
      expect(names.size).toBe(0)
      // and the space is back: a small add fits
      expect((await a.add(pseudoRandomStream(1024 * 1024, 2))).size).toBe(1024 * 1024)
    } finally {
      execFileSync('umount', [dir])
      await rm(dir, { recursive: true, force: true })
    }
  })
})
