/**
 * X25519 key pairs for sealing, separate from an agent's libp2p ed25519 identity.
 * Public keys travel as base64url of the raw 32 bytes; private keys stay `KeyObject`s, which
 * print as `KeyObject { type: 'private' }` and serialise to `{}`, so they cannot leak into a
 * log line by accident. `exportSealPrivateKey` is the one way to get the raw secret (for a
 * 0600 file in the data directory).
 */
import { createPrivateKey, createPublicKey, generateKeyPairSync, type KeyObject } from 'node:crypto'
import { KEY_BYTES } from './constants.js'
import { SealInvalidKeyError } from './errors.js'
import { decodeB64 } from './b64.js'

// DER prefixes of an X25519 SubjectPublicKeyInfo and PKCS#8 PrivateKeyInfo (RFC 8410) for a raw 32-byte key.
const SPKI_PREFIX = Buffer.from('302a300506032b656e032100', 'hex')
const PKCS8_PREFIX = Buffer.from('302e020100300506032b656e04220420', 'hex')

export interface SealKeyPair {
  /** base64url of the raw 32-byte X25519 public key: publish it. */
  publicKey: string
  /** Keep it: never log, never send. */
  privateKey: KeyObject
}

export function generateSealKeyPair (): SealKeyPair {
  const { publicKey, privateKey } = generateKeyPairSync('x25519')
  return { publicKey: rawPublic(publicKey), privateKey }
}

/** The base64url public key that belongs to a private key. */
export function sealPublicKey (privateKey: KeyObject): string {
  checkPrivate(privateKey, 'the opener')
  return rawPublic(createPublicKey(privateKey))
}

/** The raw private key, base64url. A secret: write it to a 0600 file, nowhere else. */
export function exportSealPrivateKey (privateKey: KeyObject): string {
  checkPrivate(privateKey, 'the caller')
  const der = privateKey.export({ format: 'der', type: 'pkcs8' })
  return der.subarray(der.length - KEY_BYTES).toString('base64url')
}

/** Inverse of `exportSealPrivateKey`. Throws SealInvalidKeyError (without echoing the input). */
export function importSealPrivateKey (raw: string): KeyObject {
  const bytes = decodeB64(raw.trim(), KEY_BYTES)
  if (bytes == null) throw new SealInvalidKeyError('the caller', `a private key is ${KEY_BYTES} bytes of base64url`)
  try {
    return createPrivateKey({ key: Buffer.concat([PKCS8_PREFIX, bytes]), format: 'der', type: 'pkcs8' })
  } catch {
    throw new SealInvalidKeyError('the caller', 'not an X25519 private key')
  }
}

/** Parses a base64url raw public key. Throws SealInvalidKeyError naming `whose`. */
export function importSealPublicKey (publicKey: string, whose = 'a recipient'): KeyObject {
  const bytes = typeof publicKey === 'string' ? decodeB64(publicKey, KEY_BYTES) : undefined
  if (bytes == null) throw new SealInvalidKeyError(whose, `a public key is ${KEY_BYTES} bytes of base64url`)
  try {
    return createPublicKey({ key: Buffer.concat([SPKI_PREFIX, bytes]), format: 'der', type: 'spki' })
  } catch {
    throw new SealInvalidKeyError(whose, 'not an X25519 public key')
  }
}

export function rawPublic (publicKey: KeyObject): string {
  const der = publicKey.export({ format: 'der', type: 'spki' })
  return der.subarray(der.length - KEY_BYTES).toString('base64url')
}

export function checkPrivate (key: unknown, whose: string): asserts key is KeyObject {
  const k = key as KeyObject | undefined
  if (k == null || typeof k !== 'object' || k.type !== 'private' || k.asymmetricKeyType !== 'x25519') {
    throw new SealInvalidKeyError(whose, 'expected an X25519 private KeyObject')
  }
}
