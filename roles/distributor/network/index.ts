/**
 * Network distributor: brings a provisioned host into the mesh over SSH. The agent bundle (the
 * mesh's own artifact `ctpf/agent`, so no internet is needed) and an invite token scoped to
 * that host (tags dc=<dc>, name=<hostname>; single-use, short-lived) are uploaded over SFTP —
 * the token to a 0600 file, never on a command line — and the agent is started as a systemd
 * unit, or as a detached process on hosts without systemd. The caller then waits until the
 * host shows up as a member (see the agent's `host-join` job).
 *
 * @example
 * ```ts
 * import { installAgent } from './roles/distributor/network/index.js'
 *
 * await installAgent({
 *   host: { id: 'node-1', address: '10.0.0.11', port: 22, user: 'root', hostKey },
 *   privateKey: dcKey, bundle: () => artifactBytes('ctpf/agent'), token
 * }, { onOutput: l => log(`${l.host}: ${l.line}`) })
 * ```
 */
export { installAgent, agentPaths, type InstallAgentInit, type InstallAgentOptions, type AgentPaths } from './install.js'
export * from './errors.js'
