/** Wire constants of sealed envelopes (version 1). Changing any of them is a new version. */

export const SEAL_VERSION = 1
/** X25519 ECDH with a fresh ephemeral key per recipient, HKDF-SHA256, AES-256-GCM. */
export const SEAL_ALG = 'X25519-HKDF-SHA256-A256GCM'

/** Largest plaintext an envelope carries (keys, tokens, kubeconfigs: a few KiB in practice). */
export const MAX_PLAINTEXT_BYTES = 1024 * 1024
/** Largest associated data, in UTF-8 bytes. */
export const MAX_AAD_BYTES = 4096
export const MAX_RECIPIENTS = 256
/** Recipient ids are peer ids or names: printable, short. */
export const MAX_RECIPIENT_ID_LENGTH = 256
/** Upper bound on an encoded envelope, checked before JSON parsing. */
export const MAX_ENVELOPE_CHARS = Math.ceil((MAX_PLAINTEXT_BYTES + 16) * 4 / 3) + MAX_RECIPIENTS * (MAX_RECIPIENT_ID_LENGTH + 256) + 1024

export const KEY_BYTES = 32
export const IV_BYTES = 12
export const TAG_BYTES = 16

/** Domain-separation labels for hashing and key derivation. */
export const AAD_DIGEST_CONTEXT = 'ctpf-seal/v1 aad\0'
export const WRAP_INFO_CONTEXT = 'ctpf-seal/v1 wrap\0'
export const CONTENT_AAD_CONTEXT = 'ctpf-seal/v1 content\0'
