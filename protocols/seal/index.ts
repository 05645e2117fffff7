/**
 * Sealing secrets to a set of agents. Each agent has an X25519 key pair (separate from its
 * libp2p identity) and publishes the public half; a secret — the per-datacenter SSH general
 * key, a k3s server token, a kubeconfig — is sealed to the agents that need it and stored or
 * gossiped as a JSON envelope that only they can open. `reseal` adds or removes recipients.
 *
 * @example
 * ```ts
 * import { generateSealKeyPair, seal, open, reseal, encodeEnvelope } from './protocols/seal/index.js'
 *
 * const a = generateSealKeyPair() // { publicKey: 'base64url', privateKey: KeyObject }
 * const b = generateSealKeyPair()
 * const env = seal(secretBytes, [{ id: peerA, publicKey: a.publicKey }, { id: peerB, publicKey: b.publicKey }],
 *   { aad: 'ssh-general-key dc=nbg1' })
 * await state.write('keys/nbg1/general', encodeEnvelope(env))
 * const plain = open(env, { id: peerB, privateKey: b.privateKey }, { aad: 'ssh-general-key dc=nbg1' })
 * const onlyB = reseal(env, { id: peerA, privateKey: a.privateKey }, [{ id: peerB, publicKey: b.publicKey }],
 *   { aad: 'ssh-general-key dc=nbg1' })
 * // failures are SealError subclasses: err.code === 'ERR_SEAL_NOT_RECIPIENT' | 'ERR_SEAL_TAMPERED' | …
 * ```
 */
export { seal, open, reseal, type SealRecipient, type SealOpener, type SealOptions } from './seal.js'
export { decodeEnvelope, encodeEnvelope, recipientsOf, sealedEnvelopeSchema, type SealedEnvelope, type RecipientEntry } from './envelope.js'
export {
  generateSealKeyPair, sealPublicKey, exportSealPrivateKey, importSealPrivateKey, importSealPublicKey, type SealKeyPair
} from './keys.js'
export * from './constants.js'
export * from './errors.js'
