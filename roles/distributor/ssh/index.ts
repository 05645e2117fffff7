/**
 * SSH distributor core: runs a command or a script on many registered hosts over SSH.
 *
 * - Connections: ssh2 over TCP sockets with noDelay, public-key authentication with the
 *   datacenter key (never logged). The host key is pinned — an OpenSSH key line (its type is
 *   then the only one negotiated) or a `SHA256:` fingerprint (compared with whatever key the
 *   host offers first: ed25519, then ecdsa, then rsa) — and checked during key exchange, so a
 *   host with a changed key is refused before any credential is sent.
 * - Commands: each argv word is quoted for the remote POSIX login shell (`shellQuote`);
 *   variables are exported in the command line (sshd refuses SSH env requests unless
 *   AcceptEnv allows them). The command runs under a small sh supervisor (supervise.ts) with
 *   stdin from /dev/null; scripts are uploaded over SFTP to a fresh 0700 file in
 *   `remoteTempDir`, run (directly, or as `interpreter… PATH`) and removed.
 * - Results: live output line by line; per host exit status or signal, output tails, timings,
 *   or an error with a stable code (errors.ts). One host's failure never stops the others
 *   unless `failFast`. Timeouts, cancellation and fail-fast send TERM, then KILL, to the remote
 *   process group and close the channel; a lost connection makes the supervisor do the same.
 *   (sshd ignores SSH `signal` requests for root sessions, so stdin carries them instead.)
 *
 * @example
 * ```ts
 * import { runOnHosts, generateKeyPair } from './roles/distributor/ssh/index.js'
 *
 * const results = await runOnHosts({
 *   hosts: [{ id: 'node-1', address: '10.0.0.11', user: 'root', hostKey: 'ssh-ed25519 AAAA…' }],
 *   privateKey: generalKey,              // Buffer, unsealed in memory only
 *   command: ['systemctl', 'restart', 'ctpf-agent'],
 *   env: { CTPF_DC: 'nbg1' },
 *   concurrency: 8, timeoutMs: 60_000, failFast: false
 * }, {
 *   signal: AbortSignal.timeout(300_000),
 *   onOutput: ({ host, stream, line }) => console.log(host, stream, line),
 *   onHostDone: (r) => console.log(r.host, r.ok ? 'ok' : r.error?.code)
 * })
 * ```
 */
export { runOnHosts, type HostResult, type HostError, type OutputLine, type RunHandlers } from './run.js'
export { RunOptionsSchema, type RunOptionsInit, type RunOptions } from './config.js'
export type { Upload } from './upload.js'
export { shellQuote, quoteArgv, buildCommandLine } from './quote.js'
export {
  generateKeyPair, fingerprint, fingerprintOfBlob, parsePublicKey, parseHostKeyPin,
  type SshKeyPair, type PublicKey, type HostKeyPin
} from './keys.js'
export * from './errors.js'
