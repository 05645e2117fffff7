/** Logs at most one line per interval and reports how many were suppressed in between. */
import type { Logger } from 'pino'

export class RateLimitedLog {
  private last = Number.NEGATIVE_INFINITY
  private suppressed = 0

  constructor (
    private readonly logger: Logger,
    private readonly intervalMs: number,
    private readonly level: 'warn' | 'info' = 'warn',
    private readonly now: () => number = Date.now
  ) {}

  log (fields: Record<string, unknown>, message: string): void {
    const t = this.now()
    if (t - this.last < this.intervalMs) {
      this.suppressed++
      return
    }
    this.logger[this.level]({ ...fields, suppressed: this.suppressed }, message)
    this.last = t
    this.suppressed = 0
  }
}
