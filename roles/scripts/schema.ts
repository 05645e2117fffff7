/**
 * Profiles and groups as stored (records `profiles/<name>`, `groups/<name>`): zod schemas, and
 * parse functions that also compile every template, so a profile with a bad template is refused
 * when it is written, with the template's field, line and reason.
 */
import { z } from 'zod'
import { InvalidGroupError, InvalidProfileError } from './errors.js'
import { ARCHES, normalizeArch, normalizeHostname, normalizeMac, normalizeUuid } from './normalize.js'
import { MAX_TEMPLATE_CHARS, Template } from './template.js'

const NAME = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/, 'a name is 1–64 of A–Z a–z 0–9 . _ - and starts with a letter or digit')
/** An artifact name (`debian/12/vmlinuz`) or a CID: path segments that start with a letter or digit (no `..`). */
const ARTIFACT = z.string().max(256).regex(/^[A-Za-z0-9][A-Za-z0-9._+-]*(\/[A-Za-z0-9][A-Za-z0-9._+-]*)*$/, 'an artifact name or CID: segments of A–Z a–z 0–9 . _ + - separated by /')
const TEMPLATE = z.string().max(MAX_TEMPLATE_CHARS)
const CMDLINE = z.string().max(4096)
const INITRDS = z.array(ARTIFACT).max(16)
const NO_CONTROL = /^[^\u0000-\u001f\u007f-\u009f\u2028\u2029]*$/

const ArchOverrideSchema = z.object({
  kernel: ARTIFACT.optional(),
  initrd: INITRDS.optional(),
  cmdline: CMDLINE.optional()
}).strict()

export const ProfileSchema = z.object({
  name: NAME,
  /** Kernel: artifact name or CID. */
  kernel: ARTIFACT,
  /** Initrds, loaded in this order. */
  initrd: INITRDS.default([]),
  /** Kernel command line: a template. */
  cmdline: CMDLINE.default(''),
  /** Installer configs: templates, served to the installer over HTTP. */
  installer: z.object({
    kickstart: TEMPLATE.optional(),
    preseed: TEMPLATE.optional(),
    cloudInit: z.object({ userData: TEMPLATE, metaData: TEMPLATE }).strict().optional(),
    preInstall: TEMPLATE.optional(),
    postInstall: TEMPLATE.optional()
  }).strict().default({}),
  /** Per-architecture replacements of kernel, initrd and cmdline (each field replaces the top-level one). */
  arch: z.partialRecord(z.enum(ARCHES), ArchOverrideSchema).default({})
}).strict()

export type ProfileInput = z.input<typeof ProfileSchema>
export type Profile = z.output<typeof ProfileSchema>

const TAG_KEY = z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.\/-]{0,62}$/, 'a tag key is 1–63 of A–Z a–z 0–9 _ . / -')
const TAG_VALUE = z.string().regex(/^[A-Za-z0-9_.\/:@+-]{1,128}$/, 'a tag value is 1–128 of A–Z a–z 0–9 _ . / : @ + -')
const META_KEY = z.string().regex(/^[A-Za-z_][A-Za-z0-9_-]{0,63}$/, 'a metadata key is an identifier (A–Z a–z 0–9 _ -, not starting with a digit or -), so templates can use group.metadata.<key>')

export const SelectorSchema = z.object({
  mac: z.string().transform((v, ctx) => normalizeMac(v) ?? (ctx.addIssue({ code: 'custom', message: `"${v}" is not a MAC address` }), z.NEVER)).optional(),
  uuid: z.string().transform((v, ctx) => normalizeUuid(v) ?? (ctx.addIssue({ code: 'custom', message: `"${v}" is not a UUID` }), z.NEVER)).optional(),
  arch: z.string().transform((v, ctx) => normalizeArch(v) ?? (ctx.addIssue({ code: 'custom', message: `"${v}" is not an architecture (${ARCHES.join(', ')})` }), z.NEVER)).optional(),
  hostname: z.string().regex(/^[A-Za-z0-9]([A-Za-z0-9-]{0,62})(\.[A-Za-z0-9]([A-Za-z0-9-]{0,62}))*\.?$/, 'not a host name').max(253).transform(normalizeHostname).optional(),
  tags: z.record(TAG_KEY, TAG_VALUE).refine(t => Object.keys(t).length <= 32, 'at most 32 tags').optional()
}).strict()

export const GroupSchema = z.object({
  name: NAME,
  /** Name of the profile hosts of this group boot. */
  profile: NAME,
  /** Every given field must match; more fields = more specific. An empty selector matches every host. */
  selector: SelectorSchema.default({}),
  /** Free-form values for templates (group.metadata.<key>). */
  metadata: z.record(META_KEY, z.string().max(4096).regex(NO_CONTROL, 'metadata values are one line, without control characters'))
    .refine(m => Object.keys(m).length <= 64, 'at most 64 metadata entries').default({})
}).strict()

export type GroupInput = z.input<typeof GroupSchema>
export type Group = z.output<typeof GroupSchema>
export type Selector = z.output<typeof SelectorSchema>

function issues (error: z.ZodError): string[] {
  return error.issues.map(i => `${i.path.join('.') || '(root)'}: ${i.message}`)
}

/** Every template of a profile with the field it lives in: `cmdline`, `installer.kickstart`, `arch.arm64.cmdline`, … */
export function profileTemplates (profile: Profile): Array<[field: string, source: string]> {
  const out: Array<[string, string]> = [['cmdline', profile.cmdline]]
  const i = profile.installer
  if (i.kickstart != null) out.push(['installer.kickstart', i.kickstart])
  if (i.preseed != null) out.push(['installer.preseed', i.preseed])
  if (i.cloudInit != null) out.push(['installer.cloudInit.userData', i.cloudInit.userData], ['installer.cloudInit.metaData', i.cloudInit.metaData])
  if (i.preInstall != null) out.push(['installer.preInstall', i.preInstall])
  if (i.postInstall != null) out.push(['installer.postInstall', i.postInstall])
  for (const [arch, o] of Object.entries(profile.arch)) if (o?.cmdline != null) out.push([`arch.${arch}.cmdline`, o.cmdline])
  return out
}

/**
 * Validates a profile and compiles all its templates.
 * @throws InvalidProfileError (schema), or a TemplateError whose `template` names the field.
 */
export function parseProfile (input: unknown): Profile {
  const r = ProfileSchema.safeParse(input)
  if (!r.success) throw new InvalidProfileError(`invalid profile: ${z.prettifyError(r.error)}`, issues(r.error))
  for (const [field, source] of profileTemplates(r.data)) new Template(source, field) // eslint-disable-line no-new
  return r.data
}

/** @throws InvalidGroupError */
export function parseGroup (input: unknown): Group {
  const r = GroupSchema.safeParse(input)
  if (!r.success) throw new InvalidGroupError(`invalid group: ${z.prettifyError(r.error)}`, issues(r.error))
  return r.data
}
