/**
 * Canonical bytes for signed records and tokens, and the one framed-JSON helper every mesh
 * protocol uses. Canonical JSON: object keys sorted, no whitespace, so the same value always
 * signs to the same bytes.
 */
import { lpStream } from '@libp2p/utils'
import type { Stream } from '@libp2p/interface'
import type { z } from 'zod'

export function canonicalJson (value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v !== null && typeof v === 'object' && !Array.isArray(v)) {
      const sorted: Record<string, unknown> = {}
      for (const k of Object.keys(v as Record<string, unknown>).sort()) sorted[k] = (v as Record<string, unknown>)[k]
      return sorted
    }
    return v
  })
}

export function canonicalBytes (value: unknown): Uint8Array {
  return new TextEncoder().encode(canonicalJson(value))
}

export function toBase64url (bytes: Uint8Array): string {
  return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('base64url')
}

export function fromBase64url (text: string): Uint8Array {
  if (!/^[A-Za-z0-9_-]*$/.test(text)) throw new TypeError('not base64url')
  return new Uint8Array(Buffer.from(text, 'base64url'))
}

/** Parses JSON text and validates it against a schema; throws the schema's error. */
export function parseJson<T> (schema: z.ZodType<T>, text: string): T {
  return schema.parse(JSON.parse(text))
}

export interface JsonStreamOptions {
  /** Largest single message accepted, in bytes. */
  maxBytes: number
  signal?: AbortSignal
}

/** Length-prefixed JSON messages over a libp2p stream, validated on read. */
export function jsonStream (stream: Stream, { maxBytes }: { maxBytes: number }): {
  read: <T>(schema: z.ZodType<T>, options?: { signal?: AbortSignal }) => Promise<T>
  write: (value: unknown, options?: { signal?: AbortSignal }) => Promise<void>
} {
  const lp = lpStream(stream, { maxDataLength: maxBytes })
  return {
    async read (schema, options) {
      const buf = await lp.read(options)
      return parseJson(schema, new TextDecoder().decode(buf.subarray()))
    },
    async write (value, options) {
      await lp.write(new TextEncoder().encode(JSON.stringify(value)), options)
    }
  }
}
