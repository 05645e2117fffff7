/**
 * A stand-in for the `k3s` binary (k3s cannot be obtained on these machines): a POSIX sh
 * script that checks the arguments, environment and config.yaml it is given against k3s's
 * documented interface — subcommands `server`, `agent`, `kubectl`, `--version`; `--config`;
 * config keys named like k3s's flags; a token for agents and joining servers; `server:` /
 * K3S_URL of the form https://HOST:PORT; node-ip assigned to the host; flannel-iface an
 * existing interface — and exits non-zero on anything else.
 *
 * There is no real API server: a shared directory (`netDir`) plays the network. A server
 * "listens" by creating `<netDir>/<node-ip>:6443/` with its token and a `nodes/` list; agents
 * and joining servers must present the same token to register there; `k3s kubectl` reads the
 * list (get nodes, drain, delete node). A server writes its kubeconfig (server
 * https://127.0.0.1:6443, as k3s does) with the mode asked for. Every invocation's argv is
 * appended to `<netDir>/calls.log` (so a test can check that no secret is on a command line).
 *
 * @example
 * const k3s = await K3sStandin.create()     // k3s.binary: the executable, k3s.netDir
 * await k3s.nodes('10.0.0.11')              // [{ name, status, roles, version }]
 * await k3s.destroy()
 */
