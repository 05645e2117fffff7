/**
 * Workload distributor: k3s clusters on registered hosts, over SSH, following k3s's documented
 * air-gapped installation — the binary (an artifact of the mesh) to /usr/local/bin/k3s, the
 * image bundle to /var/lib/rancher/k3s/agent/images/, /etc/rancher/k3s/config.yaml with the
 * token (uploaded over SFTP with mode 0600: never on a command line), server URL, node-ip,
 * node-name and flannel-iface (the overlay interface), then `k3s server` / `k3s agent` as a
 * systemd unit or, without systemd, a detached process. The first server's kubeconfig is read
 * back over SSH and pointed at the server's address. Nodes are removed by draining and
 * deleting them through a server, then stopping k3s and removing its files (or running the
 * upstream uninstall script when the host has one).
 *
 * @example
 * ```ts
 * import { createCluster, removeNode } from './roles/distributor/workload/index.js'
 *
 * const c = { privateKey: dcKey, binary: () => artifactBytes('k3s/k3s') }
 * const made = await createCluster({ hosts, servers: 1, token: randomBytes(32).toString('hex') }, c, {
 *   flannelIface: 'ctpf0', onStep: line => log(line), onOutput: l => log(`${l.host}: ${l.line}`)
 * })
 * made.kubeconfig // seal it before storing
 * await removeNode({ server: hosts[0], host: hosts[2], role: 'agent' }, c)
 * ```
 */
export {
  createCluster, growCluster, removeNode, installNode, resolveNodeIps, fetchKubeconfig, listNodes, waitForNodes,
  type WorkloadHost, type WorkloadComponents, type OperationOptions, type NodeOutcome, type CreateResult
} from './cluster.js'
export {
  k3sPaths, renderConfig, renderUnit, parseNodes, parseVersion, rewriteKubeconfig, serverUrl, kubectl, unitName,
  type K3sPaths, type NodeRole, type NodeConfig, type NodeStatus
} from './k3s.js'
export * from './errors.js'
