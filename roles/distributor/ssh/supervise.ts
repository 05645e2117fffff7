/**
 * The remote supervisor: a few lines of POSIX sh that run the command and kill it on request.
 *
 * sshd honours SSH `signal` requests only for sessions under privilege separation — not for
 * root logins (OpenSSH 9.2 refuses them: "session signalling requires privilege separation").
 * So the channel's stdin is the lifeline instead: the command runs with stdin from /dev/null,
 * and a watcher reads the channel's stdin. A line `TERM` or `KILL` sends that signal to the session's process group (sshd starts every session in its own group); end of
 * input — the channel closed or the connection lost — sends TERM, then KILL after a grace
 * period. When the command ends by itself the watcher is removed and its status passed on.
 * Processes that leave the group (setsid daemons) are not touched.
 */
import { exportPrefix, quoteArgv } from './quote.js'

const WATCHER = [
  'exec 3<&0',
  '"$@" </dev/null 3<&- &',
  'c=$!',
  '(',
  "  trap '' TERM",
  '  while IFS= read -r s; do',
  '    case $s in TERM|KILL) kill -s "$s" 0 ;; esac',
  '  done',
  '  kill -s TERM 0',
  '  sleep "$CTPF_SSH_GRACE"',
  '  kill -s KILL 0',
  ') <&3 >/dev/null 2>&1 &',
  'w=$!',
  'exec 3<&-',
  'wait "$c"',
  'r=$?',
  'kill -s KILL "$w" 2>/dev/null',
  'exit "$r"'
].join('\n')

/** Signals the client may ask the supervisor to send (one per line on stdin). */
export type SupervisorSignal = 'TERM' | 'KILL'

/**
 * The remote command line: variables exported, then `exec /bin/sh -c WATCHER ctpf-run ARGV…`.
 * The argv reaches the command untouched (`"$@"`); nothing in it is parsed twice.
 */
export function supervisedCommandLine (argv: readonly string[], env: Readonly<Record<string, string>>, graceMs: number): string {
  const grace = String(Math.max(1, Math.ceil(graceMs / 1000)))
  return `${exportPrefix({ ...env, CTPF_SSH_GRACE: grace })}exec ${quoteArgv(['/bin/sh', '-c', WATCHER, 'ctpf-run', ...argv])}`
}
