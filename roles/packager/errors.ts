/**
 * Errors of the packager role. One class per condition, each with a stable `code` (static and
 * on the instance). Tests and callers assert on `code`, never on message text.
 */

export abstract class PackagerError extends Error {
  abstract readonly code: string
}

/** An input file (an iPXE binary, a loader) does not exist or is not a regular file. */
export class MissingInputError extends PackagerError {
  static readonly code = 'ERR_PACKAGER_MISSING_INPUT'
  readonly code = MissingInputError.code
  override readonly name = 'MissingInputError'
  /** `role` says what the file was for, e.g. `files.lkrn` or `loaders.isolinuxBin`. */
  constructor (readonly role: string, readonly path: string, options?: ErrorOptions) {
    super(`${role}: input file ${path} is missing or not a regular file`, options)
  }
}

/** A program (xorriso, mformat, syslinux, …) is not installed, or a loader file of its package is missing. */
export class MissingToolError extends PackagerError {
  static readonly code = 'ERR_PACKAGER_MISSING_TOOL'
  readonly code = MissingToolError.code
  override readonly name = 'MissingToolError'
  constructor (readonly tool: string, readonly path: string, readonly debianPackage: string, options?: ErrorOptions) {
    super(`${tool} (${path}) is not available: install the Debian package "${debianPackage}" (scripts/install-test-deps.sh)`, options)
  }
}

/** A program ran and failed (non-zero exit or killed by its time limit). */
export class ToolFailedError extends PackagerError {
  static readonly code = 'ERR_PACKAGER_TOOL_FAILED'
  readonly code = ToolFailedError.code
  override readonly name = 'ToolFailedError'
  constructor (readonly tool: string, readonly exitCode: number | null, readonly stderr: string, options?: ErrorOptions) {
    super(`${tool} failed (exit ${String(exitCode)}): ${stderr.trim().slice(-600)}`, options)
  }
}

/** The options are unusable: no script, a script that is not an iPXE script, no binary for any platform. */
export class InvalidPackageOptionsError extends PackagerError {
  static readonly code = 'ERR_PACKAGER_INVALID_OPTIONS'
  readonly code = InvalidPackageOptionsError.code
  override readonly name = 'InvalidPackageOptionsError'
}

/** A PXE set's output directory already exists (a directory cannot be replaced atomically). */
export class OutputExistsError extends PackagerError {
  static readonly code = 'ERR_PACKAGER_OUTPUT_EXISTS'
  readonly code = OutputExistsError.code
  override readonly name = 'OutputExistsError'
  constructor (readonly path: string) {
    super(`output ${path} already exists`)
  }
}

/** The caller's signal aborted the run; nothing was written under the output name. */
export class PackagingAbortedError extends PackagerError {
  static readonly code = 'ERR_PACKAGER_ABORTED'
  readonly code = PackagingAbortedError.code
  override readonly name = 'PackagingAbortedError'
}
