/** Errors of the on-disk store. Tests assert on `code`. */
export class StoreError extends Error {
  constructor (readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'StoreError'
  }
}

export class StoreLockedError extends StoreError {
  constructor (dir: string, cause?: unknown) {
    super('STORE_LOCKED', `the store in ${dir} is in use by another process (is an agent already running on this data directory?)`, { cause })
    this.name = 'StoreLockedError'
  }
}

export class StoreCorruptError extends StoreError {
  constructor (dir: string, cause?: unknown) {
    super('STORE_CORRUPT', `the store in ${dir} cannot be opened: it looks corrupt (restore the data directory from a backup, or move it away to start fresh)`, { cause })
    this.name = 'StoreCorruptError'
  }
}

export class StoreSchemaError extends StoreError {
  constructor (dir: string, found: string, wanted: number) {
    super('STORE_SCHEMA', `the store in ${dir} has schema version ${found}; this agent reads version ${wanted} (upgrade the agent)`)
    this.name = 'StoreSchemaError'
  }
}
