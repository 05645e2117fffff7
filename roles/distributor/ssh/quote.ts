/**
 * POSIX shell quoting for the remote command line. SSH carries one string that the remote
 * user's login shell parses (`$SHELL -c STRING`), so every argument is wrapped in single
 * quotes, and a single quote inside becomes `'\''` (close, escaped quote, reopen). Inside
 * single quotes a POSIX shell expands nothing: `$(…)`, backticks, `;`, `*`, newlines and
 * backslashes all arrive as written. NUL cannot be carried in an argv and is refused.
 */
import { SshConfigError } from './errors.js'

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/

/** One argument, quoted for a POSIX shell: `it's` → `'it'\''s'`, `` → `''`. */
export function shellQuote (arg: string): string {
  if (arg.includes('\0')) throw new SshConfigError('an argument contains a NUL byte, which no shell can pass')
  return `'${arg.replaceAll("'", "'\\''")}'`
}

/** An argv as one command line: every word quoted, joined with spaces. */
export function quoteArgv (argv: readonly string[]): string {
  if (argv.length === 0) throw new SshConfigError('the command is empty')
  return argv.map(shellQuote).join(' ')
}

/**
 * `export K='v' …; ` for `env` (empty for no variables). Variables are exported in the
 * command line itself (sshd's `AcceptEnv` refuses SSH `env` requests by default). Names must
 * be shell identifiers.
 */
export function exportPrefix (env: Readonly<Record<string, string>> = {}): string {
  const assignments = Object.entries(env).map(([name, value]) => {
    if (!ENV_NAME.test(name)) throw new SshConfigError(`invalid environment variable name ${JSON.stringify(name)}`)
    return `${name}=${shellQuote(value)}`
  })
  return assignments.length === 0 ? '' : `export ${assignments.join(' ')}; `
}

/** A full command line: `export K='v' …; 'argv0' 'arg1' …`. */
export function buildCommandLine (argv: readonly string[], env: Readonly<Record<string, string>> = {}): string {
  return `${exportPrefix(env)}${quoteArgv(argv)}`
}
