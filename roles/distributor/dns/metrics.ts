/**
 * Counters of the DNS server, exposed as `server.metrics` (plain numbers, monotonic except
 * `tcpOpen`).
 */
export interface DnsMetrics {
  udpQueries: number
  tcpQueries: number
  /** Answered from the zone (including NXDOMAIN/NODATA and PTR). */
  authoritative: number
  /** Answered from a forwarded query or the forward cache. */
  forwarded: number
  cacheHits: number
  upstreamQueries: number
  upstreamTcpRetries: number
  upstreamFailures: number
  /** Responses by rcode. */
  noerror: number
  nxdomain: number
  servfail: number
  formerr: number
  notimp: number
  refused: number
  /** Responses sent with TC set. */
  truncated: number
  /** Undecodable input (FORMERR sent or dropped). */
  malformed: number
  /** Datagrams/frames ignored: shorter than a header, responses (QR=1), oversized. */
  dropped: number
  tcpAccepted: number
  tcpRejected: number
  tcpOpen: number
  tcpIdleClosed: number
  /** Unexpected failures inside a handler (answered SERVFAIL). */
  internalErrors: number
}

export function createMetrics (): DnsMetrics {
  return {
    udpQueries: 0,
    tcpQueries: 0,
    authoritative: 0,
    forwarded: 0,
    cacheHits: 0,
    upstreamQueries: 0,
    upstreamTcpRetries: 0,
    upstreamFailures: 0,
    noerror: 0,
    nxdomain: 0,
    servfail: 0,
    formerr: 0,
    notimp: 0,
    refused: 0,
    truncated: 0,
    malformed: 0,
    dropped: 0,
    tcpAccepted: 0,
    tcpRejected: 0,
    tcpOpen: 0,
    tcpIdleClosed: 0,
    internalErrors: 0
  }
}
