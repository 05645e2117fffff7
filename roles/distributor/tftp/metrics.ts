/** Counters of the TFTP server, exposed read-only as `server.metrics`. */
export interface TftpMetrics {
  /** Well-formed RRQ/WRQ received on the listening port. */
  requests: number
  filesServed: number
  transfersFailed: number
  /** Datagrams that failed to decode, on any socket. */
  malformedPackets: number
  /** Requests answered with an error (not found, access violation, WRQ, bad mode…). */
  rejectedRequests: number
  /** Requests dropped because `maxSessions` transfers were running. */
  busyDrops: number
  /** Repeated RRQ from a client whose transfer is already running. */
  duplicateRequests: number
  /** Datagrams from strangers to a transfer's port (answered with error 5). */
  unknownTidPackets: number
  retransmittedPackets: number
  /** Payload bytes of completed transfers. */
  bytesServed: number
  activeSessions: number
}

export function createMetrics (): TftpMetrics {
  return {
    requests: 0,
    filesServed: 0,
    transfersFailed: 0,
    malformedPackets: 0,
    rejectedRequests: 0,
    busyDrops: 0,
    duplicateRequests: 0,
    unknownTidPackets: 0,
    retransmittedPackets: 0,
    bytesServed: 0,
    activeSessions: 0
  }
}
