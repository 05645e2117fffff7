/**
 * Signed membership records: who is in the mesh (`member`), what an agent says about its own
 * tags (`tags`), and who was thrown out (`revocation`). Every record names its issuer and
 * carries an ed25519 signature over its canonical bytes. `member` records chain to the mesh's
 * root key: issued by the root itself or by an admin whose own record chains to it.
 */
import { publicKeyFromRaw } from '@libp2p/crypto/keys'
import { peerIdFromString } from '@libp2p/peer-id'
import { z } from 'zod'
import { canonicalBytes, fromBase64url, toBase64url } from '../codec.js'
import type { PrivateKey, PublicKey } from '@libp2p/interface'

export const ROOT_ISSUER = 'root'
const SIGNING_CONTEXT = 'ctpf-record:v1\n'

export const tagKeySchema = z.string().regex(/^[a-z0-9][a-z0-9._/-]{0,62}$/, 'tag keys are lowercase letters, digits and . _ / -, at most 63 characters')
export const tagValueSchema = z.string().regex(/^[A-Za-z0-9._:/@+-]{0,128}$/, 'tag values are letters, digits and . _ : / @ + -, at most 128 characters')
export const tagsSchema = z.record(tagKeySchema, tagValueSchema).refine(t => Object.keys(t).length <= 64, 'at most 64 tags')
export const capSchema = z.string().regex(/^[a-z][a-z0-9-]{0,31}$/)
export const peerIdSchema = z.string().min(40).max(128).regex(/^[1-9A-HJ-NP-Za-km-z]+$/, 'a base58 peer id')
export const meshIdSchema = z.string().regex(/^[0-9a-f]{16}$/, 'a mesh id is 16 hex digits')

export type Tags = Record<string, string>

const base = {
  mesh: meshIdSchema,
  peer: peerIdSchema,
  issuedAt: z.number().int().nonnegative(),
  sig: z.string().max(200)
}

export const memberRecordSchema = z.object({
  type: z.literal('member'),
  ...base,
  issuer: z.union([z.literal(ROOT_ISSUER), peerIdSchema]),
  tags: tagsSchema,
  caps: z.array(capSchema).max(16)
}).strict()

export const tagsRecordSchema = z.object({
  type: z.literal('tags'),
  ...base,
  tags: tagsSchema
}).strict()

export const revocationSchema = z.object({
  type: z.literal('revocation'),
  ...base,
  issuer: z.union([z.literal(ROOT_ISSUER), peerIdSchema])
}).strict()

export const anyRecordSchema = z.discriminatedUnion('type', [memberRecordSchema, tagsRecordSchema, revocationSchema])

export type MemberRecord = z.infer<typeof memberRecordSchema>
export type TagsRecord = z.infer<typeof tagsRecordSchema>
export type Revocation = z.infer<typeof revocationSchema>
export type AnyRecord = z.infer<typeof anyRecordSchema>
export type Unsigned<R> = Omit<R, 'sig'>

export function signingBytes (record: Unsigned<AnyRecord> | AnyRecord): Uint8Array {
  const { sig: _sig, ...rest } = record as AnyRecord
  const body = canonicalBytes(rest)
  const ctx = new TextEncoder().encode(SIGNING_CONTEXT)
  const out = new Uint8Array(ctx.length + body.length)
  out.set(ctx)
  out.set(body, ctx.length)
  return out
}

export async function signRecord<R extends AnyRecord> (unsigned: Unsigned<R>, key: PrivateKey): Promise<R> {
  const sig = await key.sign(signingBytes(unsigned))
  return { ...unsigned, sig: toBase64url(sig) } as R
}

/** The key that must have signed a record: the root key, or the issuing peer's own key. */
export function issuerOf (record: AnyRecord): string {
  return record.type === 'tags' ? record.peer : record.issuer
}

const keyCache = new Map<string, PublicKey>()

/** The ed25519 key embedded in a peer id; cached, since every signature check needs one. */
export function publicKeyOfPeer (peer: string): PublicKey {
  const cached = keyCache.get(peer)
  if (cached != null) return cached
  const id = peerIdFromString(peer)
  if (id.publicKey == null) throw new TypeError(`peer id ${peer} does not embed a public key`)
  if (keyCache.size > 10_000) keyCache.clear()
  keyCache.set(peer, id.publicKey)
  return id.publicKey
}

export function rootPublicKey (raw: Uint8Array): PublicKey {
  return publicKeyFromRaw(raw)
}

/** Checks the signature only; the chain of authority is the registry's job. */
export async function verifySignature (record: AnyRecord, rootKey: PublicKey): Promise<boolean> {
  const issuer = issuerOf(record)
  let key: PublicKey
  try {
    key = issuer === ROOT_ISSUER ? rootKey : publicKeyOfPeer(issuer)
  } catch {
    return false
  }
  let sig: Uint8Array
  try {
    sig = fromBase64url(record.sig)
  } catch {
    return false
  }
  try {
    return await key.verify(signingBytes(record), sig)
  } catch {
    return false
  }
}

/** Which of two records for the same (type, peer) wins: the later one, ties by signature. */
export function newer (a: AnyRecord, b: AnyRecord): boolean {
  if (a.issuedAt !== b.issuedAt) return a.issuedAt > b.issuedAt
  return a.sig > b.sig
}
