/** Structured logs (pino) to stderr, so stdout stays for what a command prints. */
import { pino } from 'pino'
import type { Logger } from 'pino'

export function createLogger (level: string): Logger {
  return pino({
    level,
    base: { pid: process.pid },
    // secrets must never reach a log line, whatever a caller passes in
    redact: { paths: ['token', '*.token', 'privateKey', '*.privateKey', 'authorization', '*.authorization'], censor: '[redacted]' }
  }, pino.destination({ fd: 2, sync: false }))
}
