/**
 * Option negotiation for read requests (RFC 2347).
 *
 * Known options: blksize (RFC 2348, clamped to the configured maximum), tsize (RFC 2349,
 * answered with the file size), timeout (RFC 2349, seconds), windowsize (RFC 7440, clamped).
 * Unknown options and known options with invalid values are not acknowledged; the transfer
 * then uses the defaults for them, which RFC 2347 allows. We never answer with error 8.
 */
import {
  DEFAULT_BLKSIZE, MAX_BLKSIZE, MAX_TIMEOUT_S, MAX_WINDOWSIZE, MIN_BLKSIZE, MIN_TIMEOUT_S, MIN_WINDOWSIZE
} from '../../../protocols/tftp/index.js'
import type { TftpConfig } from './config.js'

export interface Negotiated {
  blksize: number
  windowsize: number
  timeoutMs: number
  /** Options to acknowledge; empty means no OACK is sent and DATA starts at once. */
  oack: Map<string, string>
}

function parseInteger (value: string, min: number, max: number): number | undefined {
  if (!/^[0-9]{1,10}$/.test(value)) return undefined
  const n = Number(value)
  return n >= min && n <= max ? n : undefined
}

export function negotiate (requested: ReadonlyMap<string, string>, size: number, config: TftpConfig): Negotiated {
  const result: Negotiated = { blksize: DEFAULT_BLKSIZE, windowsize: 1, timeoutMs: config.timeoutMs, oack: new Map() }
  for (const [name, value] of requested) {
    switch (name) {
      case 'blksize': {
        // RFC 2348 allows 8–65464; larger requests are answered with what we grant
        const n = parseInteger(value, MIN_BLKSIZE, Number.MAX_SAFE_INTEGER)
        if (n === undefined) break
        result.blksize = Math.min(n, MAX_BLKSIZE, config.maxBlksize)
        result.oack.set('blksize', String(result.blksize))
        break
      }
      case 'tsize':
        if (parseInteger(value, 0, Number.MAX_SAFE_INTEGER) === undefined) break
        result.oack.set('tsize', String(size))
        break
      case 'timeout': {
        const n = parseInteger(value, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
        if (n === undefined || !config.allowClientTimeout) break
        result.timeoutMs = n * 1000
        result.oack.set('timeout', String(n))
        break
      }
      case 'windowsize': {
        const n = parseInteger(value, MIN_WINDOWSIZE, MAX_WINDOWSIZE)
        if (n === undefined) break
        result.windowsize = Math.min(n, config.maxWindowsize)
        result.oack.set('windowsize', String(result.windowsize))
        break
      }
      default:
        break
    }
  }
  return result
}
