/**
 * TFTP wire format (RFC 1350 with options: RFC 2347 OACK, 2348 blksize, 2349 tsize/timeout,
 * 7440 windowsize) and a small read client.
 *
 * Decoding is strict and bounded: anything malformed throws a `TftpCodecError` subclass
 * with a stable `code`, never another exception.
 *
 * @example
 * ```ts
 * import { decode, encode, TftpCodecError, fetchFile } from './protocols/tftp/index.js'
 *
 * const wire = encode({ type: 'RRQ', filename: 'undionly.kpxe', mode: 'octet', options: new Map([['blksize', '1468']]) })
 * try {
 *   const packet = decode(wire) // { type: 'RRQ', filename: 'undionly.kpxe', … }
 * } catch (err) {
 *   if (err instanceof TftpCodecError) console.log(err.code) // e.g. 'ERR_TFTP_TRUNCATED'
 * }
 *
 * const { data } = await fetchFile({ address: '127.0.0.1', port: 69, filename: 'undionly.kpxe', blksize: 1468, windowsize: 8 })
 * ```
 */
export * from './constants.js'
export * from './errors.js'
export { decode, encode } from './codec.js'
export type { TftpPacket, RequestPacket, DataPacket, AckPacket, ErrorPacket, OackPacket } from './codec.js'
export { fetchFile, TftpRemoteError, TftpClientTimeoutError } from './client.js'
export type { FetchOptions, FetchResult } from './client.js'
