/**
 * SSH keys: ed25519 key pairs in OpenSSH format, `SHA256:` fingerprints (as `ssh-keygen -l`
 * prints them), and pinned host keys (a public key line or a fingerprint).
 */
import { createHash } from 'node:crypto'
import ssh2 from 'ssh2'
import { InvalidKeyError } from './errors.js'

const { utils } = ssh2

export interface SshKeyPair {
  /** OpenSSH private key (`-----BEGIN OPENSSH PRIVATE KEY-----`), unencrypted. Keep it secret. */
  privateKey: Buffer
  /** Public key line, `ssh-ed25519 AAAA… comment`, ready for authorized_keys. */
  publicKey: string
  /** `SHA256:…` of the public key. */
  fingerprint: string
}

/** A fresh ed25519 key pair in OpenSSH format. */
export function generateKeyPair (options: { comment?: string } = {}): SshKeyPair {
  // ssh2 1.17 drops a leading zero byte of an ed25519 public key (about 1 key in 256), which
  // leaves a 31-byte key nothing can parse: draw again until the key is whole
  for (let i = 0; ; i++) {
    const pair = utils.generateKeyPairSync('ed25519', { comment: options.comment ?? 'ctpf' })
    const publicKey = pair.public.trim()
    if (!(utils.parseKey(publicKey) instanceof Error) || i >= 16) {
      return { privateKey: Buffer.from(pair.private), publicKey, fingerprint: fingerprint(publicKey) }
    }
  }
}

/** The SHA-256 fingerprint of a public key blob (the base64-decoded middle of a key line). */
export function fingerprintOfBlob (blob: Uint8Array): string {
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`
}

/** A parsed public key line: its type and wire blob. */
export interface PublicKey {
  type: string
  blob: Buffer
}

/** Parse `type base64 [comment]`; throws `InvalidKeyError`. */
export function parsePublicKey (line: string): PublicKey {
  const parsed = utils.parseKey(line.trim())
  if (parsed instanceof Error) throw new InvalidKeyError(parsed.message)
  if (parsed.isPrivateKey()) throw new InvalidKeyError('expected a public key, got a private key')
  return { type: parsed.type, blob: parsed.getPublicSSH() }
}

/** `SHA256:…` of an OpenSSH public key line (`ssh-ed25519 AAAA… comment`). */
export function fingerprint (publicKeyLine: string): string {
  return fingerprintOfBlob(parsePublicKey(publicKeyLine).blob)
}

const FINGERPRINT = /^SHA256:[A-Za-z0-9+/]{43}$/

/** Host key algorithms that a key of `type` signs with (what to offer so the pinned key is the one presented). */
const ALGORITHMS_FOR_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521']
}

/** A pinned host key: what `hostVerifier` compares the presented key with. */
export interface HostKeyPin {
  /** `SHA256:…` of the pinned key. */
  fingerprint: string
  /** Host key algorithms to offer, when the pin names the key type (a key line); else undefined (defaults). */
  algorithms: string[] | undefined
  /** Does the presented key blob match the pin? */
  matches: (blob: Buffer) => boolean
}

/** Read a pin: an OpenSSH public key line, or its `SHA256:` fingerprint. Throws `InvalidKeyError`. */
export function parseHostKeyPin (hostKey: string): HostKeyPin {
  const text = hostKey.trim()
  if (text.startsWith('SHA256:')) {
    if (!FINGERPRINT.test(text)) throw new InvalidKeyError(`malformed fingerprint ${JSON.stringify(text)}`)
    return { fingerprint: text, algorithms: undefined, matches: (blob) => fingerprintOfBlob(blob) === text }
  }
  const key = parsePublicKey(text)
  const algorithms = ALGORITHMS_FOR_TYPE[key.type]
  if (algorithms === undefined) throw new InvalidKeyError(`unsupported host key type ${key.type}`)
  return { fingerprint: fingerprintOfBlob(key.blob), algorithms, matches: (blob) => blob.equals(key.blob) }
}
