/**
 * iPXE scripts: the boot script of a profile for one architecture, and the error script a
 * machine gets instead of an HTTP error (it prints the reason, waits, and retries).
 *
 * Boot scripts load the kernel as image `kernel` and each initrd under its own name, then set
 * the command line with `imgargs`. On `efi` the command line also names every initrd
 * (`initrd=<name>`), which the kernel's EFI stub reads them by; on `pcbios` iPXE hands all
 * initrds to the kernel itself. On any failure the script says so, sleeps, and `exit 1`s back to
 * the script that chained it (whose loop tries the next endpoint) — or chains `retryUrl` if given.
 */
import { UnsafeScriptValueError, UnsupportedPlatformError } from './errors.js'
import { profileTemplate, templateContext, type RenderInput } from './context.js'
import { normalizeArch, normalizeMac, type Arch } from './normalize.js'

export type Platform = 'pcbios' | 'efi'

export interface BootScriptInput extends RenderInput {
  /** iPXE `${buildarch}` (i386, x86_64, arm64, …). */
  arch: string
  /** iPXE `${platform}` (pcbios, efi). */
  platform: string
  /** Where iPXE fetches an artifact (name or CID) from, e.g. ref => `${base}/files/${ref}`. */
  artifactUrl: (ref: string) => string
  /** Seconds to wait before retrying after a failure (default 30). */
  retrySeconds?: number
  /** Chain this URL to retry instead of returning to the calling script. */
  retryUrl?: string
}

export const DEFAULT_RETRY_SECONDS = 30

const PLATFORMS: Readonly<Record<Platform, readonly Arch[]>> = {
  pcbios: ['x86_64', 'i386'],
  efi: ['x86_64', 'i386', 'arm64', 'arm32', 'riscv64']
}

/** The canonical (arch, platform) pair iPXE reported. @throws UnsupportedPlatformError */
export function bootTarget (arch: string, platform: string): { arch: Arch, platform: Platform } {
  const p = platform === 'pcbios' || platform === 'efi' ? platform : undefined
  const a = normalizeArch(arch, platform)
  if (p == null || a == null || !PLATFORMS[p].includes(a)) throw new UnsupportedPlatformError(arch.slice(0, 32), platform.slice(0, 32))
  return { arch: a, platform: p }
}

/**
 * Refuses text that would change the meaning of an iPXE command line: anything but printable
 * ASCII, `$` (setting expansion), quotes and backslashes, and the tokens `||`, `&&`, `;`, `#…`.
 */
export function ipxeSafe (what: string, value: string, options: { spaces?: boolean } = {}): string {
  const bad = /[^\x20-\x7e]|[$"'`\\]/.exec(value)
  if (bad != null) throw new UnsafeScriptValueError(what, `it contains ${JSON.stringify(bad[0])}`)
  if (options.spaces !== true && value.includes(' ')) throw new UnsafeScriptValueError(what, 'it contains a space')
  for (const token of value.split(' ')) {
    if (token === '||' || token === '&&' || token === ';' || token.startsWith('#')) throw new UnsafeScriptValueError(what, `it contains the token "${token}"`)
  }
  return value
}

function retrySeconds (s: number | undefined): number {
  if (s == null) return DEFAULT_RETRY_SECONDS
  return Math.min(3600, Math.max(1, Math.round(s)))
}

function retryLines (seconds: number, retryUrl: string | undefined): string[] {
  if (retryUrl == null) return [`sleep ${seconds}`, 'exit 1']
  return [`sleep ${seconds}`, `chain ${ipxeSafe('retry URL', retryUrl)} || goto retry`]
}

const IMAGE_NAME = /^[A-Za-z0-9._-]{1,64}$/

function imageNames (initrds: readonly string[]): string[] {
  const seen = new Set(['kernel'])
  return initrds.map((ref, i) => {
    const base = ref.slice(ref.lastIndexOf('/') + 1)
    const name = IMAGE_NAME.test(base) && !seen.has(base) ? base : `initrd${i}`
    seen.add(name)
    return name
  })
}

/**
 * The iPXE script that boots `profile` on this architecture and platform.
 * @throws UnsupportedPlatformError, TemplateRenderError (cmdline), UnsafeScriptValueError
 *   — answer the machine with errorScript(err.message) instead.
 */
export function bootScript (input: BootScriptInput): string {
  const { arch, platform } = bootTarget(input.arch, input.platform)
  const p = input.profile
  const o = p.arch[arch] ?? {}
  const kernel = o.kernel ?? p.kernel
  const initrds = o.initrd ?? p.initrd
  const [field, source] = o.cmdline != null ? [`arch.${arch}.cmdline`, o.cmdline] : ['cmdline', p.cmdline]
  const ctx = templateContext({ ...input, host: { ...input.host, arch, platform } })
  const rendered = profileTemplate(p, field, source).render(ctx).split(/\s+/).filter(s => s !== '').join(' ')
  const names = imageNames(initrds)
  const args = [...(platform === 'efi' ? names.map(n => `initrd=${n}`) : []), ...(rendered !== '' ? [rendered] : [])].join(' ')
  const mac = input.host.mac != null ? normalizeMac(input.host.mac) ?? 'unknown' : 'unknown'
  const seconds = retrySeconds(input.retrySeconds)
  return [
    '#!ipxe',
    `echo ctpf: ${mac} ${arch}/${platform} boots profile ${p.name}`,
    'imgfree',
    `kernel --name kernel ${ipxeSafe('kernel URL', input.artifactUrl(kernel))} || goto failed`,
    ...initrds.map((ref, i) => `initrd --name ${names[i]} ${ipxeSafe('initrd URL', input.artifactUrl(ref))} || goto failed`),
    `imgargs kernel ${ipxeSafe(`${field} (rendered)`, args, { spaces: true })} || goto failed`,
    'boot || goto failed',
    ':failed',
    `echo ctpf: booting profile ${p.name} failed, retrying in ${seconds} s`,
    ':retry',
    ...retryLines(seconds, input.retryUrl),
    ''
  ].join('\n')
}

/** Text fit for `echo`: printable ASCII without iPXE syntax, in lines of at most 160 characters. */
function echoLines (text: string): string[] {
  const clean = text.replace(/[^A-Za-z0-9 ._:/=,+@()<>%*?!\[\]{}-]/g, ' ').replace(/\s+/g, ' ').trim().slice(0, 800)
  const lines: string[] = []
  for (let rest = clean; rest !== ''; rest = rest.slice(160).trim()) lines.push(rest.slice(0, 160))
  return lines.length > 0 ? lines : ['(no reason given)']
}

/**
 * An iPXE script that prints why the machine cannot boot, waits `retrySeconds` (default 30,
 * 1…3600), then `exit 1`s to the script that chained it — or chains `options.retryUrl` again.
 */
export function errorScript (reason: string, retrySeconds_?: number, options: { retryUrl?: string } = {}): string {
  const seconds = retrySeconds(retrySeconds_)
  const [first, ...more] = echoLines(reason)
  return [
    '#!ipxe',
    `echo ctpf: cannot boot this machine: ${first}`,
    ...more.map(l => `echo ctpf: ${l}`),
    `echo ctpf: retrying in ${seconds} s`,
    ':retry',
    ...retryLines(seconds, options.retryUrl),
    ''
  ].join('\n')
}
