/**
 * Seeded generators of hostile DHCP datagrams, shared by the decoder property test and the
 * UDP fuzz test of the server. Same seed, same packets: a failure can be replayed.
 */
import { BOOTREQUEST, MessageType, encode } from '../../../protocols/dhcp/index.js'
import { prng } from '../../helpers/prng.js'
export { prng }


const TYPES = Object.values(MessageType)

/** A valid request the mutators start from. */
export function seedPacket (rand: () => number): Buffer {
  const mac = Uint8Array.from({ length: 6 }, () => Math.floor(rand() * 256))
  return encode({
    op: BOOTREQUEST,
    xid: Math.floor(rand() * 2 ** 32),
    chaddr: mac,
    options: {
      messageType: TYPES[Math.floor(rand() * TYPES.length)] as number,
      paramRequestList: [1, 3, 6, 43, 60, 66, 67],
      vendorClassId: rand() < 0.5 ? 'PXEClient:Arch:00000:UNDI:002001' : 'udhcp 1.36',
      clientArch: [Math.floor(rand() * 20)],
      userClass: rand() < 0.3 ? ['iPXE'] : undefined,
      serverId: rand() < 0.5 ? '127.0.0.1' : undefined,
      requestedIp: rand() < 0.5 ? '127.0.0.150' : undefined
    }
  })
}

/** One hostile datagram: random bytes, a truncation, byte flips, or a spliced option area. */
export function hostilePacket (rand: () => number): Buffer {
  const pick = rand()
  if (pick < 0.15) return Buffer.from(Uint8Array.from({ length: Math.floor(rand() * 600) }, () => Math.floor(rand() * 256)))
  const p = Buffer.from(seedPacket(rand))
  if (pick < 0.35) return p.subarray(0, Math.floor(rand() * p.length))
  if (pick < 0.8) {
    const flips = 1 + Math.floor(rand() * 8)
    for (let i = 0; i < flips; i++) {
      // bias flips toward the header's length byte and the option area
      const at = rand() < 0.2 ? 2 : 236 + Math.floor(rand() * (p.length - 236))
      p[at] = Math.floor(rand() * 256)
    }
    return p
  }
  // random option TLVs after the cookie
  const tail = Uint8Array.from({ length: Math.floor(rand() * 300) }, () => Math.floor(rand() * 256))
  return Buffer.concat([p.subarray(0, 240), Uint8Array.of(53, 1, 1 + Math.floor(rand() * 8)), tail])
}
