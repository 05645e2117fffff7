/**
 * Wire helpers around dns-packet: reading a header without decoding, building responses
 * (flags, EDNS, truncation to the client's size).
 */
import dnsPacket from 'dns-packet'
import type { Answer, DecodedPacket, OptAnswer, Question } from 'dns-packet'

export const HEADER_BYTES = 12
export const RCODE = { NOERROR: 0, FORMERR: 1, SERVFAIL: 2, NXDOMAIN: 3, NOTIMP: 4, REFUSED: 5, BADVERS: 16 } as const
export const OPCODE_QUERY = 0
const FLAG_QR = 0x8000
const FLAG_AA = 0x0400
const FLAG_TC = 0x0200
const FLAG_RD = 0x0100
const FLAG_RA = 0x0080
const FLAG_CD = 0x0010

/** What a handler decided; turned into bytes by {@link encodeResponse}. */
export interface Reply {
  rcode: number
  aa: boolean
  answers: Answer[]
  authorities: Answer[]
  additionals: Answer[]
}

export function emptyReply (rcode: number, aa = false): Reply {
  return { rcode, aa, answers: [], authorities: [], additionals: [] }
}

export interface HeaderPeek {
  id: number
  qr: boolean
  opcode: number
  rd: boolean
}

export function peekHeader (msg: Buffer): HeaderPeek | undefined {
  if (msg.length < HEADER_BYTES) return undefined
  const flags = msg.readUInt16BE(2)
  return { id: msg.readUInt16BE(0), qr: (flags & FLAG_QR) !== 0, opcode: (flags >> 11) & 0xf, rd: (flags & FLAG_RD) !== 0 }
}

/** A header-only response (used when the query could not be decoded). */
export function headerOnlyResponse (h: HeaderPeek, rcode: number): Buffer {
  const buf = Buffer.alloc(HEADER_BYTES)
  buf.writeUInt16BE(h.id, 0)
  buf.writeUInt16BE(FLAG_QR | (h.opcode << 11) | (h.rd ? FLAG_RD : 0) | (rcode & 0xf), 2)
  return buf
}

export interface Edns {
  /** Largest UDP response the client accepts (at least 512). */
  payload: number
  version: number
}

/** The query's EDNS OPT record: undefined when absent, 'invalid' when there is more than one. */
export function queryEdns (q: DecodedPacket): Edns | undefined | 'invalid' {
  let found: Edns | undefined
  for (const rr of q.additionals ?? []) {
    if (rr.type !== 'OPT') continue
    if (found !== undefined) return 'invalid'
    const opt = rr as OptAnswer
    found = { payload: Math.max(512, opt.udpPayloadSize), version: opt.ednsVersion }
  }
  return found
}

export interface ResponseOptions {
  /** Size limit: 512 / EDNS payload for UDP, 65535 for TCP. */
  maxBytes: number
  /** Present when the query carried EDNS: our OPT goes back with this payload size. */
  ednsPayload?: number
  /** Recursion available (we forward). */
  ra: boolean
}

/** Encodes a response to `query`; sets TC and drops the records when it does not fit. */
export function encodeResponse (query: DecodedPacket, reply: Reply, opts: ResponseOptions): Buffer {
  const opcode = ((query.flags ?? 0) >> 11) & 0xf
  let flags = (opcode << 11) | (reply.aa ? FLAG_AA : 0) | (query.flag_rd ? FLAG_RD : 0) |
    (opts.ra ? FLAG_RA : 0) | (query.flag_cd ? FLAG_CD : 0) | (reply.rcode & 0xf)
  const opt: Answer[] = opts.ednsPayload === undefined
    ? []
    : [{ type: 'OPT', name: '.', udpPayloadSize: opts.ednsPayload, extendedRcode: reply.rcode >> 4, ednsVersion: 0, flags: 0, flag_do: false, options: [] }]
  const questions: Question[] = query.questions ?? []
  const full = dnsPacket.encode({
    type: 'response',
    id: query.id,
    flags,
    questions,
    answers: reply.answers,
    authorities: reply.authorities,
    additionals: [...reply.additionals, ...opt]
  })
  if (full.length <= opts.maxBytes) return full
  flags |= FLAG_TC
  return dnsPacket.encode({ type: 'response', id: query.id, flags, questions, answers: [], authorities: [], additionals: opt })
}
