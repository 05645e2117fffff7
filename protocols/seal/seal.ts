/**
 * seal / open / reseal. One random 256-bit content key encrypts the plaintext with AES-256-GCM;
 * for each recipient a fresh ephemeral X25519 key agrees a secret with the recipient's public
 * key, HKDF-SHA256 turns it into a wrapping key and nonce (info binds the recipient id, the
 * ephemeral key, the recipient key and the associated data), and AES-256-GCM wraps the content
 * key. The content's own associated data is the whole envelope header, so changing any field
 * (even another recipient's entry) makes opening fail.
 */
import { createCipheriv, createDecipheriv, createHash, diffieHellman, generateKeyPairSync, hkdfSync, randomBytes, type KeyObject } from 'node:crypto'
import { canonicalJson } from '../codec.js'
import {
  AAD_DIGEST_CONTEXT, CONTENT_AAD_CONTEXT, IV_BYTES, KEY_BYTES, MAX_AAD_BYTES, MAX_PLAINTEXT_BYTES, MAX_RECIPIENTS,
  SEAL_ALG, SEAL_VERSION, TAG_BYTES, WRAP_INFO_CONTEXT
} from './constants.js'
import { decodeEnvelope, recipientIdSchema, type RecipientEntry, type SealedEnvelope } from './envelope.js'
import {
  SealInvalidKeyError, SealKeyMismatchError, SealNotRecipientError, SealRecipientsError, SealTamperedError, SealTooLargeError, SealWrongAadError
} from './errors.js'
import { checkPrivate, importSealPublicKey, rawPublic, sealPublicKey } from './keys.js'
import { decodeB64, encodeB64 } from './b64.js'

export interface SealRecipient {
  /** Who this is (a peer id): the opener presents the same id. */
  id: string
  /** base64url raw X25519 public key, as published by the recipient. */
  publicKey: string
}

export interface SealOpener {
  id: string
  privateKey: KeyObject
}

export interface SealOptions {
  /**
   * Associated data: what the secret is for (`ssh-general-key dc=nbg1`). Not secret, not stored
   * in clear (only a digest); `open` must be given the same string.
   */
  aad?: string
}

/** Seals `plaintext` so that each recipient, and nobody else, can open it. */
export function seal (plaintext: Uint8Array, recipients: readonly SealRecipient[], options: SealOptions = {}): SealedEnvelope {
  if (!(plaintext instanceof Uint8Array)) throw new TypeError('plaintext must be a Uint8Array')
  if (plaintext.byteLength > MAX_PLAINTEXT_BYTES) throw new SealTooLargeError('the plaintext', plaintext.byteLength, MAX_PLAINTEXT_BYTES)
  const aad = aadDigest(options.aad)
  checkRecipients(recipients)
  const contentKey = randomBytes(KEY_BYTES)
  try {
    const to = recipients.map(r => wrap(contentKey, r, aad))
    const iv = randomBytes(IV_BYTES)
    const header = { v: SEAL_VERSION, alg: SEAL_ALG, aad: encodeB64(aad), iv: encodeB64(iv), to } as const
    const cipher = createCipheriv('aes-256-gcm', contentKey, iv, { authTagLength: TAG_BYTES })
    cipher.setAAD(contentAad(header))
    const ct = Buffer.concat([cipher.update(plaintext), cipher.final(), cipher.getAuthTag()])
    return { v: header.v, alg: header.alg, aad: header.aad, iv: header.iv, ct: encodeB64(ct), to }
  } finally {
    contentKey.fill(0)
  }
}

/**
 * Opens an envelope (object or JSON text) as `opener`. Throws only SealError subclasses:
 * SealMalformedError, SealNotRecipientError, SealKeyMismatchError, SealTamperedError,
 * SealWrongAadError, SealInvalidKeyError (the opener's key is not an X25519 private key).
 */
export function open (envelope: unknown, opener: SealOpener, options: SealOptions = {}): Uint8Array {
  const env = decodeEnvelope(envelope)
  checkPrivate(opener?.privateKey, 'the opener')
  const contentKey = unwrapFor(env, opener, options)
  try {
    const ct = decodeB64(env.ct) as Buffer
    if (ct.length < TAG_BYTES) throw new SealTamperedError('content')
    const decipher = createDecipheriv('aes-256-gcm', contentKey, decodeB64(env.iv) as Buffer, { authTagLength: TAG_BYTES })
    decipher.setAAD(contentAad(env))
    decipher.setAuthTag(ct.subarray(ct.length - TAG_BYTES))
    try {
      return new Uint8Array(Buffer.concat([decipher.update(ct.subarray(0, ct.length - TAG_BYTES)), decipher.final()]))
    } catch {
      throw new SealTamperedError('content')
    }
  } finally {
    contentKey.fill(0)
  }
}

/**
 * Opens the envelope as `opener` and seals the plaintext again to `newRecipients` with a new
 * content key (so a removed recipient's old key material is useless on the new envelope).
 * The associated data stays the same unless `options.newAad` is given.
 */
export function reseal (envelope: unknown, opener: SealOpener, newRecipients: readonly SealRecipient[], options: SealOptions & { newAad?: string } = {}): SealedEnvelope {
  const plaintext = open(envelope, opener, options)
  try {
    return seal(plaintext, newRecipients, { aad: options.newAad ?? options.aad })
  } finally {
    plaintext.fill(0)
  }
}

