/**
 * Request-name normalisation shared by every file source.
 *
 * TFTP names are relative to the served root. A leading `/` is dropped (`/pxelinux.0` means
 * `pxelinux.0`, as with `in.tftpd --secure`), `\` is a separator (Windows and some PXE ROMs),
 * empty and `.` segments vanish. Any `..` segment, NUL or control character is refused
 * outright rather than resolved, so `a/../b` is refused too.
 */
import { PathTraversalError } from './errors.js'

/** Normalise a requested name to `seg/seg/…` or throw `PathTraversalError`. */
export function normalizeRequestPath (name: string): string {
  if (name.length === 0) throw new PathTraversalError('empty file name')
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(name)) throw new PathTraversalError('file name contains NUL or control characters')
  const segments: string[] = []
  for (const segment of name.split(/[/\\]/)) {
    if (segment === '' || segment === '.') continue
    if (segment === '..') throw new PathTraversalError(`file name "${name}" contains ".."`)
    segments.push(segment)
  }
  if (segments.length === 0) throw new PathTraversalError(`file name "${name}" names the root directory`)
  return segments.join('/')
}
