/** Schemas shared by the spec and the recipes: paths inside the job dir, make targets, variables. */
import { z } from 'zod'

/** A normalised relative path: no leading `/`, no `.`/`..`/empty segments, no NUL or newline. */
export const relativePath = z.string().min(1).max(1024).refine(
  p => !p.startsWith('/') && !/[\0\n\r]/.test(p) && p.split('/').every(s => s !== '' && s !== '.' && s !== '..'),
  'must be a relative path inside the job directory (no leading /, no . or .. segments)'
)

/** A directory relative to the source root (`.` allowed). */
export const relativeDir = z.union([z.literal('.'), relativePath])

/** A make target: no leading `-` (would be an option), no `=` (would be a variable), no whitespace. */
export const makeTarget = z.string().min(1).max(512).regex(/^[^-\s=\0][^\s=\0]*$/, 'a make target must not start with -, nor contain = or whitespace')

/** Names that the builder sets itself or that change how programs are loaded. */
export const RESERVED_VARS = /^(PATH|HOME|TMPDIR|PWD|SHELL|LD_.*|CTPF_.*)$/

export const varName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]{0,127}$/, 'variable names are letters, digits and _').refine(n => !RESERVED_VARS.test(n), 'PATH, HOME, TMPDIR, PWD, SHELL, LD_* and CTPF_* are set by the builder')
export const varValue = z.string().max(8192).refine(v => !v.includes('\0'), 'no NUL bytes in values')
