/**
 * Rate-limited warnings: at most `perMinute` lines a minute, then one line saying how many
 * were suppressed. Keeps a flood of garbage packets from becoming a flood of logs.
 */
import type { Logger } from 'pino'

export class LogLimiter {
  private windowStart = 0
  private count = 0
  private suppressed = 0

  constructor (private readonly log: Logger, private readonly perMinute: number, private readonly now: () => number = Date.now) {}

  warn (fields: Record<string, unknown>, message: string): void {
    const now = this.now()
    if (now - this.windowStart >= 60_000) {
      if (this.suppressed > 0) this.log.warn({ suppressed: this.suppressed }, 'suppressed repeated warnings about malformed input')
      this.windowStart = now
      this.count = 0
      this.suppressed = 0
    }
    if (this.count < this.perMinute) {
      this.count++
      this.log.warn(fields, message)
    } else {
      this.suppressed++
    }
  }
}
