/**
 * Prometheus metrics at `GET /metrics` on the control endpoint (text exposition format
 * 0.0.4). Derived from the agent's flat metrics object (`GET /v1/metrics`) through a mapping
 * table, so the exported names stay stable when the JSON keys are regrouped; plus gauges of
 * the mesh (members, connected peers by path, jobs by status) and of the process. Needs the
 * bearer token like every route (Prometheus: `authorization: { credentials_file: … }`).
 *
 * @example
 * ```ts
 * metricsRoutes(app, api) // GET /metrics
 * const text = exposition(api.metrics(), meshGauges(api), processGauges(lag))
 * ```
 */
import { monitorEventLoopDelay } from 'node:perf_hooks'
import type { IntervalHistogram } from 'node:perf_hooks'
import type { ControlApi } from './api.js'
import type { FastifyInstance } from 'fastify'

export type MetricType = 'counter' | 'gauge' | 'untyped'

/** One sample ready to print: the family name (with `_total` for counters), its type and help. */
export interface Sample {
  name: string
  type: MetricType
  help: string
  value: number
  labels?: Record<string, string>
}

type Entry = readonly [name: string, type: MetricType, help: string]
const c = (name: string, help: string): Entry => [`ctpf_${name}_total`, 'counter', help]
const g = (name: string, help: string): Entry => [`ctpf_${name}`, 'gauge', help]

/**
 * Key of `/v1/metrics` → exported family. Keep names once published: dashboards and alerts
 * depend on them. A key missing here is still exported, as `untyped`, under a derived name.
 */
