/**
 * A `FileSource` serving one directory, jailed: names are normalised (no `..`, NUL or control
 * characters), the resolved real path (symlinks followed) must stay under the real root, and
 * only regular files are served. The final component is opened with O_NOFOLLOW so a symlink
 * swapped in after the check is not followed.
 */
import { constants, promises as fs } from 'node:fs'
import { join, sep } from 'node:path'
import type { FileSource, OpenedFile } from './index.js'
import { NotReadableError, PathOutsideRootError } from './errors.js'
import { normalizeRequestPath } from './path.js'

const READ_CHUNK = 64 * 1024

function errnoCode (err: unknown): string | undefined {
  return typeof err === 'object' && err !== null && 'code' in err ? String((err as { code: unknown }).code) : undefined
}

export class DirectoryFileSource implements FileSource {
  private rootReal: Promise<string> | undefined

  constructor (readonly root: string) {}

  private async realRoot (): Promise<string> {
    this.rootReal ??= fs.realpath(this.root)
    return await this.rootReal
  }

  async open (name: string, _options: { signal?: AbortSignal } = {}): Promise<OpenedFile | undefined> {
    const relative = normalizeRequestPath(name)
    const root = await this.realRoot()
    let real: string
    try {
      real = await fs.realpath(join(root, relative))
    } catch (err) {
      const code = errnoCode(err)
      if (code === 'ENOENT' || code === 'ENOTDIR') return undefined
      if (code === 'ELOOP') throw new PathOutsideRootError(`"${relative}" is a symlink loop`)
      throw new NotReadableError(`"${relative}" cannot be resolved: ${code ?? 'unknown error'}`)
    }
    if (!real.startsWith(root.endsWith(sep) ? root : root + sep)) {
      throw new PathOutsideRootError(`"${relative}" resolves outside the served root`)
    }
    let handle: fs.FileHandle
    try {
      handle = await fs.open(real, constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK)
    } catch (err) {
      const code = errnoCode(err)
      if (code === 'ENOENT') return undefined
      throw new NotReadableError(`"${relative}" cannot be opened: ${code ?? 'unknown error'}`)
    }
    const stat = await handle.stat()
    if (!stat.isFile()) {
      await handle.close()
      throw new NotReadableError(`"${relative}" is not a regular file`)
    }
    let closed = false
    const close = async (): Promise<void> => {
      if (closed) return
      closed = true
      await handle.close()
    }
    async function * chunks (): AsyncGenerator<Uint8Array> {
      let position = 0
      while (!closed) {
        const buffer = Buffer.allocUnsafe(READ_CHUNK)
        const { bytesRead } = await handle.read(buffer, 0, READ_CHUNK, position)
        if (bytesRead === 0) return
        position += bytesRead
        yield buffer.subarray(0, bytesRead)
      }
    }
    return { size: stat.size, stream: chunks(), close }
  }
}
