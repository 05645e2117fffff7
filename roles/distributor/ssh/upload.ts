/**
 * SFTP uploads. A file is written under a temporary name beside its target, given its mode,
 * then renamed over the target in one step (`posix-rename@openssh.com`), so a reader never
 * sees half a file. Scripts go to a fresh name created exclusively (`wx`), mode 0700.
 */
import { randomBytes } from 'node:crypto'
import { Readable } from 'node:stream'
import { pipeline } from 'node:stream/promises'
import type { SFTPWrapper } from 'ssh2'

/** A file to put on every host before the command runs. */
export interface Upload {
  /** Absolute path on the host; an existing file there is replaced atomically. */
  path: string
  /** The bytes — or `stream`, a factory called once per host (a stream can be read only once). */
  content?: Buffer | Uint8Array | string
  stream?: () => NodeJS.ReadableStream | AsyncIterable<Uint8Array>
  /** File mode, default 0o644. */
  mode?: number
}

function call<T = void> (fn: (cb: (err: Error | null | undefined, value?: T) => void) => void): Promise<T> {
  return new Promise((resolve, reject) => fn((err, value) => { if (err !== undefined && err !== null) reject(err); else resolve(value as T) }))
}

function source (u: Pick<Upload, 'content' | 'stream'>): Readable {
  if (u.stream !== undefined) {
    const s = u.stream()
    return s instanceof Readable ? s : Readable.from(s as AsyncIterable<Uint8Array>, { objectMode: false })
  }
  const content = u.content ?? Buffer.alloc(0)
  return Readable.from([typeof content === 'string' ? Buffer.from(content) : Buffer.from(content.buffer, content.byteOffset, content.byteLength)], { objectMode: false })
}

/** Write `u` to a new file `path` (must not exist) with `mode`. */
export async function writeNew (sftp: SFTPWrapper, path: string, u: Pick<Upload, 'content' | 'stream'>, mode: number, signal: AbortSignal): Promise<void> {
  const ws = sftp.createWriteStream(path, { flags: 'wx', mode })
  await pipeline(source(u), ws, { signal })
  // the server applies its umask on create: set the mode we were asked for
  await call(cb => sftp.chmod(path, mode, cb))
}

/** Upload to a temp name beside `u.path`, then rename over it. Cleans up the temp file on failure. */
export async function upload (sftp: SFTPWrapper, u: Upload, signal: AbortSignal): Promise<void> {
  const tmp = `${u.path}.ctpf-${randomBytes(6).toString('hex')}.tmp`
  try {
    await writeNew(sftp, tmp, u, u.mode ?? 0o644, signal)
    try {
      await call(cb => sftp.ext_openssh_rename(tmp, u.path, cb))
    } catch (err) {
      if (!(err instanceof Error) || !/does not support/.test(err.message)) throw err
      // plain SFTP rename refuses to replace: remove the old file first (not atomic)
      await call(cb => sftp.unlink(u.path, cb)).catch(() => {})
      await call(cb => sftp.rename(tmp, u.path, cb))
    }
  } catch (err) {
    await remove(sftp, tmp)
    throw err
  }
}

/** Remove a file, ignoring errors (best effort cleanup). */
export async function remove (sftp: SFTPWrapper, path: string): Promise<void> {
  await call(cb => sftp.unlink(path, cb)).catch(() => {})
}

/** A fresh, unguessable path for a script under `dir`. */
export function scriptPath (dir: string): string {
  return `${dir.replace(/\/+$/, '')}/.ctpf-script-${randomBytes(9).toString('hex')}`
}
