/**
 * The scripts role's core: boot profiles and groups, a strict template language for kernel
 * command lines and installer configs (kickstart, preseed, cloud-init, pre/post-install), the
 * iPXE scripts a booting machine is answered with, and one-time phone-home tokens. Pure logic:
 * storage (`profiles/<name>`, `groups/<name>` records) and HTTP live in the agent.
 *
 * @example
 * ```ts
 * import { parseProfile, validateGroups, bootAnswer, installerConfig, mintPhoneHomeToken, hashToken } from './roles/scripts/index.js'
 *
 * // write time: refused with field, line and reason (err.code, err.line, err.reason, err.template)
 * const profile = parseProfile({
 *   name: 'debian12', kernel: 'debian/12/linux', initrd: ['debian/12/initrd.gz'],
 *   cmdline: 'auto=true priority=critical url={{ urls.preseed }} netcfg/get_hostname={{ host.hostname | default("debian") }}',
 *   installer: { preseed: readFileSync('roles/scripts/templates/preseed.cfg', 'utf8') }
 * })
 * const groups = validateGroups([{ name: 'all', profile: 'debian12' }], { profiles: ['debian12'] }) // GroupTieError on ties
 *
 * // boot time: always an iPXE script (an error script that retries when nothing fits)
 * const { script } = bootAnswer({
 *   groups, profile: name => name === profile.name ? profile : undefined,
 *   host: { mac: '52-54-00-12-34-56' }, arch: 'x86_64', platform: 'efi',
 *   artifactUrl: ref => `http://10.0.0.1:8080/files/${ref}`,
 *   urls: { preseed: 'http://10.0.0.1:8080/v1/installer/52-54-00-12-34-56/preseed' }
 * })
 * const token = mintPhoneHomeToken()  // store only hashToken(token)
 * const { body } = installerConfig('preseed', { profile, host: { mac: '52:54:00:12:34:56' }, phoneHome: { url, token } })
 * ```
 */
export { Template, compileTemplate, TEMPLATE_FILTERS, MAX_TEMPLATE_CHARS, MAX_OUTPUT_CHARS } from './template.js'
export { TEMPLATE_VARIABLES, type TemplateContext, type TemplateVariable, type VariableInfo, type VariableType } from './variables.js'
export { shellQuote, yamlString, yamlValue, jsonValue } from './quote.js'
export {
  ProfileSchema, GroupSchema, SelectorSchema, parseProfile, parseGroup, profileTemplates,
  type Profile, type ProfileInput, type Group, type GroupInput, type Selector
} from './schema.js'
export { selectGroup, validateGroups, specificity, matches, type HostFacts } from './groups.js'
export { ARCHES, normalizeArch, normalizeMac, normalizeUuid, type Arch } from './normalize.js'
export { templateContext, type RenderInput } from './context.js'
export { bootScript, errorScript, bootTarget, ipxeSafe, DEFAULT_RETRY_SECONDS, type BootScriptInput, type Platform } from './ipxe.js'
export { bootAnswer, type BootRequest, type BootAnswer } from './answer.js'
export { installerConfig, installerUsesPhoneHome, isInstallerKind, INSTALLER_KINDS, type InstallerKind, type InstallerConfig } from './installer.js'
export { mintPhoneHomeToken, hashToken, checkPhoneHome, type StoredPhoneHome, type PhoneHomeCheck } from './phone-home.js'
export * from './errors.js'
