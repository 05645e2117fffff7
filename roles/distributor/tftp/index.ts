/**
 * TFTP server of the distributor role: serves boot files (read-only) to PXE clients.
 *
 * RFC 1350 reads in octet and netascii mode — netascii is served byte-for-byte as stored
 * (no LF→CRLF conversion), so `tsize` is always exact; boot files are binary anyway.
 * Options: blksize (RFC 2348), tsize and timeout (RFC 2349), windowsize (RFC 7440), negotiated
 * with OACK (RFC 2347). Block numbers roll over from 65535 to 0. Each transfer has its own
 * socket (TID), retransmits on timeout with bounded retries, and ignores duplicate ACKs.
 * Write requests get "access violation". Names go through a path jail (`normalizeRequestPath`
 * for every source, plus the symlink check of `DirectoryFileSource`).
 *
 * @example
 * ```ts
 * import pino from 'pino'
 * import { createTftpServer, DirectoryFileSource } from './roles/distributor/tftp/index.js'
 *
 * const server = createTftpServer(
 *   { address: '10.0.0.1', port: 69, maxBlksize: 1468, maxWindowsize: 16 },
 *   { logger: pino(), files: new DirectoryFileSource('/srv/tftp') }
 * )
 * server.on('file:served', (e) => console.log(e.file, e.bytes, e.durationMs))
 * server.on('transfer:failed', (e) => console.log(e.file, e.error.code))
 * await server.start() // PrivilegedPortError without root/CAP_NET_BIND_SERVICE
 * console.log(server.metrics.filesServed)
 * await server.stop()
 * ```
 */
import type { Logger } from 'pino'
import { parseTftpConfig, type TftpServerInit } from './config.js'
import type { TftpServerError } from './errors.js'
import { TftpServer } from './server.js'

/** An opened file: its exact size and its bytes in order. `close()` is always called. */
export interface OpenedFile {
  size: number
  stream: AsyncIterable<Uint8Array>
  close: () => Promise<void> | void
}

/**
 * Where served files come from. `name` is already normalised (`a/b/c`, no `..`).
 * Resolve `undefined` when the name does not exist; throw an `AccessDeniedError` subclass to
 * answer "access violation"; anything else is answered with error 0.
 */
export interface FileSource {
  open: (name: string, options?: { signal?: AbortSignal }) => Promise<OpenedFile | undefined>
}

export interface TftpServerComponents {
  logger: Logger
  files: FileSource
}

export interface FileServedEvent {
  file: string
  host: string
  port: number
  size: number
  bytes: number
  blocks: number
  durationMs: number
  retransmits: number
}

export interface TransferFailedEvent {
  file: string
  host: string
  port: number
  bytes: number
  durationMs: number
  retransmits: number
  error: TftpServerError
}

export interface TftpServerEvents {
  'file:served': [FileServedEvent]
  'transfer:failed': [TransferFailedEvent]
}

/** Validate `init` (throws `InvalidConfigError`) and build a stopped server. */
export function createTftpServer (init: TftpServerInit, components: TftpServerComponents): TftpServer {
  return new TftpServer(parseTftpConfig(init), components.files, components.logger)
}

export { TftpServer } from './server.js'
export { DirectoryFileSource } from './directory-source.js'
export { normalizeRequestPath } from './path.js'
export { TftpConfigSchema, type TftpServerInit, type TftpConfig } from './config.js'
export type { TftpMetrics } from './metrics.js'
export * from './errors.js'
