/**
 * cloud-init user-data that turns a fresh cloud server into a ctpf agent of this mesh.
 *
 * The document is `#cloud-config` followed by JSON (YAML is a superset of JSON, so no value
 * can break out of its string). What it does on first boot:
 * - writes the invite token to /etc/ctpf/join-token, mode 0600, owner root — the token is in
 *   no command line, no unit file and no script;
 * - writes the bundle URL and its sha256 to one-value files, and an install script;
 * - runs the script: download the bundle, check its sha256 **before** putting it in place
 *   (a mismatch leaves nothing to run), write the agent's listen address from the metadata
 *   service, then enable the systemd unit, which runs
 *   `node /opt/ctpf/ctpf.mjs agent --data-dir /var/lib/ctpf --join-file /etc/ctpf/join-token --tag …`.
 * The unit only starts when the verified bundle exists (`ConditionPathExists`).
 *
 * Hetzner stores user-data with the server: the invite token there is single-use and expires
 * (1 h by default), so it is useless once the agent has joined.
 */
import { HetznerConfigError, UserDataTooLargeError } from './errors.js'

/** Hetzner's limit on `user_data`. */
export const MAX_USER_DATA_BYTES = 32 * 1024

export const PATHS = {
  configDir: '/etc/ctpf',
  joinToken: '/etc/ctpf/join-token',
  bundleUrl: '/etc/ctpf/bundle-url',
  bundleSha256: '/etc/ctpf/bundle-sha256',
  listenPort: '/etc/ctpf/listen-port',
  metadataUrl: '/etc/ctpf/metadata-url',
  installScript: '/usr/local/lib/ctpf/install-agent.sh',
  installDir: '/opt/ctpf',
  bundle: '/opt/ctpf/ctpf.mjs',
  dataDir: '/var/lib/ctpf',
  unit: '/etc/systemd/system/ctpf-agent.service'
} as const

export const HETZNER_METADATA_URL = 'http://169.254.169.254/hetzner/v1/metadata'

/** How the new server gets the agent: a bundle (dist/ctpf.mjs), e.g. served by the mesh over HTTP. */
export interface AgentInstall {
  /** http(s) URL of the bundle, e.g. `https://boot.example.net/artifacts/<cid>`. */
  url: string
  /** Lowercase hex sha256 of the bundle; checked before the bundle is installed or run. */
  sha256: string
  /** apt packages installed first; default `['nodejs', 'curl', 'ca-certificates']` (the image's Node must be ≥ 20). */
  packages?: string[]
  /** Absolute path of the node binary; default `/usr/bin/node`. */
  node?: string
  /** Mesh listen port, on the server's public IPv4 from the metadata service; default 4001. */
  listenPort?: number
}

export interface UserDataSpec {
  inviteToken: string
  agentInstall: AgentInstall
  /** Tags of the new agent (`dc` is set by the adapter). */
  tags: Record<string, string>
}

const TOKEN_RE = /^ctpf1\.[A-Za-z0-9_-]{1,8000}\.[A-Za-z0-9_-]{1,200}$/
const TAG_KEY_RE = /^[A-Za-z0-9][A-Za-z0-9._/-]{0,62}$/
const TAG_VALUE_RE = /^[A-Za-z0-9._:/-]{0,128}$/
const PACKAGE_RE = /^[a-z0-9][a-z0-9.+-]{0,127}$/

/** The install script. Takes every value from files; nothing is interpolated into it. */
export const INSTALL_SCRIPT = `#!/bin/sh
# ctpf: install the agent bundle after checking its sha256.
# usage: install-agent.sh CONFIG_DIR INSTALL_DIR DATA_DIR [--start]
set -eu
conf=$1
dest=$2
data=$3
url=$(cat "$conf/bundle-url")
want=$(cat "$conf/bundle-sha256")
case $want in
  *[!0-9a-f]*|'') echo "ctpf: $conf/bundle-sha256 is not a hex sha256" >&2; exit 2 ;;
esac
if [ \${#want} -ne 64 ]; then echo "ctpf: $conf/bundle-sha256 is not 64 hex digits" >&2; exit 2; fi
case $url in
  https://*|http://*) ;;
  *) echo "ctpf: $conf/bundle-url is not an http(s) URL" >&2; exit 2 ;;
esac
mkdir -p "$dest" "$data"
chmod 0700 "$data"
part="$dest/ctpf.mjs.part"
rm -f "$part"
if ! curl -fsSL --proto '=https,http' --retry 10 --retry-delay 3 --retry-connrefused -o "$part" --url "$url"; then
  rm -f "$part"
  echo "ctpf: could not download the agent bundle" >&2
  exit 3
fi
got=$(sha256sum "$part" | cut -d ' ' -f 1)
if [ "$got" != "$want" ]; then
  rm -f "$part"
  echo "ctpf: agent bundle sha256 $got does not match $want: not installed" >&2
  exit 4
fi
chmod 0644 "$part"
mv -f "$part" "$dest/ctpf.mjs"
if [ -s "$conf/listen-port" ]; then
  port=$(cat "$conf/listen-port")
  case $port in *[!0-9]*|'') echo "ctpf: $conf/listen-port is not a number" >&2; exit 2 ;; esac
  ip=$(curl -fsS --retry 5 --retry-connrefused --max-time 10 --url "$(cat "$conf/metadata-url")/public-ipv4" || true)
  case $ip in
    *[!0-9.]*|'') echo "ctpf: no public IPv4 from the metadata service; listening on 0.0.0.0" >&2; ip=0.0.0.0 ;;
  esac
  printf '{"listen":["/ip4/%s/tcp/%s"]}\\n' "$ip" "$port" > "$data/config.json.part"
  chmod 0600 "$data/config.json.part"
  mv -f "$data/config.json.part" "$data/config.json"
fi
if [ "\${4:-}" = "--start" ]; then
  systemctl daemon-reload
  systemctl enable --now ctpf-agent.service
fi
`

