/**
 * Puts the ctpf agent on a host over SSH and starts it: the bundle (an artifact of the mesh, no
 * internet needed) to /opt/ctpf/ctpf.mjs, the invite token to /etc/ctpf/join.token with mode
 * 0600 over SFTP (never on a command line), a systemd unit, and then the agent — the unit where
 * the host runs systemd, a detached process (setsid) where it does not. With `overlay`, the
 * agent's config.json gets the mesh's overlay range, so the host joins the overlay too.
 */
import { posix } from 'node:path'
import type { Logger } from 'pino'
import { runOnHosts, type HostResult, type OutputLine } from '../ssh/index.js'
import { AgentInstallError, NetworkConfigError } from './errors.js'

export interface AgentPaths {
  root: string
  bundle: string
  tokenFile: string
  dataDir: string
  unit: string
  runDir: string
  /** The agent's config file (written only when there is something to configure). */
  config: string
}

export function agentPaths (root: string): AgentPaths {
  const r = (p: string): string => posix.join(root, p)
  return {
    root,
    bundle: r('/opt/ctpf/ctpf.mjs'),
    tokenFile: r('/etc/ctpf/join.token'),
    dataDir: r('/var/lib/ctpf'),
    unit: r('/etc/systemd/system/ctpf-agent.service'),
    runDir: r('/run/ctpf'),
    config: r('/var/lib/ctpf/config.json')
  }
}

export interface InstallAgentInit {
  host: { id: string, address: string, port: number, user: string, hostKey: string }
  /** The datacenter's SSH key (in memory only). */
  privateKey: Buffer
  /** The agent bundle's bytes (artifact `ctpf/agent`); called once. */
  bundle: () => AsyncIterable<Uint8Array>
  /** The invite token for this host. Secret: goes to a 0600 file only. */
  token: string
  /** Where the files go ('/' on a real host). */
  root?: string
  /** The Node.js executable on the host (>= 20). */
  node?: string
  /** Mesh listen addresses of the new agent (default: its address, port 4001). */
  listen?: string[]
  /** systemd when the host has it ('auto'), or always a detached process. */
  init?: 'auto' | 'detached'
  /** The overlay of the mesh (its IPv4 range, the same on every agent): the host's agent takes part in it. */
  overlay?: { range: string }
  timeoutMs?: number
  logger?: Logger
}

export interface InstallAgentOptions {
  signal?: AbortSignal
  onOutput?: (line: OutputLine) => void
}

function renderUnit (argv: string[]): string {
  return [
    '[Unit]',
    'Description=ctpf agent',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    `ExecStart=${argv.join(' ')}`,
    'Restart=always',
    'RestartSec=5s',
    'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_RAW CAP_NET_BIND_SERVICE',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    ''
  ].join('\n')
}

/** Reads variables only (paths and addresses, nothing secret) and builds the agent's argv from them. */
const START_SCRIPT = `set -eu
run=$CTPF_AGENT_RUN
set -- "$CTPF_AGENT_NODE" "$CTPF_AGENT_BUNDLE" agent --data-dir "$CTPF_AGENT_DATA" --join-file "$CTPF_AGENT_TOKEN_FILE"
for l in $CTPF_AGENT_LISTEN; do set -- "$@" --listen "$l"; done
if [ "$CTPF_AGENT_INIT" = auto ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  systemctl enable --now ctpf-agent
  sleep 2
  systemctl is-active --quiet ctpf-agent || { journalctl -u ctpf-agent -n 20 --no-pager >&2 || true; exit 3; }
else
  mkdir -p "$run"
  if [ -f "$run/agent.pid" ] && kill -0 "$(cat "$run/agent.pid")" 2>/dev/null; then
    echo "the agent is running already"
  else
    setsid nohup "$@" </dev/null >>"$run/agent.log" 2>&1 &
    echo $! >"$run/agent.pid"
  fi
  sleep 2
  kill -0 "$(cat "$run/agent.pid")" 2>/dev/null || { echo "the agent exited; the end of its log:" >&2; tail -n 20 "$run/agent.log" >&2; exit 3; }
fi
echo "ctpf agent started"
`

function why (r: HostResult): string {
  const err = r.stderr.trim().split('\n').slice(-5).join(' / ')
  return `${r.error?.code ?? 'failed'}: ${r.error?.message ?? ''}${err !== '' ? ` (${err})` : ''}`
}

/** Installs and starts the agent on one host. Resolves when it runs (not yet when it joined). */
export async function installAgent (init: InstallAgentInit, o: InstallAgentOptions = {}): Promise<{ paths: AgentPaths }> {
  const p = agentPaths(init.root ?? '/')
  if (init.token.trim() === '') throw new NetworkConfigError('an invite token is needed')
  if (init.overlay != null && !/^\d{1,3}(\.\d{1,3}){3}\/\d{1,2}$/.test(init.overlay.range)) throw new NetworkConfigError(`invalid overlay range ${JSON.stringify(init.overlay.range)}`)
  const listen = init.listen ?? [`/ip${init.host.address.includes(':') ? 6 : 4}/${init.host.address}/tcp/4001`]
  const argv = [init.node ?? 'node', p.bundle, 'agent', '--data-dir', p.dataDir, '--join-file', p.tokenFile, ...listen.flatMap(l => ['--listen', l])]
  const base = {
    hosts: [init.host],
    privateKey: init.privateKey,
    timeoutMs: init.timeoutMs ?? 300_000
  }
  const handlers = {
    ...(o.signal !== undefined ? { signal: o.signal } : {}),
    ...(init.logger !== undefined ? { logger: init.logger } : {})
  }
  const [prep] = await runOnHosts({ ...base, command: ['mkdir', '-p', posix.dirname(p.bundle), posix.dirname(p.tokenFile), posix.dirname(p.unit), p.runDir] }, handlers)
  if (prep?.ok !== true) throw new AgentInstallError(init.host.id, `preparing directories: ${why(prep as HostResult)}`)
  // the data directory holds the agent's keys
  const [dd] = await runOnHosts({ ...base, command: ['install', '-d', '-m', '0700', p.dataDir] }, handlers)
  if (dd?.ok !== true) throw new AgentInstallError(init.host.id, `creating ${p.dataDir}: ${why(dd as HostResult)}`)
  const [started] = await runOnHosts({
    ...base,
    uploads: [
      { path: p.bundle, stream: init.bundle, mode: 0o644 },
      { path: p.tokenFile, content: init.token, mode: 0o600 },
      { path: p.unit, content: renderUnit(argv), mode: 0o644 },
      ...(init.overlay != null ? [{ path: p.config, content: JSON.stringify({ overlay: { range: init.overlay.range } }, null, 2) + '\n', mode: 0o600 }] : [])
    ],
    script: { content: START_SCRIPT, interpreter: ['/bin/sh'] },
    env: {
      CTPF_AGENT_RUN: p.runDir,
      CTPF_AGENT_INIT: init.init ?? 'auto',
      CTPF_AGENT_NODE: init.node ?? 'node',
      CTPF_AGENT_BUNDLE: p.bundle,
      CTPF_AGENT_DATA: p.dataDir,
      CTPF_AGENT_TOKEN_FILE: p.tokenFile,
      CTPF_AGENT_LISTEN: listen.join(' ')
    }
  }, { ...handlers, ...(o.onOutput !== undefined ? { onOutput: o.onOutput } : {}) })
  if (started?.ok !== true) throw new AgentInstallError(init.host.id, why(started as HostResult))
  return { paths: p }
}
