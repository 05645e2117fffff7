/**
 * Link setup with iproute2: MTU, addresses, up. Argument arrays only.
 */
import { execFile } from 'node:child_process'
import { isIP } from 'node:net'
import { promisify } from 'node:util'
import type { Logger } from 'pino'
import { TunConfigError, TunPermissionError, TunSetupError } from './errors.js'

const run = promisify(execFile)

/** Validates `10.0.0.1/24` / `fd00::1/64` (prefix optional: /32 or /128). */
export function parseCidr (cidr: string): { address: string, prefix: number, family: 4 | 6 } {
  const [address = '', prefixText, extra] = cidr.split('/')
  const family = isIP(address)
  if (family === 0 || extra !== undefined) throw new TunConfigError(`invalid address ${JSON.stringify(cidr)}`)
  const max = family === 4 ? 32 : 128
  const prefix = prefixText === undefined ? max : Number(prefixText)
  if (!/^\d+$/.test(prefixText ?? String(max)) || prefix > max) throw new TunConfigError(`invalid prefix in ${JSON.stringify(cidr)}`)
  return { address, prefix, family: family as 4 | 6 }
}

async function ip (ifname: string, args: string[], signal: AbortSignal | undefined): Promise<void> {
  try {
    await run('ip', args, { timeout: 10_000, signal })
  } catch (err) {
    const stderr = String((err as { stderr?: string }).stderr ?? '')
    if (/Operation not permitted/i.test(stderr)) throw new TunPermissionError(`ip ${args.join(' ')}`, { cause: err })
    throw new TunSetupError(ifname, args, { cause: stderr !== '' ? new Error(stderr) : err })
  }
}

export interface LinkSetup {
  mtu: number
  addresses: readonly string[]
  signal?: AbortSignal
  logger?: Logger
}

/** Sets the MTU, adds the addresses and brings `ifname` up. */
export async function setUpLink (ifname: string, opts: LinkSetup): Promise<void> {
  await ip(ifname, ['link', 'set', 'dev', ifname, 'mtu', String(opts.mtu)], opts.signal)
  for (const cidr of opts.addresses) {
    const { address, prefix, family } = parseCidr(cidr)
    const args = ['addr', 'add', `${address}/${prefix}`, 'dev', ifname]
    if (family === 6) args.push('nodad')
    await ip(ifname, args, opts.signal)
  }
  await ip(ifname, ['link', 'set', 'dev', ifname, 'up'], opts.signal)
  opts.logger?.debug({ tun: ifname, mtu: opts.mtu, addresses: opts.addresses }, 'TUN link up')
}
