/**
 * Invite tokens: one copy-pasteable string that lets a new agent join a mesh.
 *
 *   ctpf1.<base64url(canonical JSON payload)>.<base64url(ed25519 signature by the inviter)>
 *
 * The payload names the mesh, its root public key, the inviter's addresses, the tags and
 * capabilities granted, the expiry and a single-use nonce. Only the inviter redeems its own
 * tokens, so single use needs no mesh-wide coordination.
 */
import { createHash, randomBytes } from 'node:crypto'
import { z } from 'zod'
import { canonicalBytes, fromBase64url, toBase64url } from '../codec.js'
import { TokenExpiredError, TokenForgedError, TokenMalformedError } from './errors.js'
import { capSchema, meshIdSchema, peerIdSchema, publicKeyOfPeer, tagsSchema } from './records.js'
import type { PrivateKey } from '@libp2p/interface'

const PREFIX = 'ctpf1'
const SIGNING_CONTEXT = 'ctpf-invite:v1\n'
export const MAX_TOKEN_LENGTH = 8192

export const tokenPayloadSchema = z.object({
  v: z.literal(1),
  mesh: meshIdSchema,
  root: z.string().regex(/^[A-Za-z0-9_-]{43}$/, 'a base64url ed25519 public key'),
  addrs: z.array(z.string().max(512)).min(1).max(32),
  tags: tagsSchema,
  caps: z.array(capSchema).max(16),
  exp: z.number().int().positive(),
  nonce: z.string().regex(/^[A-Za-z0-9_-]{22}$/),
  inviter: peerIdSchema
}).strict()

export type TokenPayload = z.infer<typeof tokenPayloadSchema>

export interface InviteToken {
  payload: TokenPayload
  sig: Uint8Array
}

/** Mesh ids are derived from the root key, so a token cannot pair one mesh id with another root. */
export function meshIdFromRoot (rootRaw: Uint8Array): string {
  return createHash('sha256').update(rootRaw).digest('hex').slice(0, 16)
}

export function newNonce (): string {
  return toBase64url(randomBytes(16))
}

function signed (payload: TokenPayload): Uint8Array {
  const ctx = new TextEncoder().encode(SIGNING_CONTEXT)
  const body = canonicalBytes(payload)
  const out = new Uint8Array(ctx.length + body.length)
  out.set(ctx)
  out.set(body, ctx.length)
  return out
}

export async function createToken (payload: TokenPayload, inviterKey: PrivateKey): Promise<string> {
  const checked = tokenPayloadSchema.parse(payload)
  const sig = await inviterKey.sign(signed(checked))
  return `${PREFIX}.${toBase64url(canonicalBytes(checked))}.${toBase64url(sig)}`
}

/** Parses a token's structure. Throws TokenMalformedError; checks no signature. */
export function decodeToken (text: string): InviteToken {
  const trimmed = text.trim()
  if (trimmed.length > MAX_TOKEN_LENGTH) throw new TokenMalformedError(`longer than ${MAX_TOKEN_LENGTH} characters`)
  const parts = trimmed.split('.')
  if (parts.length !== 3 || parts[0] !== PREFIX) throw new TokenMalformedError(`expected ${PREFIX}.<payload>.<signature>`)
  let json: unknown
  let sig: Uint8Array
  try {
    json = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(fromBase64url(parts[1])))
    sig = fromBase64url(parts[2])
  } catch {
    throw new TokenMalformedError('payload or signature is not valid base64url JSON')
  }
  const parsed = tokenPayloadSchema.safeParse(json)
  if (!parsed.success) throw new TokenMalformedError(parsed.error.issues.map(i => `${i.path.join('.') || 'payload'}: ${i.message}`).join('; '))
  if (sig.length !== 64) throw new TokenMalformedError('signature is not 64 bytes')
  return { payload: parsed.data, sig }
}

/**
 * Verifies that the inviter signed the token, that its mesh id matches its root key, and
 * that it has not expired. Whether the inviter may invite is the redeemer's check.
 */
export async function verifyToken (token: InviteToken, now = Date.now()): Promise<void> {
  const { payload, sig } = token
  let ok = false
  try {
    ok = await publicKeyOfPeer(payload.inviter).verify(signed(payload), sig)
  } catch {
    ok = false
  }
  if (!ok) throw new TokenForgedError()
  if (meshIdFromRoot(fromBase64url(payload.root)) !== payload.mesh) throw new TokenForgedError('mesh id does not match root key')
  if (payload.exp <= now) throw new TokenExpiredError(payload.exp)
}
