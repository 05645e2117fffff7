/**
 * The raw on-disk block files: one file per block under `<dir>/<2 chars>/<cid>`, written to a
 * temporary name and renamed, so a block file is either absent or whole. Keyed by the CIDv1
 * string. No accounting here: see blockstore.ts.
 */
import { mkdir, open, readdir, readFile, rename, stat, unlink, writeFile } from 'node:fs/promises'
import { join } from 'node:path'
import { BlockNotFoundError, DiskFullError } from './blockstore-errors.js'

const TMP = '.tmp'
let tmpSeq = 0

export class FsBlocks {
  readonly #dir: string
  readonly #made = new Set<string>()

  constructor (dir: string) {
    this.#dir = dir
  }

  get dir (): string { return this.#dir }

  #shard (key: string): string { return key.slice(-3, -1) }
  #path (key: string): string { return join(this.#dir, this.#shard(key), key) }

  /** Creates the directory, removes stale temporary files, and lists every block with its size. */
  async open (): Promise<Map<string, number>> {
    await mkdir(this.#dir, { recursive: true })
    const sizes = new Map<string, number>()
    for (const shard of await readdir(this.#dir)) {
      const sdir = join(this.#dir, shard)
      let names: string[]
      try { names = await readdir(sdir) } catch { continue }
      this.#made.add(shard)
      for (const name of names) {
        const p = join(sdir, name)
        if (name.endsWith(TMP)) { await unlink(p).catch(() => {}); continue }
        sizes.set(name, (await stat(p)).size)
      }
    }
    return sizes
  }

  async read (key: string): Promise<Uint8Array> {
    try {
      const buf = await readFile(this.#path(key))
      return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength)
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new BlockNotFoundError(key)
      throw err
    }
  }

  /** Reads `length` bytes at `offset` of a block (for ranges inside large raw leaves). */
  async readRange (key: string, offset: number, length: number): Promise<Uint8Array> {
    const fh = await open(this.#path(key), 'r').catch((err: NodeJS.ErrnoException) => {
      throw err.code === 'ENOENT' ? new BlockNotFoundError(key) : err
    })
    try {
      const buf = Buffer.allocUnsafe(length)
      const { bytesRead } = await fh.read(buf, 0, length, offset)
      return new Uint8Array(buf.buffer, buf.byteOffset, bytesRead)
    } finally { await fh.close() }
  }

  async write (key: string, bytes: Uint8Array): Promise<void> {
    const shard = this.#shard(key)
    if (!this.#made.has(shard)) {
      await mkdir(join(this.#dir, shard), { recursive: true })
      this.#made.add(shard)
    }
    const final = this.#path(key)
    const tmp = `${final}.${process.pid}.${tmpSeq++}${TMP}`
    try {
      await writeFile(tmp, bytes)
      await rename(tmp, final)
    } catch (err) {
      await unlink(tmp).catch(() => {})
      const code = (err as NodeJS.ErrnoException).code
      if (code === 'ENOSPC' || code === 'EDQUOT') throw new DiskFullError(this.#dir, err)
      throw err
    }
  }

  async remove (key: string): Promise<void> {
    await unlink(this.#path(key)).catch((err: NodeJS.ErrnoException) => { if (err.code !== 'ENOENT') throw err })
  }
}
