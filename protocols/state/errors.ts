/** Errors of the replicated state. Tests assert on `code`. */
export class StateError extends Error {
  constructor (readonly code: string, message: string) {
    super(message)
    this.name = 'StateError'
  }
}

/** A record refused at the boundary; `reason` is a short stable word for metrics. */
export class StateRecordRefusedError extends StateError {
  constructor (readonly reason: 'malformed' | 'signature' | 'foreign' | 'author' | 'unauthorized' | 'future' | 'oversize' | 'value' | 'pending', message: string) {
    super('STATE_RECORD_REFUSED', message)
    this.name = 'StateRecordRefusedError'
  }
}

export class StateKeyError extends StateError {
  constructor (key: string, why: string) {
    super('STATE_KEY_INVALID', `state key "${key}": ${why}`)
    this.name = 'StateKeyError'
  }
}
