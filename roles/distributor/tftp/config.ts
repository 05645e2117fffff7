/** Configuration schema of the TFTP server (zod), parsed once and frozen. */
import { z } from 'zod'
import { MAX_BLKSIZE, MIN_BLKSIZE } from '../../../protocols/tftp/index.js'
import { InvalidConfigError } from './errors.js'

/** Largest window we accept: keeps 16-bit ACK numbers unambiguous and memory bounded. */
export const WINDOWSIZE_LIMIT = 1024

export const TftpConfigSchema = z.object({
  /** Address to bind. On multi-homed hosts bind the boot interface's address so replies leave from it. */
  address: z.union([z.ipv4(), z.ipv6()]).default('0.0.0.0'),
  /** UDP port for requests; 0 picks a free port (tests). */
  port: z.number().int().min(0).max(65535).default(69),
  /** Retransmit timeout per packet, unless the client negotiates RFC 2349 `timeout`. */
  timeoutMs: z.number().int().min(10).max(255_000).default(1000),
  /** Retransmissions without progress before a transfer is abandoned. */
  maxRetries: z.number().int().min(0).max(50).default(5),
  /** Largest blksize granted; 1468 keeps DATA inside a 1500-byte Ethernet frame. */
  maxBlksize: z.number().int().min(MIN_BLKSIZE).max(MAX_BLKSIZE).default(1468),
  /** Largest windowsize granted (RFC 7440). */
  maxWindowsize: z.number().int().min(1).max(WINDOWSIZE_LIMIT).default(16),
  /** Transfers running at once; further requests are dropped (clients retry). */
  maxSessions: z.number().int().min(1).max(10_000).default(64),
  /** Honour the client's RFC 2349 `timeout` option. */
  allowClientTimeout: z.boolean().default(true),
  /** At most one log line per interval about malformed packets and about dropped requests (refusals: one per second at most). */
  logIntervalMs: z.number().int().min(0).max(3_600_000).default(10_000)
}).strict()

export type TftpServerInit = z.input<typeof TftpConfigSchema>
export type TftpConfig = Readonly<z.output<typeof TftpConfigSchema>>

export function parseTftpConfig (init: TftpServerInit): TftpConfig {
  const result = TftpConfigSchema.safeParse(init)
  if (!result.success) throw new InvalidConfigError(`invalid TFTP server config: ${z.prettifyError(result.error)}`)
  return Object.freeze(result.data)
}