export const METRIC_TABLE: Readonly<Record<string, Entry>> = {
  // membership
  refusedStreams: c('membership_refused_streams', 'Protocol streams refused because the remote peer is not a member.'),
  joinsAccepted: c('membership_joins_accepted', 'Invite redemptions accepted by this agent.'),
  joinsRefused: c('membership_joins_refused', 'Invite redemptions refused by this agent.'),
  // replicated state (gossip)
  stateGossipAccepted: c('gossip_records_accepted', 'State records accepted from gossip.'),
  stateGossipRejected: c('gossip_records_rejected', 'State records rejected from gossip.'),
  stateSyncs: c('state_syncs', 'Anti-entropy state syncs completed.'),
  stateSyncedRecords: c('state_synced_records', 'State records received through anti-entropy sync.'),
  stateRecords: g('state_records', 'Records in the replicated state.'),
  // jobs
  jobsClaimed: c('jobs_claimed', 'Jobs claimed by this agent.'),
  jobsLostClaims: c('jobs_lost_claims', 'Job claims this agent lost to another agent.'),
  jobsSucceeded: c('jobs_succeeded', 'Jobs this agent ran that succeeded.'),
  jobsFailed: c('jobs_failed', 'Jobs this agent ran that failed.'),
  jobsCancelled: c('jobs_cancelled', 'Jobs this agent ran that were cancelled.'),
  jobsTakeovers: c('jobs_takeovers', 'Jobs this agent took over from a claimant that went away.'),
  jobsYielded: c('jobs_yielded', 'Job attempts this agent promised not to claim, asked by a lower-ranked agent.'),
  jobsClaimsHeldBack: c('jobs_claims_held_back', 'Lower-ranked claims this agent held back because a better-ranked agent had claimed or did not answer.'),
  probeRuns: c('jobs_probe_runs', 'Probe jobs run by this agent.'),
  // artifacts
  artifactsStreams: c('artifacts_exchange_streams', 'Block exchange streams opened by other agents.'),
  artifactsBlocksServed: c('artifacts_blocks_served', 'Blocks served to other agents.'),
  artifactsBytesServed: c('artifacts_served_bytes', 'Block bytes served to other agents.'),
  artifactsDontHave: c('artifacts_dont_have', 'Block requests answered with "don\'t have".'),
  artifactsProtocolErrors: c('artifacts_protocol_errors', 'Malformed block exchange messages.'),
  artifactsBlocks: g('artifacts_blocks', 'Blocks in the local blockstore.'),
  artifactsBytes: g('artifacts_stored_bytes', 'Bytes of blocks in the local blockstore.'),
  artifactsQuotaBytes: g('artifacts_quota_bytes', 'Quota of the local blockstore in bytes.'),
  artifactsPins: g('artifacts_pins', 'Pinned artifacts.'),
  // DHCP
  dhcpReceived: c('dhcp_received', 'DHCP packets received.'),
  dhcpMalformed: c('dhcp_malformed', 'DHCP packets that failed to decode.'),
  dhcpIgnored: c('dhcp_ignored', 'DHCP packets ignored.'),
  dhcpOffers: c('dhcp_offers', 'DHCPOFFERs sent.'),
  dhcpAcks: c('dhcp_acks', 'DHCPACKs sent.'),
  dhcpNaks: c('dhcp_naks', 'DHCPNAKs sent.'),
  dhcpInforms: c('dhcp_informs', 'DHCPINFORMs answered.'),
  dhcpReleases: c('dhcp_releases', 'DHCPRELEASEs handled.'),
  dhcpDeclines: c('dhcp_declines', 'DHCPDECLINEs handled.'),
  dhcpProxyOffers: c('dhcp_proxy_offers', 'Proxy DHCP offers sent.'),
  dhcpProxyAcks: c('dhcp_proxy_acks', 'Proxy DHCP acks sent.'),
  dhcpExhausted: c('dhcp_pool_exhausted', 'DHCP requests not served because the pool was full.'),
  dhcpSendErrors: c('dhcp_send_errors', 'DHCP replies that failed to send.'),
  dhcpHandlerErrors: c('dhcp_handler_errors', 'Unexpected failures handling a DHCP packet.'),
  // TFTP
  tftpRequests: c('tftp_requests', 'Well-formed TFTP read/write requests.'),
  tftpFilesServed: c('tftp_files_served', 'Files served over TFTP.'),
  tftpTransfersFailed: c('tftp_transfers_failed', 'TFTP transfers that failed.'),
  tftpMalformedPackets: c('tftp_malformed_packets', 'TFTP datagrams that failed to decode.'),
  tftpRejectedRequests: c('tftp_rejected_requests', 'TFTP requests answered with an error.'),
  tftpBusyDrops: c('tftp_busy_drops', 'TFTP requests dropped because all sessions were busy.'),
  tftpDuplicateRequests: c('tftp_duplicate_requests', 'Repeated TFTP requests for a running transfer.'),
  tftpUnknownTidPackets: c('tftp_unknown_tid_packets', 'TFTP datagrams from unknown transfer ids.'),
  tftpRetransmittedPackets: c('tftp_retransmitted_packets', 'TFTP packets retransmitted.'),
  tftpBytesServed: c('tftp_served_bytes', 'Payload bytes of completed TFTP transfers.'),
  tftpActiveSessions: g('tftp_active_sessions', 'TFTP transfers running.'),
  // DNS
  dnsUdpQueries: c('dns_udp_queries', 'DNS queries received over UDP.'),
  dnsTcpQueries: c('dns_tcp_queries', 'DNS queries received over TCP.'),
  dnsAuthoritative: c('dns_authoritative_answers', 'DNS queries answered from the zone.'),
  dnsForwarded: c('dns_forwarded_answers', 'DNS queries answered by forwarding.'),
  dnsCacheHits: c('dns_cache_hits', 'Forwarded DNS queries answered from the cache.'),
  dnsUpstreamQueries: c('dns_upstream_queries', 'DNS queries sent upstream.'),
  dnsUpstreamTcpRetries: c('dns_upstream_tcp_retries', 'Truncated upstream answers retried over TCP.'),
  dnsUpstreamFailures: c('dns_upstream_failures', 'Upstream DNS queries that failed.'),
  dnsNoerror: c('dns_responses_noerror', 'DNS responses with rcode NOERROR.'),
  dnsNxdomain: c('dns_responses_nxdomain', 'DNS responses with rcode NXDOMAIN.'),
  dnsServfail: c('dns_responses_servfail', 'DNS responses with rcode SERVFAIL.'),
  dnsFormerr: c('dns_responses_formerr', 'DNS responses with rcode FORMERR.'),
  dnsNotimp: c('dns_responses_notimp', 'DNS responses with rcode NOTIMP.'),
  dnsRefused: c('dns_responses_refused', 'DNS responses with rcode REFUSED.'),
  dnsTruncated: c('dns_responses_truncated', 'DNS responses sent with TC set.'),
  dnsMalformed: c('dns_malformed', 'Undecodable DNS messages.'),
  dnsDropped: c('dns_dropped', 'DNS datagrams or frames dropped.'),
  dnsTcpAccepted: c('dns_tcp_connections_accepted', 'DNS TCP connections accepted.'),
  dnsTcpRejected: c('dns_tcp_connections_rejected', 'DNS TCP connections rejected.'),
  dnsTcpOpen: g('dns_tcp_connections_open', 'DNS TCP connections open.'),
  dnsTcpIdleClosed: c('dns_tcp_connections_idle_closed', 'DNS TCP connections closed when idle.'),
  dnsInternalErrors: c('dns_internal_errors', 'Unexpected failures answering DNS (SERVFAIL sent).'),
  // HTTP boot
  httpBootScripts: c('http_boot_scripts', 'iPXE boot scripts served over HTTP.'),
  httpBootFiles: c('http_boot_files', 'Files served over HTTP boot.'),
  httpBootNotFound: c('http_boot_not_found', 'HTTP boot requests answered 404.'),
  httpBootErrors: c('http_boot_errors', 'HTTP boot requests that failed.'),
  httpBootBytes: c('http_boot_served_bytes', 'Bytes served over HTTP boot.'),
  // overlay (agent/overlay.ts)
  overlayUp: g('overlay_up', '1 when this agent\'s overlay runs (TUN and address), 0 when it is off.'),
  overlayPeers: g('overlay_peers', 'Members this agent\'s overlay knows of.'),
  overlayPeersDirect: g('overlay_peers_direct', 'Overlay peers whose packets go over a direct connection.'),
  overlayPeersRelayed: g('overlay_peers_relayed', 'Overlay peers whose packets go through a member relay.'),
  overlayBytesIn: c('overlay_received_bytes', 'IP bytes received from other members over the overlay.'),
  overlayBytesOut: c('overlay_sent_bytes', 'IP bytes sent to other members over the overlay.'),
  overlayPacketsIn: c('overlay_received_packets', 'IP packets received from other members over the overlay.'),
  overlayPacketsOut: c('overlay_sent_packets', 'IP packets sent to other members over the overlay.'),
  overlayDroppedNoRoute: c('overlay_dropped_no_route', 'Packets from the TUN dropped: no member owns or routes the destination.'),
  overlayDroppedNotMember: c('overlay_dropped_not_member', 'Overlay packets dropped because the peer is not (or no longer) a member.'),
  overlayDroppedSpoofed: c('overlay_dropped_spoofed', 'Overlay packets dropped: a source address the sending member does not own or route.'),
  overlayDroppedNotForUs: c('overlay_dropped_not_for_us', 'Overlay packets dropped: a destination this agent does not own or route.'),
  overlayDroppedFirewall: c('overlay_dropped_firewall', 'Overlay packets denied by the firewall.'),
  overlayDroppedMalformed: c('overlay_dropped_malformed', 'Packets that did not parse as IP.'),
  overlayDroppedUnsent: c('overlay_dropped_unsent', 'Packets to members dropped unsent: send queue full or no stream to the peer.'),
  overlayRelayedFrames: c('overlay_relayed_frames', 'Overlay frames this agent, a member relay, passed on between two members (sealed end to end).'),
  overlayRelayRefused: c('overlay_relay_refused_frames', 'Frames this agent refused to pass on: not a relay, not members, or no direct stream to the destination.'),
  overlayDnsQueries: c('overlay_dns_queries', 'Queries to the overlay name server (UDP and TCP).'),
  overlayDnsAnswers: c('overlay_dns_answers', 'Overlay name queries answered from the zone.'),
  overlayDnsNxdomain: c('overlay_dns_responses_nxdomain', 'Overlay name queries answered NXDOMAIN.'),
  overlayDnsRefused: c('overlay_dns_responses_refused', 'Queries to the overlay name server for names outside the mesh domain (REFUSED).')
}

