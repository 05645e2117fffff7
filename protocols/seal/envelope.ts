/**
 * The sealed envelope on the wire: plain JSON, every binary field unpadded base64url.
 *
 * ```json
 * { "v": 1, "alg": "X25519-HKDF-SHA256-A256GCM",
 *   "aad": "<sha256 of the associated data>", "iv": "<12 bytes>", "ct": "<ciphertext||16-byte tag>",
 *   "to": [{ "id": "<recipient id>", "pk": "<its X25519 public key>", "epk": "<ephemeral public key>",
 *            "wk": "<wrapped 32-byte content key||tag>" }] }
 * ```
 * Decoding checks sizes before and after JSON parsing; everything inside is then trusted
 * to have the right shape (not to be authentic: that is `open`'s job).
 */
import { z } from 'zod'
import {
  IV_BYTES, KEY_BYTES, MAX_ENVELOPE_CHARS, MAX_PLAINTEXT_BYTES, MAX_RECIPIENT_ID_LENGTH, MAX_RECIPIENTS,
  SEAL_ALG, SEAL_VERSION, TAG_BYTES
} from './constants.js'
import { SealMalformedError } from './errors.js'
import { decodeB64 } from './b64.js'

const b64 = (bytes: number): z.ZodString => z.string().length(Math.ceil(bytes * 4 / 3)).regex(/^[A-Za-z0-9_-]+$/)

/** Printable, no whitespace or control characters: ids end up in logs and state keys. */
export const recipientIdSchema = z.string().min(1).max(MAX_RECIPIENT_ID_LENGTH).regex(/^[\x21-\x7e]+$/, 'printable ASCII without spaces')

const recipientEntrySchema = z.object({
  id: recipientIdSchema,
  pk: b64(KEY_BYTES),
  epk: b64(KEY_BYTES),
  wk: b64(KEY_BYTES + TAG_BYTES)
}).strict()

export const sealedEnvelopeSchema = z.object({
  v: z.literal(SEAL_VERSION),
  alg: z.literal(SEAL_ALG),
  aad: b64(32),
  iv: b64(IV_BYTES),
  ct: z.string().min(Math.ceil(TAG_BYTES * 4 / 3)).max(Math.ceil((MAX_PLAINTEXT_BYTES + TAG_BYTES) * 4 / 3)).regex(/^[A-Za-z0-9_-]+$/),
  to: z.array(recipientEntrySchema).min(1).max(MAX_RECIPIENTS)
}).strict()

export type SealedEnvelope = z.infer<typeof sealedEnvelopeSchema>
export type RecipientEntry = SealedEnvelope['to'][number]

/**
 * Validates an envelope given as JSON text or as an already-parsed value.
 * Throws SealMalformedError; never anything else.
 */
export function decodeEnvelope (input: unknown): SealedEnvelope {
  let value = input
  if (typeof input === 'string') {
    if (input.length > MAX_ENVELOPE_CHARS) throw new SealMalformedError(`longer than ${MAX_ENVELOPE_CHARS} characters`)
    try {
      value = JSON.parse(input)
    } catch {
      throw new SealMalformedError('not JSON')
    }
  } else if (input instanceof Uint8Array) {
    if (input.byteLength > MAX_ENVELOPE_CHARS) throw new SealMalformedError(`longer than ${MAX_ENVELOPE_CHARS} bytes`)
    let text: string
    try {
      text = new TextDecoder('utf-8', { fatal: true }).decode(input)
    } catch {
      throw new SealMalformedError('not UTF-8')
    }
    return decodeEnvelope(text)
  }
  const parsed = sealedEnvelopeSchema.safeParse(value)
  if (!parsed.success) {
    throw new SealMalformedError(parsed.error.issues.slice(0, 3).map(i => `${i.path.join('.') || 'envelope'}: ${i.message}`).join('; '))
  }
  const env = parsed.data
  // canonical base64url only: a re-encoding of the same bytes is not the same envelope
  const binary: Array<[string, string, number | undefined]> = [['aad', env.aad, 32], ['iv', env.iv, IV_BYTES], ['ct', env.ct, undefined]]
  env.to.forEach((r, i) => binary.push([`to.${i}.pk`, r.pk, KEY_BYTES], [`to.${i}.epk`, r.epk, KEY_BYTES], [`to.${i}.wk`, r.wk, KEY_BYTES + TAG_BYTES]))
  for (const [path, text, length] of binary) {
    if (decodeB64(text, length) == null) throw new SealMalformedError(`${path}: not canonical base64url of the right length`)
  }
  const ids = new Set<string>()
  for (const r of env.to) {
    if (ids.has(r.id)) throw new SealMalformedError(`recipient ${JSON.stringify(r.id)} appears twice`)
    ids.add(r.id)
  }
  return env
}

/** JSON text of an envelope (what goes into a state record or a file). */
export function encodeEnvelope (envelope: SealedEnvelope): string {
  return JSON.stringify(envelope)
}

/** Who can open an envelope, with the public keys it was sealed to. Validates first. */
export function recipientsOf (envelope: unknown): Array<{ id: string, publicKey: string }> {
  return decodeEnvelope(envelope).to.map(r => ({ id: r.id, publicKey: r.pk }))
}