function aadDigest (aad: string | undefined): Buffer {
  const text = aad ?? ''
  if (typeof text !== 'string') throw new TypeError('aad must be a string')
  const bytes = Buffer.from(text, 'utf8')
  if (bytes.length > MAX_AAD_BYTES) throw new SealTooLargeError('the associated data', bytes.length, MAX_AAD_BYTES)
  return createHash('sha256').update(AAD_DIGEST_CONTEXT).update(bytes).digest()
}

function checkRecipients (recipients: readonly SealRecipient[]): void {
  if (!Array.isArray(recipients) || recipients.length === 0) throw new SealRecipientsError('at least one recipient is needed')
  if (recipients.length > MAX_RECIPIENTS) throw new SealRecipientsError(`more than ${MAX_RECIPIENTS}`)
  const seen = new Set<string>()
  for (const r of recipients) {
    if (!recipientIdSchema.safeParse(r?.id).success) throw new SealRecipientsError(`id ${JSON.stringify(r?.id)} is not 1-256 printable ASCII characters`)
    if (seen.has(r.id)) throw new SealRecipientsError(`${JSON.stringify(r.id)} is listed twice`)
    seen.add(r.id)
  }
}

function wrapKeyAndNonce (shared: Buffer, id: string, epk: Buffer, pk: Buffer, aad: Buffer): { key: Buffer, iv: Buffer } {
  const idBytes = Buffer.from(id, 'utf8')
  const len = Buffer.alloc(2)
  len.writeUInt16BE(idBytes.length)
  const info = Buffer.concat([Buffer.from(WRAP_INFO_CONTEXT), len, idBytes, epk, pk, aad])
  const okm = Buffer.from(hkdfSync('sha256', shared, Buffer.concat([epk, pk]), info, KEY_BYTES + IV_BYTES))
  return { key: okm.subarray(0, KEY_BYTES), iv: okm.subarray(KEY_BYTES) }
}

function wrap (contentKey: Buffer, recipient: SealRecipient, aad: Buffer): RecipientEntry {
  const recipientKey = importSealPublicKey(recipient.publicKey, `recipient ${JSON.stringify(recipient.id)}`)
  const pk = decodeB64(recipient.publicKey) as Buffer
  const eph = generateKeyPairSync('x25519')
  const epk = Buffer.from(rawPublic(eph.publicKey), 'base64url')
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey: eph.privateKey, publicKey: recipientKey })
  } catch {
    // OpenSSL refuses low-order points (an all-zero shared secret)
    throw new SealInvalidKeyError(`recipient ${JSON.stringify(recipient.id)}`, 'a low-order point')
  }
  const { key, iv } = wrapKeyAndNonce(shared, recipient.id, epk, pk, aad)
  shared.fill(0)
  const cipher = createCipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  cipher.setAAD(Buffer.from(recipient.id, 'utf8'))
  const wk = Buffer.concat([cipher.update(contentKey), cipher.final(), cipher.getAuthTag()])
  key.fill(0)
  return { id: recipient.id, pk: encodeB64(pk), epk: encodeB64(epk), wk: encodeB64(wk) }
}

function unwrapFor (env: SealedEnvelope, opener: SealOpener, options: SealOptions): Buffer {
  const entry = env.to.find(r => r.id === opener.id)
  if (entry == null) throw new SealNotRecipientError(String(opener.id))
  if (sealPublicKey(opener.privateKey) !== entry.pk) throw new SealKeyMismatchError(entry.id)
  const epk = decodeB64(entry.epk) as Buffer
  let shared: Buffer
  try {
    shared = diffieHellman({ privateKey: opener.privateKey, publicKey: importSealPublicKey(entry.epk, 'the envelope') })
  } catch {
    throw new SealTamperedError(`ephemeral key of ${JSON.stringify(entry.id)}`)
  }
  const sealedAad = decodeB64(env.aad) as Buffer
  const { key, iv } = wrapKeyAndNonce(shared, entry.id, epk, decodeB64(entry.pk) as Buffer, sealedAad)
  shared.fill(0)
  const wk = decodeB64(entry.wk) as Buffer
  const decipher = createDecipheriv('aes-256-gcm', key, iv, { authTagLength: TAG_BYTES })
  decipher.setAAD(Buffer.from(entry.id, 'utf8'))
  decipher.setAuthTag(wk.subarray(KEY_BYTES))
  let contentKey: Buffer
  try {
    contentKey = Buffer.concat([decipher.update(wk.subarray(0, KEY_BYTES)), decipher.final()])
  } catch {
    throw new SealTamperedError(`key wrapped for ${JSON.stringify(entry.id)}`)
  } finally {
    key.fill(0)
  }
  // the stored digest is authentic now (it is part of the wrapping key's derivation):
  // a difference means the caller's associated data is not the one sealed with
  if (!sealedAad.equals(aadDigest(options.aad))) {
    contentKey.fill(0)
    throw new SealWrongAadError()
  }
  return contentKey
}

function contentAad (header: Pick<SealedEnvelope, 'v' | 'alg' | 'aad' | 'iv' | 'to'>): Buffer {
  const canonical = canonicalJson({ v: header.v, alg: header.alg, aad: header.aad, iv: header.iv, to: header.to.map(r => ({ id: r.id, pk: r.pk, epk: r.epk, wk: r.wk })) })
  return Buffer.concat([Buffer.from(CONTENT_AAD_CONTEXT), Buffer.from(canonical, 'utf8')])
}
