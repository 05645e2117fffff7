/**
 * Errors of the builder. One class per condition; the job runner and tests match on `code`.
 */

/** The build spec (or a recipe's params) does not validate. `issues` lists each problem. */
export class BuildSpecError extends Error {
  static readonly code = 'ERR_BUILD_SPEC'
  readonly code = BuildSpecError.code
  override readonly name = 'BuildSpecError'
  constructor (message: string, readonly issues: readonly string[] = []) {
    super(message)
  }
}

/** A build command exited non-zero or was killed by a signal (e.g. a resource limit). */
export class BuildFailedError extends Error {
  static readonly code = 'ERR_BUILD_FAILED'
  readonly code = BuildFailedError.code
  override readonly name = 'BuildFailedError'
  constructor (readonly command: string, readonly exitCode: number | null, readonly signal: string | null, readonly tail: readonly string[]) {
    super(`${command} ${signal != null ? `was killed by ${signal}` : `exited with status ${String(exitCode)}`}` +
      (tail.length > 0 ? `; last output:\n${tail.join('\n')}` : ''))
  }
}

/** The build ran past its `timeoutMs`; its processes were killed. */
export class BuildTimeoutError extends Error {
  static readonly code = 'ERR_BUILD_TIMEOUT'
  readonly code = BuildTimeoutError.code
  override readonly name = 'BuildTimeoutError'
  constructor (readonly timeoutMs: number) {
    super(`build did not finish within ${timeoutMs} ms`)
  }
}

/** The caller's AbortSignal fired; the build's processes were killed. */
export class BuildCancelledError extends Error {
  static readonly code = 'ERR_BUILD_CANCELLED'
  readonly code = BuildCancelledError.code
  override readonly name = 'BuildCancelledError'
  constructor (options?: ErrorOptions) {
    super('build cancelled', options)
  }
}

/** A declared output is not there after a successful build. */
export class BuildOutputMissingError extends Error {
  static readonly code = 'ERR_BUILD_OUTPUT_MISSING'
  readonly code = BuildOutputMissingError.code
  override readonly name = 'BuildOutputMissingError'
  constructor (readonly path: string) {
    super(`build output ${path} was not produced`)
  }
}

/** A declared output is not a regular file inside the job directory (a directory, a device, a symlink out). */
export class BuildOutputInvalidError extends Error {
  static readonly code = 'ERR_BUILD_OUTPUT_INVALID'
  readonly code = BuildOutputInvalidError.code
  override readonly name = 'BuildOutputInvalidError'
  constructor (readonly path: string, reason: string) {
    super(`build output ${path} ${reason}`)
  }
}

/** Fetching the source artifact failed. */
export class BuildSourceError extends Error {
  static readonly code = 'ERR_BUILD_SOURCE'
  readonly code = BuildSourceError.code
  override readonly name = 'BuildSourceError'
  constructor (readonly cid: string, options?: ErrorOptions) {
    super(`cannot fetch build source ${cid}: ${errorMessage(options?.cause)}`, options)
  }
}

/** A tool the recipe needs is not installed on this agent. */
export class BuildToolMissingError extends Error {
  static readonly code = 'ERR_BUILD_TOOL_MISSING'
  readonly code = BuildToolMissingError.code
  override readonly name = 'BuildToolMissingError'
  constructor (readonly tool: string, hint?: string) {
    super(`the recipe needs ${tool}, which is not installed${hint != null ? ` (${hint})` : ''}`)
  }
}

/** `isolation: 'bwrap'` was required but bubblewrap is missing or cannot create namespaces here. */
export class SandboxUnavailableError extends Error {
  static readonly code = 'ERR_BUILD_SANDBOX_UNAVAILABLE'
  readonly code = SandboxUnavailableError.code
  override readonly name = 'SandboxUnavailableError'
  constructor (reason: string) {
    super(`bubblewrap sandbox unavailable: ${reason}`)
  }
}

export type BuildError = BuildSpecError | BuildFailedError | BuildTimeoutError | BuildCancelledError |
BuildOutputMissingError | BuildOutputInvalidError | BuildSourceError | BuildToolMissingError | SandboxUnavailableError

function errorMessage (e: unknown): string {
  return e instanceof Error ? e.message : String(e)
}
