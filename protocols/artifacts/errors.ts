/**
 * Errors of the artifact protocols. One class per condition with a stable `code`; the
 * blockstore's own errors (QUOTA_EXCEEDED, DISK_FULL, BLOCK_NOT_FOUND, BLOCK_INVALID,
 * CID_UNSUPPORTED, DAG_INCOMPLETE, NOT_PINNED) are re-exported from here.
 */
export { BlockstoreError, BlockNotFoundError, BlockInvalidError, DagIncompleteError, DiskFullError, NotPinnedError, QuotaExceededError, UnsupportedCidError } from '../../store/blockstore.js'

export class ArtifactError extends Error {
  constructor (readonly code: string, message: string, options?: { cause?: unknown }) {
    super(message, options)
    this.name = 'ArtifactError'
  }
}

export class InvalidCidError extends ArtifactError {
  constructor (input: string, cause?: unknown) {
    super('CID_INVALID', `not a valid CID: ${JSON.stringify(input.slice(0, 120))}`, { cause })
    this.name = 'InvalidCidError'
  }
}

export class ArtifactNotFoundError extends ArtifactError {
  constructor (readonly cid: string, detail = 'no provider in the mesh has it') {
    super('ARTIFACT_NOT_FOUND', `artifact ${cid} was not found: ${detail}`)
    this.name = 'ArtifactNotFoundError'
  }
}

export class FetchFailedError extends ArtifactError {
  constructor (readonly cid: string, detail: string, cause?: unknown) {
    super('FETCH_FAILED', `fetching ${cid} failed: ${detail}`, { cause })
    this.name = 'FetchFailedError'
  }
}

export class UploadTruncatedError extends ArtifactError {
  constructor (readonly received: number, readonly expected?: number, cause?: unknown) {
    super('UPLOAD_TRUNCATED', expected == null
      ? `the upload ended with an error after ${received} bytes`
      : `the upload ended after ${received} of ${expected} bytes`, { cause })
    this.name = 'UploadTruncatedError'
  }
}

export class RangeNotSatisfiableError extends ArtifactError {
  constructor (readonly size: number, offset: number, length?: number) {
    super('RANGE_NOT_SATISFIABLE', `range offset ${offset}${length == null ? '' : ` length ${length}`} is outside the artifact of ${size} bytes`)
    this.name = 'RangeNotSatisfiableError'
  }
}

export class NotAFileError extends ArtifactError {
  constructor (readonly cid: string, type: string) {
    super('NOT_A_FILE', `${cid} is a ${type}, not a file`)
    this.name = 'NotAFileError'
  }
}

export class CarInvalidError extends ArtifactError {
  constructor (detail: string, cause?: unknown) {
    super('CAR_INVALID', `the CAR file is invalid: ${detail}`, { cause })
    this.name = 'CarInvalidError'
  }
}

export class NameInvalidError extends ArtifactError {
  constructor (name: string) {
    super('NAME_INVALID', `${JSON.stringify(name.slice(0, 200))} is not a valid artifact name (letters, digits and . _ - + = @ : separated by /, at most 200 characters)`)
    this.name = 'NameInvalidError'
  }
}

export class NameNotFoundError extends ArtifactError {
  constructor (readonly artifactName: string) {
    super('NAME_NOT_FOUND', `no artifact is named ${artifactName}`)
    this.name = 'NameNotFoundError'
  }
}

export class AbortedError extends ArtifactError {
  constructor (what: string, cause?: unknown) {
    super('ABORTED', `${what} was aborted`, { cause })
    this.name = 'AbortedError'
  }
}
