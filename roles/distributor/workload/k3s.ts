/**
 * What k3s expects on a host, as its documentation describes the air-gapped installation:
 * the binary at /usr/local/bin/k3s, the image bundle in /var/lib/rancher/k3s/agent/images/,
 * the configuration in /etc/rancher/k3s/config.yaml (keys named like the flags: token, server,
 * node-ip, node-name, flannel-iface, write-kubeconfig-mode, cluster-init, data-dir,
 * write-kubeconfig), the kubeconfig at /etc/rancher/k3s/k3s.yaml, a systemd unit per role.
 *
 * Every path sits under a `root` ('/' on real hosts): a test points each host at its own
 * directory, and k3s is told so through its own options (`--config`, `data-dir`,
 * `write-kubeconfig`), not through anything k3s lacks.
 */
import { posix } from 'node:path'

export type NodeRole = 'server' | 'agent'

export interface K3sPaths {
  root: string
  bin: string
  configDir: string
  config: string
  kubeconfig: string
  dataDir: string
  imagesDir: string
  images: string
  unitDir: string
  /** Where the process id and log go when there is no systemd. */
  runDir: string
  /** The uninstall scripts the upstream installer leaves (used when present). */
  uninstall: Record<NodeRole, string>
  killall: string
}

export function k3sPaths (root: string): K3sPaths {
  const r = (p: string): string => posix.join(root, p)
  return {
    root,
    bin: r('/usr/local/bin/k3s'),
    configDir: r('/etc/rancher/k3s'),
    config: r('/etc/rancher/k3s/config.yaml'),
    kubeconfig: r('/etc/rancher/k3s/k3s.yaml'),
    dataDir: r('/var/lib/rancher/k3s'),
    imagesDir: r('/var/lib/rancher/k3s/agent/images'),
    images: r('/var/lib/rancher/k3s/agent/images/k3s-airgap-images.tar'),
    unitDir: r('/etc/systemd/system'),
    runDir: r('/run/ctpf-k3s'),
    uninstall: { server: r('/usr/local/bin/k3s-uninstall.sh'), agent: r('/usr/local/bin/k3s-agent-uninstall.sh') },
    killall: r('/usr/local/bin/k3s-killall.sh')
  }
}

/** `k3s` for a server, `k3s-agent` for an agent (the upstream installer's unit names). */
export function unitName (role: NodeRole): string {
  return role === 'server' ? 'k3s' : 'k3s-agent'
}

export interface NodeConfig {
  role: NodeRole
  token: string
  /** `https://<server>:6443` for agents and for servers joining an existing one. */
  server?: string
  /** The first server of a cluster with several servers (embedded etcd). */
  clusterInit?: boolean
  nodeIp: string
  nodeName: string
  flannelIface: string
  paths: K3sPaths
}

/** A YAML scalar: JSON strings are valid YAML double-quoted scalars. */
const q = (s: string): string => JSON.stringify(s)

/** /etc/rancher/k3s/config.yaml for one node. Holds the token: uploaded with mode 0600 only. */
export function renderConfig (c: NodeConfig): string {
  const lines = [
    '# written by ctpf (workload distributor); keys are k3s\'s command-line flags',
    `token: ${q(c.token)}`,
    `node-ip: ${q(c.nodeIp)}`,
    `node-name: ${q(c.nodeName)}`,
    `flannel-iface: ${q(c.flannelIface)}`
  ]
  if (c.server !== undefined) lines.push(`server: ${q(c.server)}`)
  if (c.role === 'server') {
    lines.push('write-kubeconfig-mode: "0600"')
    if (c.clusterInit === true) lines.push('cluster-init: true')
  }
  // the defaults on a real host; spelled out only when the host's root is elsewhere
  if (c.paths.root !== '/') {
    lines.push(`data-dir: ${q(c.paths.dataDir)}`)
    if (c.role === 'server') lines.push(`write-kubeconfig: ${q(c.paths.kubeconfig)}`)
  }
  return lines.join('\n') + '\n'
}

/** The systemd unit (as the upstream installer writes it, minus its environment file). */
export function renderUnit (role: NodeRole, paths: K3sPaths): string {
  return [
    '[Unit]',
    'Description=Lightweight Kubernetes (installed by ctpf)',
    'Documentation=https://k3s.io',
    'Wants=network-online.target',
    'After=network-online.target',
    '',
    '[Service]',
    `Type=${role === 'server' ? 'notify' : 'exec'}`,
    'KillMode=process',
    'Delegate=yes',
    'LimitNOFILE=1048576',
    'LimitNPROC=infinity',
    'LimitCORE=infinity',
    'TasksMax=infinity',
    'TimeoutStartSec=0',
    'Restart=always',
    'RestartSec=5s',
    'ExecStartPre=-/sbin/modprobe br_netfilter',
    'ExecStartPre=-/sbin/modprobe overlay',
    `ExecStart=${paths.bin} ${role} --config ${paths.config}`,
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    ''
  ].join('\n')
}

/**
 * Starts k3s on a host whose files are in place, and waits until it runs (a server: until its
 * kubeconfig is written and its API answers). With systemd: the unit; without (containers,
 * test hosts): a detached process (setsid), its pid in `runDir`. Prints `ctpf-k3s-version: …`.
 * Parameters come as environment variables (paths and the role: nothing secret).
 */