/** Validates the spec; throws HetznerConfigError without echoing the token. */
export function checkAgentInstall (install: AgentInstall): Required<AgentInstall> {
  let url: URL
  try {
    url = new URL(install.url)
  } catch {
    throw new HetznerConfigError('agentInstall.url is not a URL')
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new HetznerConfigError('agentInstall.url must be http(s)')
  if (url.username !== '' || url.password !== '') throw new HetznerConfigError('agentInstall.url must not carry credentials')
  if (!/^[\x21-\x7e]{1,2048}$/.test(url.href)) throw new HetznerConfigError('agentInstall.url must be 1-2048 printable characters')
  if (!/^[0-9a-f]{64}$/.test(install.sha256)) throw new HetznerConfigError('agentInstall.sha256 must be 64 lowercase hex digits')
  const packages = install.packages ?? ['nodejs', 'curl', 'ca-certificates']
  for (const p of packages) if (!PACKAGE_RE.test(p)) throw new HetznerConfigError(`package name ${JSON.stringify(p)} is invalid`)
  const node = install.node ?? '/usr/bin/node'
  if (!/^\/[A-Za-z0-9._/-]{1,255}$/.test(node)) throw new HetznerConfigError('agentInstall.node must be an absolute path')
  const listenPort = install.listenPort ?? 4001
  if (!Number.isInteger(listenPort) || listenPort < 1 || listenPort > 65535) throw new HetznerConfigError('agentInstall.listenPort must be 1-65535')
  return { url: url.href, sha256: install.sha256, packages, node, listenPort }
}

export function checkTags (tags: Record<string, string>): void {
  for (const [k, v] of Object.entries(tags)) {
    if (!TAG_KEY_RE.test(k)) throw new HetznerConfigError(`tag key ${JSON.stringify(k)} is invalid`)
    if (!TAG_VALUE_RE.test(v)) throw new HetznerConfigError(`tag value of ${k} is invalid`)
  }
}

function unitFile (node: string, tags: Record<string, string>): string {
  const args = [node, PATHS.bundle, 'agent', '--data-dir', PATHS.dataDir, '--join-file', PATHS.joinToken]
  for (const [k, v] of Object.entries(tags).sort(([a], [b]) => a.localeCompare(b))) args.push('--tag', `${k}=${v}`)
  return [
    '[Unit]',
    'Description=ctpf agent',
    'Wants=network-online.target',
    'After=network-online.target',
    `ConditionPathExists=${PATHS.bundle}`,
    '',
    '[Service]',
    `ExecStart=${args.join(' ')}`,
    'Restart=on-failure',
    'RestartSec=5',
    'AmbientCapabilities=CAP_NET_ADMIN CAP_NET_BIND_SERVICE',
    '',
    '[Install]',
    'WantedBy=multi-user.target',
    ''
  ].join('\n')
}

/** Renders the `#cloud-config` document. Throws HetznerConfigError or UserDataTooLargeError. */
export function renderUserData (spec: UserDataSpec): string {
  if (typeof spec.inviteToken !== 'string' || !TOKEN_RE.test(spec.inviteToken.trim())) {
    throw new HetznerConfigError('inviteToken is not a ctpf1.<payload>.<signature> invite token')
  }
  const install = checkAgentInstall(spec.agentInstall)
  checkTags(spec.tags)
  const config = {
    package_update: true,
    packages: install.packages,
    write_files: [
      { path: PATHS.joinToken, owner: 'root:root', permissions: '0600', content: spec.inviteToken.trim() + '\n' },
      { path: PATHS.bundleUrl, owner: 'root:root', permissions: '0644', content: install.url + '\n' },
      { path: PATHS.bundleSha256, owner: 'root:root', permissions: '0644', content: install.sha256 + '\n' },
      { path: PATHS.listenPort, owner: 'root:root', permissions: '0644', content: `${install.listenPort}\n` },
      { path: PATHS.metadataUrl, owner: 'root:root', permissions: '0644', content: HETZNER_METADATA_URL + '\n' },
      { path: PATHS.installScript, owner: 'root:root', permissions: '0700', content: INSTALL_SCRIPT },
      { path: PATHS.unit, owner: 'root:root', permissions: '0644', content: unitFile(install.node, spec.tags) }
    ],
    runcmd: [
      ['/bin/sh', PATHS.installScript, PATHS.configDir, PATHS.installDir, PATHS.dataDir, '--start']
    ]
  }
  const text = '#cloud-config\n' + JSON.stringify(config, null, 2) + '\n'
  const size = Buffer.byteLength(text)
  if (size > MAX_USER_DATA_BYTES) throw new UserDataTooLargeError(size, MAX_USER_DATA_BYTES)
  return text
}
