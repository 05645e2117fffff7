/**
 * A hybrid logical clock: wall-clock milliseconds plus a counter, so that stamps are unique
 * per agent, never go backwards, and follow causality across agents whose clocks differ a
 * little. Compare stamps with `compareStamps`; ties between agents break on the author.
 */
export interface Stamp { t: number, c: number }

export function compareStamps (a: Stamp, b: Stamp): number {
  return a.t !== b.t ? a.t - b.t : a.c - b.c
}

export class HybridClock {
  #last: Stamp = { t: 0, c: 0 }
  readonly #now: () => number

  constructor (now: () => number = Date.now) {
    this.#now = now
  }

  /** A stamp for a local event. */
  tick (): Stamp {
    const wall = this.#now()
    this.#last = wall > this.#last.t ? { t: wall, c: 0 } : { t: this.#last.t, c: this.#last.c + 1 }
    return { ...this.#last }
  }

  /** Moves the clock past a stamp seen from another agent. */
  observe (remote: Stamp): void {
    if (compareStamps(remote, this.#last) > 0) this.#last = { ...remote }
  }
}