export const START_SCRIPT = `set -eu
bin=$CTPF_K3S_BIN; role=$CTPF_K3S_ROLE; config=$CTPF_K3S_CONFIG; run=$CTPF_K3S_RUN
echo "ctpf-k3s-version: $("$bin" --version | head -n 1)"
if [ "$CTPF_K3S_INIT" = auto ] && [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1; then
  systemctl daemon-reload
  systemctl enable --now "$CTPF_K3S_UNIT"
  started() { systemctl is-active --quiet "$CTPF_K3S_UNIT"; }
else
  mkdir -p "$run"
  if [ -f "$run/$role.pid" ] && kill -0 "$(cat "$run/$role.pid")" 2>/dev/null; then
    echo "k3s $role is running already"
  else
    setsid nohup "$bin" "$role" --config "$config" </dev/null >>"$run/$role.log" 2>&1 &
    echo $! >"$run/$role.pid"
  fi
  started() { kill -0 "$(cat "$run/$role.pid")" 2>/dev/null; }
fi
i=0
while :; do
  if ! started; then
    echo "k3s $role exited; the end of its log:" >&2
    tail -n 20 "$run/$role.log" >&2 2>/dev/null || true
    exit 3
  fi
  if [ "$role" = agent ]; then
    [ "$i" -ge 2 ] && break
  elif [ -s "$CTPF_K3S_KUBECONFIG" ] && "$bin" kubectl --kubeconfig "$CTPF_K3S_KUBECONFIG" get nodes --no-headers >/dev/null 2>&1; then
    break
  fi
  i=$((i + 1))
  if [ "$i" -ge "$CTPF_K3S_WAIT" ]; then echo "k3s $role not ready after $i s" >&2; exit 4; fi
  sleep 1
done
echo "k3s $role started"
`

/**
 * Stops k3s on a host and removes what ctpf put there. The upstream uninstall script is used
 * when the host has one; otherwise the process (or unit) is stopped and the files removed.
 */
export const REMOVE_SCRIPT = `set -u
role=$CTPF_K3S_ROLE; run=$CTPF_K3S_RUN
# running, and not a zombie waiting for a busy parent to reap it
alive() { kill -0 "$1" 2>/dev/null && ! grep -q '^State:[[:space:]]*Z' "/proc/$1/status" 2>/dev/null; }
if [ -x "$CTPF_K3S_UNINSTALL" ]; then
  "$CTPF_K3S_UNINSTALL"
  exit $?
fi
if [ -d /run/systemd/system ] && command -v systemctl >/dev/null 2>&1 && [ -f "$CTPF_K3S_UNIT_FILE" ]; then
  systemctl disable --now "$CTPF_K3S_UNIT" || true
  rm -f "$CTPF_K3S_UNIT_FILE"
  systemctl daemon-reload || true
fi
if [ -f "$run/$role.pid" ]; then
  pid=$(cat "$run/$role.pid")
  kill -TERM "$pid" 2>/dev/null || true
  i=0
  while alive "$pid" && [ "$i" -lt 20 ]; do sleep 0.5; i=$((i + 1)); done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  rm -f "$run/$role.pid"
fi
[ -x "$CTPF_K3S_KILLALL" ] && "$CTPF_K3S_KILLALL" || true
rm -rf "$CTPF_K3S_CONFIG_DIR" "$CTPF_K3S_DATA_DIR" "$CTPF_K3S_BIN"
echo "k3s $role removed"
`

/** Variables the scripts above read. */
export function scriptEnv (role: NodeRole, paths: K3sPaths, o: { init: 'auto' | 'detached', waitSeconds: number }): Record<string, string> {
  return {
    CTPF_K3S_BIN: paths.bin,
    CTPF_K3S_ROLE: role,
    CTPF_K3S_CONFIG: paths.config,
    CTPF_K3S_CONFIG_DIR: paths.configDir,
    CTPF_K3S_DATA_DIR: paths.dataDir,
    CTPF_K3S_KUBECONFIG: paths.kubeconfig,
    CTPF_K3S_RUN: paths.runDir,
    CTPF_K3S_UNIT: unitName(role),
    CTPF_K3S_UNIT_FILE: posix.join(paths.unitDir, `${unitName(role)}.service`),
    CTPF_K3S_UNINSTALL: paths.uninstall[role],
    CTPF_K3S_KILLALL: paths.killall,
    CTPF_K3S_INIT: o.init,
    CTPF_K3S_WAIT: String(Math.max(1, Math.ceil(o.waitSeconds)))
  }
}

/** `k3s kubectl` with the node's kubeconfig. */
export function kubectl (paths: K3sPaths, ...args: string[]): string[] {
  return [paths.bin, 'kubectl', '--kubeconfig', paths.kubeconfig, ...args]
}

export interface NodeStatus { name: string, status: string, roles: string, version: string }

/** Parses `kubectl get nodes --no-headers` (NAME STATUS ROLES AGE VERSION). */
export function parseNodes (text: string): NodeStatus[] {
  return text.split('\n').map(l => l.trim()).filter(l => l.length > 0).map(l => l.split(/\s+/)).filter(f => f.length >= 5)
    .map(f => ({ name: f[0] as string, status: f[1] as string, roles: f[2] as string, version: f[4] as string }))
}

/** `k3s version v1.31.0+k3s1 (…)` → `v1.31.0+k3s1`. */
export function parseVersion (text: string): string | undefined {
  return /ctpf-k3s-version: k3s version (\S+)/.exec(text)?.[1]
}

/** The kubeconfig k3s writes points at 127.0.0.1: point it at the server's address. */
export function rewriteKubeconfig (text: string, serverUrl: string): string {
  return text.replace(/(server:\s*)https:\/\/(127\.0\.0\.1|localhost|\[::1\]):6443/g, `$1${serverUrl}`)
}

export function serverUrl (address: string): string {
  return `https://${address.includes(':') ? `[${address}]` : address}:6443`
}
