/** Strict base64url: only canonical encodings decode, so two strings never mean the same bytes. */

const ALPHABET = /^[A-Za-z0-9_-]*$/

/** Decodes canonical unpadded base64url; `undefined` when invalid or not `length` bytes (if given). */
export function decodeB64 (text: string, length?: number): Buffer | undefined {
  if (typeof text !== 'string' || !ALPHABET.test(text)) return undefined
  const bytes = Buffer.from(text, 'base64url')
  if (bytes.toString('base64url') !== text) return undefined
  if (length != null && bytes.length !== length) return undefined
  return bytes
}

export function encodeB64 (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}
