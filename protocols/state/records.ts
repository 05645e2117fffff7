/**
 * State records: key, JSON value (null for a tombstone), HLC stamp, author, ed25519 signature
 * by the author over the canonical bytes (mesh id included, so a record cannot be replayed
 * into another mesh).
 */
import { z } from 'zod'
import { canonicalBytes, fromBase64url, toBase64url } from '../codec.js'
import { meshIdSchema, peerIdSchema, publicKeyOfPeer } from '../membership/index.js'
import { compareStamps } from './hlc.js'
import type { PrivateKey } from '@libp2p/interface'

export const MAX_VALUE_BYTES = 64 * 1024
export const MAX_KEY_LENGTH = 256
const SIGNING_CONTEXT = 'ctpf-state:v1\n'

export const keySchema = z.string().min(3).max(MAX_KEY_LENGTH).regex(/^[a-z][a-z0-9-]*\/[A-Za-z0-9._:@/=+-]+$/, 'keys are <prefix>/<name> of letters, digits and . _ : @ / = + -')

export const stateRecordSchema = z.object({
  mesh: meshIdSchema,
  key: keySchema,
  value: z.unknown(),
  stamp: z.object({ t: z.number().int().nonnegative(), c: z.number().int().nonnegative().max(1_000_000) }).strict(),
  author: peerIdSchema,
  sig: z.string().max(200)
}).strict()

export type StateRecord = z.infer<typeof stateRecordSchema>

export function isTombstone (r: StateRecord): boolean {
  return r.value === null || r.value === undefined
}

function signingBytes (r: Omit<StateRecord, 'sig'>): Uint8Array {
  const ctx = new TextEncoder().encode(SIGNING_CONTEXT)
  const body = canonicalBytes({ mesh: r.mesh, key: r.key, value: r.value ?? null, stamp: r.stamp, author: r.author })
  const out = new Uint8Array(ctx.length + body.length)
  out.set(ctx)
  out.set(body, ctx.length)
  return out
}

export function valueSize (value: unknown): number {
  return Buffer.byteLength(JSON.stringify(value ?? null))
}

export async function signStateRecord (r: Omit<StateRecord, 'sig'>, key: PrivateKey): Promise<StateRecord> {
  return { ...r, value: r.value ?? null, sig: toBase64url(await key.sign(signingBytes(r))) }
}

export async function verifyStateRecord (r: StateRecord): Promise<boolean> {
  try {
    return await publicKeyOfPeer(r.author).verify(signingBytes(r), fromBase64url(r.sig))
  } catch {
    return false
  }
}

/** Last writer wins on (stamp, author): true when `a` replaces `b`. */
export function supersedes (a: StateRecord, b: StateRecord): boolean {
  const c = compareStamps(a.stamp, b.stamp)
  return c !== 0 ? c > 0 : a.author > b.author
}
