/**
 * The chainload script embedded in every iPXE binary and boot medium ctpf makes (builder's
 * `EMBED=`, packager's media): bring the network up with DHCP (a few tries), then chain the
 * first boot endpoint that answers, with the machine's identity in the query; when none
 * answers, say so and start over. A booting machine cannot show an error page, so the script
 * never ends.
 *
 * @example
 * ```ts
 * import { chainloadScript } from './protocols/boot/ipxe-script.js'
 * const script = chainloadScript(['http://10.0.0.1:8080/boot.ipxe', 'https://boot.example.org/boot.ipxe'])
 * await writeFile('embed.ipxe', script)
 * ```
 */

/** Bump when the generated text changes: it is part of the builder's cache key. */
export const CHAINLOAD_SCRIPT_VERSION = '1'

/** Query appended to every endpoint; iPXE expands the `${…}` settings on the machine. */
export const IDENTITY_QUERY = 'mac=${mac}&uuid=${uuid}&buildarch=${buildarch}&platform=${platform}'

export interface ChainloadScriptOptions {
  /** `dhcp` attempts before the script waits and starts over (default 3). */
  dhcpAttempts?: number
  /** Seconds to wait after every endpoint failed or DHCP gave up (default 10). */
  retryDelaySeconds?: number
}

/** An endpoint that cannot be spliced into the script. `code` is stable. */
export class InvalidEndpointError extends Error {
  static readonly code = 'ERR_IPXE_SCRIPT_ENDPOINT'
  readonly code = InvalidEndpointError.code
  override readonly name = 'InvalidEndpointError'
  constructor (readonly endpoint: string, reason: string) {
    super(`invalid boot endpoint "${endpoint.slice(0, 80)}": ${reason}`)
  }
}

/**
 * Characters iPXE would interpret (`$` expansion, whitespace splitting, `#` comments,
 * quoting) or that have no place in a URL line of a script.
 */
const FORBIDDEN = /[\s$#"'\\`<>{}|^;]/

/**
 * Check one endpoint and return the URL the script chains: `http(s)://host[:port]/path`,
 * `boot.ipxe` when the path is `/`, the identity query appended (`&` when it has one).
 */
export function endpointUrl (endpoint: string): string {
  if (typeof endpoint !== 'string' || endpoint === '') throw new InvalidEndpointError(String(endpoint), 'empty')
  if (FORBIDDEN.test(endpoint)) throw new InvalidEndpointError(endpoint, 'contains whitespace or characters iPXE interprets ($ # quotes \\ ` < > { } | ^ ;)')
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f\x7f]/.test(endpoint)) throw new InvalidEndpointError(endpoint, 'contains control characters')
  let url: URL
  try {
    url = new URL(endpoint)
  } catch {
    throw new InvalidEndpointError(endpoint, 'not a URL')
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') throw new InvalidEndpointError(endpoint, 'only http:// and https:// endpoints')
  if (url.username !== '' || url.password !== '') throw new InvalidEndpointError(endpoint, 'credentials do not belong in a boot URL')
  if (url.hash !== '') throw new InvalidEndpointError(endpoint, 'no #fragment')
  if (url.hostname === '') throw new InvalidEndpointError(endpoint, 'no host')
  let base = endpoint
  if (url.pathname === '/' && url.search === '') base = endpoint.endsWith('/') ? `${endpoint}boot.ipxe` : `${endpoint}/boot.ipxe`
  const sep = url.search === '' ? '?' : (base.endsWith('&') || base.endsWith('?') ? '' : '&')
  return `${base}${sep}${IDENTITY_QUERY}`
}

/**
 * The iPXE script that tries each endpoint in order. Throws `InvalidEndpointError` for an
 * endpoint it cannot splice safely, and when the list is empty.
 */
export function chainloadScript (endpoints: readonly string[], options: ChainloadScriptOptions = {}): string {
  if (!Array.isArray(endpoints) || endpoints.length === 0) throw new InvalidEndpointError('', 'at least one endpoint is needed')
  const attempts = options.dhcpAttempts ?? 3
  const delay = options.retryDelaySeconds ?? 10
  if (!Number.isInteger(attempts) || attempts < 1 || attempts > 20) throw new RangeError('dhcpAttempts must be an integer from 1 to 20')
  if (!Number.isInteger(delay) || delay < 0 || delay > 3600) throw new RangeError('retryDelaySeconds must be an integer from 0 to 3600')
  const urls = endpoints.map(endpointUrl)

  const lines = [
    '#!ipxe',
    '# ctpf chainload script (generated): DHCP, then the first boot endpoint that answers.',
    ':ctpf-start',
    'echo ctpf: ${buildarch}/${platform} starting network boot'
  ]
  for (let i = 1; i <= attempts; i++) {
    lines.push(`echo ctpf: DHCP attempt ${i} of ${attempts}`)
    lines.push('dhcp && goto ctpf-endpoints ||')
  }
  lines.push(
    `echo ctpf: no DHCP answer after ${attempts} attempts, retrying in ${delay} s`,
    `sleep ${delay}`,
    'goto ctpf-start',
    ':ctpf-endpoints',
    'echo ctpf: ${mac} got ${ip}'
  )
  urls.forEach((url, i) => {
    lines.push(`echo ctpf: trying endpoint ${i + 1} of ${urls.length}: ${endpoints[i]}`)
    lines.push(`chain --autofree ${url} ||`)
  })
  lines.push(
    `echo ctpf: ERROR: no boot endpoint answered (${urls.length} tried), retrying in ${delay} s`,
    `sleep ${delay}`,
    'goto ctpf-start',
    ''
  )
  return lines.join('\n')
}