/** `stateRefused<Reason>` keys become one labelled family. */
const STATE_REFUSED = /^stateRefused([A-Z][A-Za-z0-9]*)$/

const snake = (key: string): string => key.replace(/([a-z0-9])([A-Z])/g, '$1_$2').replace(/[^A-Za-z0-9_]/g, '_').toLowerCase()

/** The samples of the agent's metrics object, by the table. */
export function agentSamples (metrics: Record<string, number>): Sample[] {
  const out: Sample[] = []
  for (const [key, value] of Object.entries(metrics)) {
    if (typeof value !== 'number') continue
    const entry = METRIC_TABLE[key]
    const refused = STATE_REFUSED.exec(key)
    if (entry != null) out.push({ name: entry[0], type: entry[1], help: entry[2], value })
    else if (refused != null) out.push({ name: 'ctpf_state_records_refused_total', type: 'counter', help: 'State records refused at the boundary, by reason.', value, labels: { reason: snake(refused[1]) } })
    else out.push({ name: `ctpf_${snake(key)}`, type: 'untyped', help: `Agent metric ${key} (not yet in the mapping table).`, value })
  }
  return out
}

/** Gauges of the mesh as this agent sees it. */
export function meshSamples (api: Pick<ControlApi, 'members' | 'peers' | 'jobs' | 'status'>): Sample[] {
  const out: Sample[] = [
    { name: 'ctpf_build_info', type: 'gauge', help: 'Always 1; the version of this agent as a label.', value: 1, labels: { version: api.status().version } },
    { name: 'ctpf_members', type: 'gauge', help: 'Members of the mesh known to this agent.', value: api.members().length }
  ]
  const peers = { direct: 0, relayed: 0 }
  for (const p of api.peers()) peers[p.path]++
  for (const [path, n] of Object.entries(peers)) out.push({ name: 'ctpf_peers_connected', type: 'gauge', help: 'Peers connected to this agent, by path.', value: n, labels: { path } })
  const jobs: Record<string, number> = { queued: 0, claimed: 0, running: 0, succeeded: 0, failed: 0, cancelled: 0 }
  for (const j of api.jobs.list()) jobs[j.status] = (jobs[j.status] ?? 0) + 1
  for (const [status, n] of Object.entries(jobs)) out.push({ name: 'ctpf_jobs', type: 'gauge', help: 'Jobs in the replicated state, by status.', value: n, labels: { status } })
  return out
}