import { chmod, mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

export const STANDIN_VERSION = 'v1.31.4+k3s1'

function script (netDir: string): string {
  return `#!/bin/sh
# k3s stand-in for ctpf tests: checks its interface, keeps a node list in NET.
set -u
NET='${netDir}'
VERSION='${STANDIN_VERSION}'
printf '%s\\n' "$*" >>"$NET/calls.log"
die() { echo "k3s-standin: $*" >&2; exit 64; }
# value of key $1 in config $2, quotes removed
cfg() { sed -n "s/^$1:[[:space:]]*//p" "$2" | head -n 1 | sed 's/^"\\(.*\\)"$/\\1/'; }
check_keys() { # file allowed-keys...
  f=$1; shift
  while IFS= read -r line || [ -n "$line" ]; do
    case $line in ''|'#'*) continue ;; esac
    key=\${line%%:*}
    [ "$key" = "$line" ] && die "config $f: not a key: value line: $line"
    ok=
    for a in "$@"; do [ "$a" = "$key" ] && ok=1; done
    [ -n "$ok" ] || die "config $f: unknown key $key"
  done <"$f"
}
endpoint_of() { # https://host:port -> host:port
  case $1 in https://*:[0-9]*) ;; *) die "server URL must be https://HOST:PORT, got $1" ;; esac
  hp=\${1#https://}; hp=\${hp%/}
  case $hp in */*) die "server URL has a path: $1" ;; esac
  echo "$hp" | tr -d '[]'
}
node_line() { printf '%s %s %s\\n' "$1" "$2" "$VERSION"; }
run_node() { # role
  role=$1; shift
  config=\${K3S_CONFIG_FILE:-/etc/rancher/k3s/config.yaml}
  while [ $# -gt 0 ]; do
    case $1 in
      --config|-c) [ $# -ge 2 ] || die "$1 needs a value"; config=$2; shift 2 ;;
      --config=*) config=\${1#--config=}; shift ;;
      *) die "$role: unsupported flag $1" ;;
    esac
  done
  [ -f "$config" ] || die "config file $config not found"
  if [ "$role" = server ]; then
    check_keys "$config" token server node-ip node-name flannel-iface write-kubeconfig-mode cluster-init data-dir write-kubeconfig
  else
    check_keys "$config" token server node-ip node-name flannel-iface data-dir
  fi
  token=$(cfg token "$config"); token=\${token:-\${K3S_TOKEN:-}}
  server=$(cfg server "$config"); server=\${server:-\${K3S_URL:-}}
  nodeip=$(cfg node-ip "$config"); name=$(cfg node-name "$config"); iface=$(cfg flannel-iface "$config")
  datadir=$(cfg data-dir "$config"); datadir=\${datadir:-/var/lib/rancher/k3s}
  [ -n "$token" ] || die "$role: no token (config token or K3S_TOKEN)"
  [ -n "$name" ] || name=$(hostname)
  if [ -n "$nodeip" ]; then
    ip -o addr show | grep -q " inet6\\{0,1\\} $nodeip/" || die "node-ip $nodeip is not an address of this host"
  fi
  if [ -n "$iface" ]; then [ -e "/sys/class/net/$iface" ] || die "flannel-iface $iface: no such interface"; fi
  mkdir -p "$datadir/agent/images"
  if [ "$role" = agent ]; then [ -n "$server" ] || die "agent: no server (config server or K3S_URL)"; fi
  if [ -n "$server" ]; then
    hp=$(endpoint_of "$server") || exit 64
    ep="$NET/$hp"
    i=0; while [ ! -f "$ep/token" ]; do i=$((i + 1)); [ $i -gt 10 ] && die "cannot reach $server"; sleep 1; done
    [ "$(cat "$ep/token")" = "$token" ] || die "$server refused the token"
  fi
  if [ "$role" = server ]; then
    [ -n "$nodeip" ] || die "server: the stand-in needs node-ip"
    mode=$(cfg write-kubeconfig-mode "$config"); mode=\${mode:-0600}
    case $mode in [0-7][0-7][0-7]|[0-7][0-7][0-7][0-7]) ;; *) die "write-kubeconfig-mode $mode is not octal" ;; esac
    kc=$(cfg write-kubeconfig "$config"); kc=\${kc:-/etc/rancher/k3s/k3s.yaml}
    own="$NET/$nodeip:6443"
    if [ -n "$server" ]; then
      [ "$(cfg cluster-init "$config")" = true ] && die "a joining server must not set cluster-init"
      [ -e "$own" ] || ln -s "$ep" "$own"
    else
      mkdir -p "$own/nodes"; (umask 077; printf '%s' "$token" >"$own/token")
      ep=$own
    fi
    roles=control-plane,master
    [ "$(cfg cluster-init "$config")" = true ] || [ -n "$server" ] && roles=control-plane,etcd,master
    mkdir -p "$datadir/server"; (umask 077; printf '%s\\n' "$token" >"$datadir/server/token")
    mkdir -p "$(dirname "$kc")"
    (umask 077; cat >"$kc" <<KC
apiVersion: v1
clusters:
- cluster:
    certificate-authority-data: Y3RwZi1rM3Mtc3RhbmQtaW4K
    server: https://127.0.0.1:6443
  name: default
contexts:
- context:
    cluster: default
    user: default
  name: default
current-context: default
kind: Config
preferences: {}
users:
- name: default
  user:
    client-certificate-data: Y3RwZi1rM3Mtc3RhbmQtaW4tY2xpZW50Cg==
    client-key-data: Y3RwZi1rM3Mtc3RhbmQtaW4ta2V5Cg==
# ctpf-k3s-standin endpoint $nodeip:6443
KC
)
    chmod "$mode" "$kc"
  else
    roles='<none>'
  fi
  node_line Ready "$roles" >"$ep/nodes/$name"
  trap '[ -f "$ep/nodes/$name" ] && node_line NotReady "$roles" >"$ep/nodes/$name"; exit 0' TERM INT
  echo "k3s $role $name running" >&2
  while :; do sleep 1; done
}
kubectl() {
  kc=\${KUBECONFIG:-/etc/rancher/k3s/k3s.yaml}
  if [ "\${1:-}" = --kubeconfig ]; then [ $# -ge 2 ] || die "--kubeconfig needs a value"; kc=$2; shift 2; fi
  [ -r "$kc" ] || die "kubectl: cannot read kubeconfig $kc"
  url=$(sed -n 's/^ *server: *//p' "$kc" | head -n 1)
  case $url in
    https://127.0.0.1:*) hp=$(sed -n 's/^# ctpf-k3s-standin endpoint //p' "$kc") ;;
    *) hp=$(endpoint_of "$url") || exit 64 ;;
  esac
  ep="$NET/$hp"
  [ -d "$ep/nodes" ] || { echo "The connection to the server $url was refused" >&2; exit 1; }
  case "$*" in
    'get nodes'|'get nodes --no-headers')
      [ "$*" = 'get nodes' ] && echo 'NAME STATUS ROLES AGE VERSION'
      for f in "$ep/nodes"/*; do [ -f "$f" ] || continue; set -- $(cat "$f"); echo "$(basename "$f") $1 $2 1m $3"; done ;;
    'drain '*' --ignore-daemonsets --delete-emptydir-data --timeout='*)
      n=$2; [ -f "$ep/nodes/$n" ] || { echo "Error from server (NotFound): nodes \\"$n\\" not found" >&2; exit 1; }
      set -- $(cat "$ep/nodes/$n"); node_line "$1,SchedulingDisabled" "$2" >"$ep/nodes/$n"; echo "node/$n drained" ;;
    'delete node '*)
      n=$3; [ -f "$ep/nodes/$n" ] || { echo "Error from server (NotFound): nodes \\"$n\\" not found" >&2; exit 1; }
      rm -f "$ep/nodes/$n"; echo "node \\"$n\\" deleted" ;;
    *) die "kubectl: unsupported: $*" ;;
  esac
}
case \${1:-} in
  --version|-v) echo "k3s version $VERSION (ctpf-standin)"; echo 'go version go1.22.9' ;;
  server|agent) r=$1; shift; run_node "$r" "$@" ;;
  kubectl) shift; kubectl "$@" ;;
  *) die "unsupported invocation: $*" ;;
esac
`
}

export interface StandinNode { name: string, status: string, roles: string, version: string }

export class K3sStandin {
  private constructor (readonly dir: string, readonly netDir: string, readonly binary: string) {}

  static async create (): Promise<K3sStandin> {
    const dir = await mkdtemp(join(tmpdir(), 'ctpf-k3s-standin-'))
    const netDir = join(dir, 'net')
    const { mkdir } = await import('node:fs/promises')
    await mkdir(netDir)
    await writeFile(join(netDir, 'calls.log'), '')
    const binary = join(dir, 'k3s')
    await writeFile(binary, script(netDir))
    await chmod(binary, 0o755)
    return new K3sStandin(dir, netDir, binary)
  }

  /** The node list of the cluster whose (first) server is at `serverIp`. */
  async nodes (serverIp: string): Promise<StandinNode[]> {
    const dir = join(this.netDir, `${serverIp}:6443`, 'nodes')
    const names = await readdir(dir).catch(() => [] as string[])
    const out: StandinNode[] = []
    for (const name of names.sort()) {
      const [status, roles, version] = (await readFile(join(dir, name), 'utf8')).trim().split(' ')
      out.push({ name, status: status ?? '', roles: roles ?? '', version: version ?? '' })
    }
    return out
  }

  /** Every argv the stand-in was run with, one line each. */
  async calls (): Promise<string> {
    return await readFile(join(this.netDir, 'calls.log'), 'utf8')
  }

  async destroy (): Promise<void> {
    await rm(this.dir, { recursive: true, force: true })
  }
}
