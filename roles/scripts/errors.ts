/**
 * Errors of the scripts role. One class per condition; callers and tests match on `code`.
 * Template errors carry the 1-based `line` and a `reason`; `template` names the profile field
 * the template came from (`cmdline`, `installer.kickstart`, `arch.arm64.cmdline`, …) when known.
 */

/** Base of every template error: `line` (1-based), `reason`, and the stable `code`. */
export abstract class TemplateError extends Error {
  abstract readonly code: string
  /** The profile field the template came from, when known. */
  template?: string
  constructor (readonly line: number, readonly reason: string, template?: string) {
    super(`${template ?? 'template'} line ${line}: ${reason}`)
    this.template = template
  }

  /** Names the template (a profile field) and rewrites the message to say so. */
  in (template: string): this {
    this.template = template
    this.message = `${template} line ${this.line}: ${this.reason}`
    return this
  }
}

/** Malformed tag, unbalanced block, bad filter argument, … */
export class TemplateSyntaxError extends TemplateError {
  static readonly code = 'ERR_TEMPLATE_SYNTAX'
  readonly code = TemplateSyntaxError.code
  override readonly name = 'TemplateSyntaxError'
}

/** A variable that is not in TEMPLATE_VARIABLES (nor a loop variable in scope). */
export class UnknownVariableError extends TemplateError {
  static readonly code = 'ERR_TEMPLATE_UNKNOWN_VARIABLE'
  readonly code = UnknownVariableError.code
  override readonly name = 'UnknownVariableError'
  constructor (line: number, readonly variable: string, reason?: string) {
    super(line, reason ?? `unknown variable "${variable}"`)
  }
}

/** A filter that does not exist. */
export class UnknownFilterError extends TemplateError {
  static readonly code = 'ERR_TEMPLATE_UNKNOWN_FILTER'
  readonly code = UnknownFilterError.code
  override readonly name = 'UnknownFilterError'
  constructor (line: number, readonly filter: string) {
    super(line, `unknown filter "${filter}"`)
  }
}

/** A list or map where text is needed (or the reverse), e.g. `{{ host.addresses }}`. */
export class TemplateTypeError extends TemplateError {
  static readonly code = 'ERR_TEMPLATE_TYPE'
  readonly code = TemplateTypeError.code
  override readonly name = 'TemplateTypeError'
}

/** Rendering failed for this host: a value is missing or carries control characters. */
export class TemplateRenderError extends TemplateError {
  static readonly code = 'ERR_TEMPLATE_RENDER'
  readonly code = TemplateRenderError.code
  override readonly name = 'TemplateRenderError'
}

/** A profile or group failed its schema. `issues` lists `path: message` lines. */
export class InvalidProfileError extends Error {
  static readonly code = 'ERR_SCRIPTS_INVALID_PROFILE'
  readonly code = InvalidProfileError.code
  override readonly name = 'InvalidProfileError'
  constructor (message: string, readonly issues: readonly string[] = []) {
    super(message)
  }
}

export class InvalidGroupError extends Error {
  static readonly code = 'ERR_SCRIPTS_INVALID_GROUP'
  readonly code = InvalidGroupError.code
  override readonly name = 'InvalidGroupError'
  constructor (message: string, readonly issues: readonly string[] = []) {
    super(message)
  }
}

/** Two groups some host could match both of, at the same specificity, with nothing more specific covering it. */
export class GroupTieError extends Error {
  static readonly code = 'ERR_SCRIPTS_GROUP_TIE'
  readonly code = GroupTieError.code
  override readonly name = 'GroupTieError'
  constructor (readonly groups: readonly [string, string], readonly specificity: number, readonly example: string) {
    super(`groups "${groups[0]}" and "${groups[1]}" tie: a host with ${example} matches both with ${specificity} selector field(s); ` +
      'make one more specific, or add a group whose selector covers both')
  }
}

/** Two groups with the same name. */
export class DuplicateGroupError extends Error {
  static readonly code = 'ERR_SCRIPTS_DUPLICATE_GROUP'
  readonly code = DuplicateGroupError.code
  override readonly name = 'DuplicateGroupError'
  constructor (readonly group: string) {
    super(`group "${group}" is defined twice`)
  }
}

/** A group names a profile that does not exist (checked only when the profile names are given). */
export class UnknownProfileError extends Error {
  static readonly code = 'ERR_SCRIPTS_UNKNOWN_PROFILE'
  readonly code = UnknownProfileError.code
  override readonly name = 'UnknownProfileError'
  constructor (readonly group: string, readonly profile: string) {
    super(`group "${group}" uses profile "${profile}", which does not exist`)
  }
}

/** iPXE cannot boot this (architecture, platform) pair, e.g. arm64 with pcbios. */
export class UnsupportedPlatformError extends Error {
  static readonly code = 'ERR_SCRIPTS_UNSUPPORTED_PLATFORM'
  readonly code = UnsupportedPlatformError.code
  override readonly name = 'UnsupportedPlatformError'
  constructor (readonly arch: string, readonly platform: string) {
    super(`cannot boot architecture "${arch}" on platform "${platform}"`)
  }
}

/** A value that would change the meaning of an iPXE script line (`${`, `||`, quotes, newlines, …). */
export class UnsafeScriptValueError extends Error {
  static readonly code = 'ERR_SCRIPTS_UNSAFE_VALUE'
  readonly code = UnsafeScriptValueError.code
  override readonly name = 'UnsafeScriptValueError'
  constructor (readonly what: string, reason: string) {
    super(`${what} cannot go into an iPXE script: ${reason}`)
  }
}

/** The profile has no installer config of the kind asked for. */
export class NoInstallerConfigError extends Error {
  static readonly code = 'ERR_SCRIPTS_NO_INSTALLER_CONFIG'
  readonly code = NoInstallerConfigError.code
  override readonly name = 'NoInstallerConfigError'
  constructor (readonly profile: string, readonly kind: string) {
    super(`profile "${profile}" has no ${kind} config`)
  }
}
