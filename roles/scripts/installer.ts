/** Installer configs of a profile, rendered for one host. */
import { NoInstallerConfigError } from './errors.js'
import { profileTemplate, templateContext, type RenderInput } from './context.js'

export const INSTALLER_KINDS = ['kickstart', 'preseed', 'user-data', 'meta-data', 'pre-install', 'post-install'] as const
export type InstallerKind = typeof INSTALLER_KINDS[number]

export function isInstallerKind (kind: string): kind is InstallerKind {
  return (INSTALLER_KINDS as readonly string[]).includes(kind)
}

export interface InstallerConfig {
  body: string
  contentType: string
}

/** The profile field and source of an installer config, or undefined when the profile has none. */
function source (input: RenderInput, kind: InstallerKind): [field: string, source: string] | undefined {
  const i = input.profile.installer
  switch (kind) {
    case 'kickstart': return i.kickstart != null ? ['installer.kickstart', i.kickstart] : undefined
    case 'preseed': return i.preseed != null ? ['installer.preseed', i.preseed] : undefined
    case 'user-data': return i.cloudInit != null ? ['installer.cloudInit.userData', i.cloudInit.userData] : undefined
    case 'meta-data': return i.cloudInit != null ? ['installer.cloudInit.metaData', i.cloudInit.metaData] : undefined
    case 'pre-install': return i.preInstall != null ? ['installer.preInstall', i.preInstall] : undefined
    case 'post-install': return i.postInstall != null ? ['installer.postInstall', i.postInstall] : undefined
  }
}

/** True when rendering `kind` needs a phone-home token (so one is minted only when used). */
export function installerUsesPhoneHome (input: Pick<RenderInput, 'profile'>, kind: InstallerKind): boolean {
  const s = source(input as RenderInput, kind)
  return s != null && profileTemplate(input.profile, s[0], s[1]).uses('phoneHome.token')
}

/**
 * Renders kickstart, preseed, cloud-init user-data / meta-data, or the pre-/post-install script.
 * @throws NoInstallerConfigError, TemplateRenderError (field, line, reason)
 */
export function installerConfig (kind: InstallerKind, input: RenderInput): InstallerConfig {
  const s = source(input, kind)
  if (s == null) throw new NoInstallerConfigError(input.profile.name, kind)
  const body = profileTemplate(input.profile, s[0], s[1]).render(templateContext(input))
  const contentType = kind === 'pre-install' || kind === 'post-install' ? 'text/x-shellscript; charset=utf-8' : 'text/plain; charset=utf-8'
  return { body, contentType }
}
