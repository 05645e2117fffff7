/** Errors of the artifact blockstore. Tests assert on `code`. */
export class BlockstoreError extends Error {
  constructor (readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'BlockstoreError'
  }
}

export class BlockNotFoundError extends BlockstoreError {
  constructor (readonly cid: string) {
    super('BLOCK_NOT_FOUND', `block ${cid} is not in the local blockstore`)
    this.name = 'BlockNotFoundError'
  }
}

export class BlockInvalidError extends BlockstoreError {
  constructor (readonly cid: string, reason: string) {
    super('BLOCK_INVALID', `block ${cid} does not match its CID: ${reason}`)
    this.name = 'BlockInvalidError'
  }
}

export class UnsupportedCidError extends BlockstoreError {
  constructor (readonly cid: string, reason: string) {
    super('CID_UNSUPPORTED', `CID ${cid} is not supported: ${reason} (only sha2-256 over raw or dag-pb blocks)`)
    this.name = 'UnsupportedCidError'
  }
}

export class QuotaExceededError extends BlockstoreError {
  constructor (readonly usedBytes: number, readonly wantedBytes: number, readonly quotaBytes: number) {
    super('QUOTA_EXCEEDED', `the artifact store quota of ${quotaBytes} bytes would be exceeded (${usedBytes} used, ${wantedBytes} more wanted); unpin artifacts and run gc, or raise the quota`)
    this.name = 'QuotaExceededError'
  }
}

export class DiskFullError extends BlockstoreError {
  constructor (dir: string, cause?: unknown) {
    super('DISK_FULL', `the disk holding ${dir} is full; free space, unpin artifacts and run gc`, { cause })
    this.name = 'DiskFullError'
  }
}

export class DagIncompleteError extends BlockstoreError {
  constructor (readonly root: string, readonly missing: string) {
    super('DAG_INCOMPLETE', `cannot pin ${root}: block ${missing} is missing locally (fetch it first)`)
    this.name = 'DagIncompleteError'
  }
}

export class NotPinnedError extends BlockstoreError {
  constructor (readonly cid: string) {
    super('NOT_PINNED', `${cid} is not pinned`)
    this.name = 'NotPinnedError'
  }
}

export class SessionClosedError extends BlockstoreError {
  constructor () {
    super('SESSION_CLOSED', 'the operation writing this block was already undone')
    this.name = 'SessionClosedError'
  }
}
