/**
 * The demo's timeline: one line per step with the seconds since the start, indented detail
 * lines under it, and a progress line while a long step waits. On a terminal the progress line
 * is redrawn in place; otherwise (CI, a pipe) it is printed as its own line every few seconds,
 * so logs show that the demo is alive and what it waits for.
 *
 * Step lines have a fixed shape the e2e test reads:
 *   `[  12.3s] ok    agents     relay founded the mesh; dc1 and dc2 joined …`
 *   `[  98.0s] skip  ssh        skipped: ctpf ssh run not built yet`
 *   `[  40.2s] FAIL  boot       <what went wrong>`
 *
 * @example
 * const tl = new Timeline()
 * tl.ok('topology', 'wan, relay, dc1, dc2')
 * await tl.progress('boot', async update => { update('A: DHCP'); … })
 */
export class Timeline {
  constructor (out = process.stdout, { intervalMs } = {}) {
    this.out = out
    this.t0 = Date.now()
    this.tty = out.isTTY === true
    this.intervalMs = intervalMs ?? (this.tty ? 500 : 10_000)
    this.live = false
    this.skipped = []
  }

  elapsed () { return (Date.now() - this.t0) / 1000 }

  stamp () { return `[${this.elapsed().toFixed(1).padStart(6)}s]` }

  #write (line) {
    if (this.live && this.tty) this.out.write('\r\x1b[K')
    this.out.write(`${line}\n`)
  }

  /** A plain line (a heading, the final summary). */
  say (text) { this.#write(`${this.stamp()} ${text}`) }

  ok (step, detail) { this.#write(`${this.stamp()} ok    ${step.padEnd(10)} ${detail}`) }
  skip (step, reason) {
    this.skipped.push({ step, reason })
    this.#write(`${this.stamp()} skip  ${step.padEnd(10)} skipped: ${reason}`)
  }

  fail (step, detail) { this.#write(`${this.stamp()} FAIL  ${step.padEnd(10)} ${detail}`) }

  /** Detail lines under a step, indented past the stamp. */
  detail (...lines) { for (const l of lines) this.#write(`${' '.repeat(9)}       ${l}`) }

  /**
   * Runs `fn(update)` while showing a progress line for `step`: its elapsed seconds and the last
   * text given to `update`.
   */
  async progress (step, fn) {
    const started = Date.now()
    let text = ''
    const draw = () => {
      const line = `${this.stamp()} ..    ${step.padEnd(10)} ${Math.round((Date.now() - started) / 1000)}s ${text}`
      if (this.tty) this.out.write(`\r\x1b[K${line.slice(0, (this.out.columns ?? 120) - 1)}`)
      else this.out.write(`${line}\n`)
    }
    this.live = true
    const timer = setInterval(draw, this.intervalMs)
    try {
      return await fn(t => { text = t; if (this.tty) draw() })
    } finally {
      clearInterval(timer)
      if (this.tty) this.out.write('\r\x1b[K')
      this.live = false
    }
  }
}
