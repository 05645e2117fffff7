/**
 * The files of a data directory. Secrets (identity.key, root.key, control.token,
 * invite.token) are written with mode 0600; the directory itself is 0700.
 *
 *   identity.key   the agent's ed25519 libp2p key (protobuf)
 *   mesh.json      { meshId, root, bootstrap } once the agent is in a mesh
 *   root.key       the mesh root key, only on the agent that founded the mesh
 *   db/            the level store
 *   control.token  bearer token of the control endpoint
 *   control.url    base URL of the control endpoint while the agent runs
 */
import { exportSealPrivateKey, generateSealKeyPair, importSealPrivateKey } from '../protocols/seal/index.js'
import type { KeyObject } from 'node:crypto'
import { randomBytes } from 'node:crypto'
import { accessSync, constants, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs'
import { join } from 'node:path'
import { generateKeyPair, privateKeyFromProtobuf, privateKeyToProtobuf } from '@libp2p/crypto/keys'
import { z } from 'zod'
import { meshIdSchema } from '../protocols/membership/index.js'
import { DataDirError } from './errors.js'
import type { PrivateKey } from '@libp2p/interface'

export const files = {
  identity: 'identity.key',
  mesh: 'mesh.json',
  root: 'root.key',
  db: 'db',
  controlToken: 'control.token',
  controlUrl: 'control.url',
  invite: 'invite.token'
} as const

const meshFileSchema = z.object({
  meshId: meshIdSchema,
  root: z.string().regex(/^[A-Za-z0-9_-]{43}$/),
  bootstrap: z.array(z.string()).max(64)
}).strict()

export type MeshFile = z.infer<typeof meshFileSchema>

export function ensureDataDir (dir: string): void {
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 })
    if (!statSync(dir).isDirectory()) throw new Error('not a directory')
    accessSync(dir, constants.R_OK | constants.W_OK | constants.X_OK)
  } catch (err) {
    throw new DataDirError(dir, (err as Error).message, err)
  }
}

/** Writes a file atomically (temp file, then rename). */
export function writeFileAtomic (path: string, data: string | Uint8Array, mode = 0o600): void {
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, data, { mode })
  renameSync(tmp, path)
}

function readIfExists (path: string): Buffer | undefined {
  try {
    return readFileSync(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined
    throw err
  }
}

async function loadOrCreateKey (dir: string, name: string, create: boolean): Promise<PrivateKey | undefined> {
  const path = join(dir, name)
  let buf: Buffer | undefined
  try {
    buf = readIfExists(path)
  } catch (err) {
    throw new DataDirError(dir, `cannot read ${name}: ${(err as Error).message}`, err)
  }
  if (buf != null) {
    try {
      return privateKeyFromProtobuf(buf)
    } catch (err) {
      throw new DataDirError(dir, `${name} is not a valid key (corrupt?)`, err)
    }
  }
  if (!create) return undefined
  const key = await generateKeyPair('Ed25519')
  writeFileAtomic(path, privateKeyToProtobuf(key))
  return key
}

export async function loadIdentity (dir: string): Promise<PrivateKey> {
  return await loadOrCreateKey(dir, files.identity, true) as PrivateKey
}

export async function loadRootKey (dir: string): Promise<PrivateKey | undefined> {
  return await loadOrCreateKey(dir, files.root, false)
}

export async function createRootKey (dir: string): Promise<PrivateKey> {
  return await loadOrCreateKey(dir, files.root, true) as PrivateKey
}

export function readMeshFile (dir: string): MeshFile | undefined {
  const buf = readIfExists(join(dir, files.mesh))
  if (buf == null) return undefined
  try {
    return meshFileSchema.parse(JSON.parse(buf.toString('utf8')))
  } catch (err) {
    throw new DataDirError(dir, `${files.mesh} is corrupt`, err)
  }
}

export function writeMeshFile (dir: string, mesh: MeshFile): void {
  writeFileAtomic(join(dir, files.mesh), JSON.stringify(meshFileSchema.parse(mesh), null, 2) + '\n', 0o644)
}

/** The control endpoint's bearer token: created once, kept across restarts. */
export function loadControlToken (dir: string): string {
  const path = join(dir, files.controlToken)
  const existing = readIfExists(path)?.toString('utf8').trim()
  if (existing != null && existing.length >= 32) return existing
  const token = randomBytes(32).toString('base64url')
  writeFileAtomic(path, token + '\n')
  return token
}

export function writeControlUrl (dir: string, url: string): void {
  writeFileAtomic(join(dir, files.controlUrl), url + '\n', 0o644)
}

export function removeControlUrl (dir: string): void {
  rmSync(join(dir, files.controlUrl), { force: true })
}

/**
 * The agent's sealing key (X25519, `seal.key`, 0600): secrets meant for this agent (a dc's SSH
 * general key, cluster tokens) are sealed to its public half, which it publishes in state.
 */
export function loadSealKey (dir: string): KeyObject {
  const path = join(dir, 'seal.key')
  const raw = readIfExists(path)
  if (raw != null) return importSealPrivateKey(raw.toString('utf8').trim())
  const pair = generateSealKeyPair()
  writeFileAtomic(path, exportSealPrivateKey(pair.privateKey) + '\n')
  return pair.privateKey
}