/** Process gauges and counters, with the usual names of Prometheus client libraries. */
export function processSamples (lag?: IntervalHistogram): Sample[] {
  const cpu = process.cpuUsage()
  const mem = process.memoryUsage()
  const out: Sample[] = [
    { name: 'process_cpu_seconds_total', type: 'counter', help: 'User and system CPU time spent, in seconds.', value: (cpu.user + cpu.system) / 1e6 },
    { name: 'process_resident_memory_bytes', type: 'gauge', help: 'Resident memory size in bytes.', value: mem.rss },
    { name: 'process_start_time_seconds', type: 'gauge', help: 'Start time of the process since the Unix epoch, in seconds.', value: Math.round(Date.now() / 1000 - process.uptime()) },
    { name: 'nodejs_heap_used_bytes', type: 'gauge', help: 'V8 heap in use, in bytes.', value: mem.heapUsed }
  ]
  if (lag != null && lag.count > 0) {
    out.push({ name: 'nodejs_eventloop_lag_seconds', type: 'gauge', help: 'Mean event loop delay since the last scrape, in seconds.', value: lag.mean / 1e9 })
    out.push({ name: 'nodejs_eventloop_lag_max_seconds', type: 'gauge', help: 'Largest event loop delay since the last scrape, in seconds.', value: lag.max / 1e9 })
    lag.reset()
  }
  return out
}

const escapeHelp = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n')
const escapeLabel = (s: string): string => s.replace(/\\/g, '\\\\').replace(/\n/g, '\\n').replace(/"/g, '\\"')
const formatValue = (v: number): string => Number.isNaN(v) ? 'NaN' : v === Infinity ? '+Inf' : v === -Infinity ? '-Inf' : String(v)

/** Prints samples in the text exposition format 0.0.4: families grouped, HELP and TYPE once each. */
export function exposition (...groups: Sample[][]): string {
  const families = new Map<string, Sample[]>()
  for (const s of groups.flat()) {
    const f = families.get(s.name)
    if (f == null) families.set(s.name, [s])
    else f.push(s)
  }
  const lines: string[] = []
  for (const [name, samples] of families) {
    lines.push(`# HELP ${name} ${escapeHelp(samples[0].help)}`, `# TYPE ${name} ${samples[0].type}`)
    for (const s of samples) {
      const labels = Object.entries(s.labels ?? {}).map(([k, v]) => `${k}="${escapeLabel(v)}"`).join(',')
      lines.push(`${name}${labels.length > 0 ? `{${labels}}` : ''} ${formatValue(s.value)}`)
    }
  }
  return lines.join('\n') + '\n'
}

export const EXPOSITION_CONTENT_TYPE = 'text/plain; version=0.0.4; charset=utf-8'

/** Registers `GET /metrics` (authenticated by the server's hook like every route). */
export function metricsRoutes (app: FastifyInstance, api: ControlApi): void {
  const lag = monitorEventLoopDelay({ resolution: 20 })
  lag.enable()
  app.addHook('onClose', async () => { lag.disable() })
  app.get('/metrics', async (_req, reply) => {
    void reply.header('content-type', EXPOSITION_CONTENT_TYPE).header('cache-control', 'no-store')
    return exposition(agentSamples(api.metrics()), meshSamples(api), processSamples(lag))
  })
}
