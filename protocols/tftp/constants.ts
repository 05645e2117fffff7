/** Opcodes, error codes and size limits of the TFTP wire format (RFC 1350, 2347–2349, 7440). */

export const OPCODE = {
  RRQ: 1,
  WRQ: 2,
  DATA: 3,
  ACK: 4,
  ERROR: 5,
  OACK: 6
} as const

/** TFTP error codes carried in ERROR packets (RFC 1350 §5, RFC 2347 for 8). */
export const TFTP_ERROR = {
  NOT_DEFINED: 0,
  FILE_NOT_FOUND: 1,
  ACCESS_VIOLATION: 2,
  DISK_FULL: 3,
  ILLEGAL_OPERATION: 4,
  UNKNOWN_TID: 5,
  FILE_EXISTS: 6,
  NO_SUCH_USER: 7,
  OPTION_REFUSED: 8
} as const

export type TftpErrorCode = typeof TFTP_ERROR[keyof typeof TFTP_ERROR]

/** Block size of plain RFC 1350 transfers. */
export const DEFAULT_BLKSIZE = 512
/** RFC 2348 bounds. */
export const MIN_BLKSIZE = 8
export const MAX_BLKSIZE = 65464
/** RFC 7440 bounds. */
export const MIN_WINDOWSIZE = 1
export const MAX_WINDOWSIZE = 65535
/** RFC 2349 timeout option bounds, seconds. */
export const MIN_TIMEOUT_S = 1
export const MAX_TIMEOUT_S = 255

/** RFC 2347: a request packet including options must not exceed 512 octets. */
export const MAX_REQUEST_SIZE = 512
/** Largest well-formed TFTP datagram: DATA header plus the largest block. */
export const MAX_PACKET_SIZE = 4 + MAX_BLKSIZE
/** Block numbers are 16 bits and wrap from 65535 to 0. */
export const BLOCK_MODULO = 65536

export const TRANSFER_MODES = ['netascii', 'octet', 'mail'] as const
export type TransferMode = typeof TRANSFER_MODES[number]
