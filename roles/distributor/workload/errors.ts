/**
 * Errors of the workload distributor (k3s clusters). One class per condition; callers and
 * tests match on `code`.
 */

/** Invalid cluster parameters (name, server count, paths). */
export class WorkloadConfigError extends Error {
  static readonly code = 'ERR_WORKLOAD_CONFIG'
  readonly code = WorkloadConfigError.code
  constructor (message: string) {
    super(message)
    this.name = 'WorkloadConfigError'
  }
}

/** A required artifact (the k3s binary) is not in the mesh. */
export class ArtifactMissingError extends Error {
  static readonly code = 'ERR_WORKLOAD_ARTIFACT_MISSING'
  readonly code = ArtifactMissingError.code
  constructor (readonly artifact: string) {
    super(`artifact ${artifact} is not in the mesh: add it with \`ctpf artifact add FILE --name ${artifact}\``)
    this.name = 'ArtifactMissingError'
  }
}

/** k3s could not be installed or started on a host (the per-host SSH error is the cause). */
export class NodeInstallError extends Error {
  static readonly code = 'ERR_WORKLOAD_INSTALL'
  readonly code = NodeInstallError.code
  constructor (readonly host: string, readonly reason: string) {
    super(`k3s on host ${host}: ${reason}`)
    this.name = 'NodeInstallError'
  }
}

/** The first server did not come up (no kubeconfig), so nothing else can join. */
export class ServerNotReadyError extends Error {
  static readonly code = 'ERR_WORKLOAD_SERVER_NOT_READY'
  readonly code = ServerNotReadyError.code
  constructor (readonly host: string, reason: string) {
    super(`the first k3s server on host ${host} did not come up: ${reason}`)
    this.name = 'ServerNotReadyError'
  }
}

/** A cluster of that name exists already (create) or does not (grow, shrink, delete). */
export class ClusterExistsError extends Error {
  static readonly code = 'ERR_WORKLOAD_CLUSTER_EXISTS'
  readonly code = ClusterExistsError.code
  constructor (readonly cluster: string) {
    super(`cluster ${cluster} exists already`)
    this.name = 'ClusterExistsError'
  }
}

export class ClusterNotFoundError extends Error {
  static readonly code = 'ERR_WORKLOAD_CLUSTER_NOT_FOUND'
  readonly code = ClusterNotFoundError.code
  constructor (readonly cluster: string) {
    super(`no cluster ${cluster}`)
    this.name = 'ClusterNotFoundError'
  }
}

/** The host is not a node of the cluster (shrink), or already is one (grow). */
export class MembershipError extends Error {
  static readonly code = 'ERR_WORKLOAD_MEMBERSHIP'
  readonly code = MembershipError.code
  constructor (message: string) {
    super(message)
    this.name = 'MembershipError'
  }
}

/** Removing the host would leave the cluster without a server. */
export class LastServerError extends Error {
  static readonly code = 'ERR_WORKLOAD_LAST_SERVER'
  readonly code = LastServerError.code
  constructor (readonly cluster: string, readonly host: string) {
    super(`host ${host} is the last server of cluster ${cluster}: delete the cluster instead`)
    this.name = 'LastServerError'
  }
}

/** No usable host matched (none, or none with an address and a pinned host key). */
export class NoHostsError extends Error {
  static readonly code = 'ERR_WORKLOAD_NO_HOSTS'
  readonly code = NoHostsError.code
  constructor (message: string) {
    super(message)
    this.name = 'NoHostsError'
  }
}
