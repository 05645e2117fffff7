/**
 * A small strict template language for boot and installer configs.
 *
 * - `{{ host.hostname }}` — a value, written as is (no escaping).
 * - `{{ host.hostname | shellQuote }}` — filters: `shellQuote`, `yaml`, `json`, `join(", ")`,
 *   `default("x")` (used when the value is absent or empty).
 * - `{{#if host.dc}} … {{else}} … {{/if}}` — absent, empty text, empty list and empty map are false.
 * - `{{#each ssh.authorizedKeys as key}} {{ key | shellQuote }} {{/each}}` — loops over a list.
 * - `{{! a comment }}`; `{{ "{{" }}` writes a literal `{{`.
 * - A line holding only a block tag or comment disappears from the output entirely.
 *
 * Compiling checks syntax, variable names (TEMPLATE_VARIABLES) and types (a list cannot be
 * written without `join`/`yaml`/`json`/`#each`); errors carry the line. Rendering fails on an
 * absent value without `default`, and on any value containing control characters (so no value
 * can start a new line in a kickstart, preseed, YAML or shell file).
 */
import { TemplateError, TemplateRenderError, TemplateSyntaxError, TemplateTypeError, UnknownFilterError, UnknownVariableError } from './errors.js'
import { jsonValue, shellQuote, yamlValue } from './quote.js'
import { isRootName, variableType } from './variables.js'
import type { TemplateContext, VariableType } from './variables.js'

export const MAX_TEMPLATE_CHARS = 256 * 1024
export const MAX_OUTPUT_CHARS = 4 * 1024 * 1024

type Value = string | readonly string[] | Readonly<Record<string, string>>
type Primary = { kind: 'path', path: string[] } | { kind: 'literal', value: string }
interface FilterCall { name: FilterName, arg?: string }
interface Expr { primary: Primary, filters: FilterCall[], line: number, text: string, primaryType?: VariableType }

type Node =
  | { kind: 'text', text: string }
  | { kind: 'output', expr: Expr }
  | { kind: 'if', cond: Expr, then: Node[], else: Node[] }
  | { kind: 'each', list: Expr, as: string, body: Node[] }

interface FilterSpec { arg: boolean, accepts: readonly VariableType[], returns?: VariableType }
const FILTERS = {
  shellQuote: { arg: false, accepts: ['string', 'list'] },
  yaml: { arg: false, accepts: ['string', 'list', 'map'] },
  json: { arg: false, accepts: ['string', 'list', 'map'] },
  join: { arg: true, accepts: ['list'] },
  default: { arg: true, accepts: ['string'] }
} satisfies Record<string, FilterSpec>
type FilterName = keyof typeof FILTERS
export const TEMPLATE_FILTERS: readonly string[] = Object.freeze(Object.keys(FILTERS))

const IDENT = /^[A-Za-z_][A-Za-z0-9_-]*/
const CONTROL = /[\u0000-\u001f\u007f-\u009f\u2028\u2029]/

// ---------------------------------------------------------------- lexing

interface RawTag { body: string, line: number, block: boolean }

function lex (source: string): { texts: string[], tags: RawTag[] } {
  const texts: string[] = []
  const tags: RawTag[] = []
  let i = 0
  let line = 1
  for (;;) {
    const open = source.indexOf('{{', i)
    if (open === -1) { texts.push(source.slice(i)); break }
    const text = source.slice(i, open)
    texts.push(text)
    line += count(text, '\n')
    const comment = source[open + 2] === '!'
    let j = open + 2
    let inString = false
    let close = -1
    for (; j < source.length; j++) {
      const c = source[j]
      if (c === '\n' && !comment) throw new TemplateSyntaxError(line, inString ? 'a "string" in this tag is not closed' : '"{{" is not closed by "}}" on the same line')
      if (inString) {
        if (c === '\\') j++
        else if (c === '"') inString = false
      } else if (c === '"' && !comment) {
        inString = true
      } else if (c === '}' && source[j + 1] === '}') {
        close = j
        break
      }
    }
    if (close === -1) throw new TemplateSyntaxError(line, inString ? 'a "string" in this tag is not closed' : '"{{" is never closed by "}}"')
    const body = source.slice(open + 2, close)
    const trimmed = body.trim()
    tags.push({ body, line, block: comment || /^[#/]/.test(trimmed) || trimmed === 'else' })
    line += count(body, '\n')
    i = close + 2
  }
  standalone(texts, tags)
  return { texts, tags }
}

function count (s: string, ch: string): number {
  let n = 0
  for (let k = s.indexOf(ch); k !== -1; k = s.indexOf(ch, k + 1)) n++
  return n
}

/** A block tag alone on its line takes the whole line (indentation and newline) with it. */
function standalone (texts: string[], tags: RawTag[]): void {
  const start = texts.map(() => 0)
  const end = texts.map(t => t.length)
  tags.forEach((tag, k) => {
    if (!tag.block) return
    const before = texts[k]
    const after = texts[k + 1]
    const lineStart = before.lastIndexOf('\n') + 1
    if (lineStart === 0 && k !== 0) return // another tag earlier on this line
    if (!/^[ \t]*$/.test(before.slice(lineStart))) return
    const m = /^[ \t]*(\r?\n|$)/.exec(after)
    if (m == null) return
    if (m[1] === '' && k + 1 !== texts.length - 1) return // another tag later on this line
    end[k] = Math.min(end[k], lineStart)
    start[k + 1] = Math.max(start[k + 1], m[0].length)
  })
  for (let k = 0; k < texts.length; k++) texts[k] = start[k] < end[k] ? texts[k].slice(start[k], end[k]) : ''
}

// ---------------------------------------------------------------- parsing

class Cursor {
  pos = 0
  constructor (readonly s: string, readonly line: number) {}
  ws (): void { while (this.pos < this.s.length && /\s/.test(this.s[this.pos])) this.pos++ }
  done (): boolean { this.ws(); return this.pos >= this.s.length }
  peek (): string { return this.s[this.pos] ?? '' }
  fail (reason: string): never { throw new TemplateSyntaxError(this.line, reason) }
  ident (what: string): string {
    const m = IDENT.exec(this.s.slice(this.pos))
    if (m == null) this.fail(this.pos >= this.s.length ? `${what} expected at the end of the tag` : `${what} expected at "${this.s.slice(this.pos, this.pos + 12)}"`)
    this.pos += m[0].length
    return m[0]
  }

  string (): string {
    if (this.peek() !== '"') this.fail('a "quoted string" expected')
    let out = ''
    for (this.pos++; this.pos < this.s.length; this.pos++) {
      const c = this.s[this.pos]
      if (c === '"') { this.pos++; return out }
      if (c === '\\') {
        const e = this.s[++this.pos]
        if (e === 'n') out += '\n'
        else if (e === 't') out += '\t'
        else if (e === '"' || e === '\\') out += e
        else this.fail(`unknown escape "\\${e ?? ''}" in a string`)
      } else {
        out += c
      }
    }
    this.fail('string is not closed')
  }
}

function parseExpr (text: string, line: number): Expr {
  const c = new Cursor(text, line)
  c.ws()
  let primary: Primary
  if (c.peek() === '"') {
    primary = { kind: 'literal', value: c.string() }
  } else {
    const path = [c.ident('a variable')]
    while (c.peek() === '.') { c.pos++; path.push(c.ident('a field name')) }
    primary = { kind: 'path', path }
  }
  const filters: FilterCall[] = []
  while (!c.done()) {
    if (c.peek() !== '|') c.fail(`unexpected "${text.slice(c.pos, c.pos + 12)}" (filters are written "| name")`)
    c.pos++
    c.ws()
    const name = c.ident('a filter name')
    if (!Object.hasOwn(FILTERS, name)) throw new UnknownFilterError(line, name)
    const spec: FilterSpec = FILTERS[name as FilterName]
    c.ws()
    let arg: string | undefined
    if (c.peek() === '(') {
      c.pos++
      c.ws()
      arg = c.string()
      c.ws()
      if (c.peek() !== ')') c.fail(`")" expected after the argument of ${name}`)
      c.pos++
    }
    if (spec.arg && arg == null) c.fail(`filter ${name} needs an argument: ${name}("…")`)
    if (!spec.arg && arg != null) c.fail(`filter ${name} takes no argument`)
    filters.push({ name: name as FilterName, arg })
  }
  return { primary, filters, line, text: text.trim() }
}

interface Open { kind: 'if' | 'each', line: number, node: Node & { kind: 'if' | 'each' }, inElse: boolean }

function parse (source: string): Node[] {
  if (source.length > MAX_TEMPLATE_CHARS) throw new TemplateSyntaxError(1, `template is longer than ${MAX_TEMPLATE_CHARS} characters`)
  const { texts, tags } = lex(source)
  const root: Node[] = []
  const stack: Open[] = []
  const target = (): Node[] => {
    const top = stack[stack.length - 1]
    if (top == null) return root
    if (top.node.kind === 'each') return top.node.body
    return top.inElse ? top.node.else : top.node.then
  }
  texts.forEach((text, k) => {
    if (text !== '') target().push({ kind: 'text', text })
    const tag = tags[k]
    if (tag == null) return
    const body = tag.body.trim()
    const line = tag.line
    if (body.startsWith('!')) return
    if (body === '') throw new TemplateSyntaxError(line, 'empty tag "{{}}"')
    if (body === 'else') {
      const top = stack[stack.length - 1]
      if (top?.kind !== 'if') throw new TemplateSyntaxError(line, '{{else}} outside {{#if}}')
      if (top.inElse) throw new TemplateSyntaxError(line, `second {{else}} for the {{#if}} of line ${top.line}`)
      top.inElse = true
      return
    }
    const block = /^([#/])([A-Za-z]*)(.*)$/s.exec(body)
    if (block != null) {
      const [, sigil, name, rest] = block
      if (name !== 'if' && name !== 'each') throw new TemplateSyntaxError(line, `unknown block "${sigil}${name}" (blocks are #if and #each)`)
      if (sigil === '/') {
        if (rest.trim() !== '') throw new TemplateSyntaxError(line, `{{/${name}}} takes nothing after its name`)
        const top = stack.pop()
        if (top == null) throw new TemplateSyntaxError(line, `{{/${name}}} without an open {{#${name}}}`)
        if (top.kind !== name) throw new TemplateSyntaxError(line, `{{/${name}}} closes the {{#${top.kind}}} of line ${top.line}`)
        return
      }
      if (rest !== '' && !/^\s/.test(rest)) throw new TemplateSyntaxError(line, `unknown block "#${name}${rest.split(/\s/)[0]}"`)
      if (name === 'if') {
        if (rest.trim() === '') throw new TemplateSyntaxError(line, '{{#if}} needs a condition')
        const node: Node & { kind: 'if' } = { kind: 'if', cond: parseExpr(rest, line), then: [], else: [] }
        target().push(node)
        stack.push({ kind: 'if', line, node, inElse: false })
      } else {
        const m = /^\s*(.*?)\s+as\s+(\S+)\s*$/s.exec(rest)
        if (m == null) throw new TemplateSyntaxError(line, '{{#each}} is written {{#each <list> as <name>}}')
        if (!/^[A-Za-z_][A-Za-z0-9_]*$/.test(m[2])) throw new TemplateSyntaxError(line, `"${m[2]}" is not a valid loop variable name`)
        const node: Node & { kind: 'each' } = { kind: 'each', list: parseExpr(m[1], line), as: m[2], body: [] }
        target().push(node)
        stack.push({ kind: 'each', line, node, inElse: false })
      }
      return
    }
    target().push({ kind: 'output', expr: parseExpr(body, line) })
  })
  const open = stack.pop()
  if (open != null) throw new TemplateSyntaxError(open.line, `{{#${open.kind}}} is never closed with {{/${open.kind}}}`)
  return root
}

// ---------------------------------------------------------------- checking

function checkExpr (expr: Expr, scope: ReadonlySet<string>, used: Set<string>): VariableType {
  let type: VariableType
  const p = expr.primary
  if (p.kind === 'literal') {
    type = 'string'
  } else if (scope.has(p.path[0])) {
    if (p.path.length > 1) throw new UnknownVariableError(expr.line, p.path.join('.'), `loop variable "${p.path[0]}" is text, it has no field "${p.path[1]}"`)
    type = 'string'
  } else {
    const t = variableType(p.path)
    if ('error' in t) throw new UnknownVariableError(expr.line, p.path.join('.'), t.error)
    type = t.type
    used.add(p.path.join('.'))
  }
  expr.primaryType = type
  for (const f of expr.filters) {
    const spec: FilterSpec = FILTERS[f.name]
    if (!spec.accepts.includes(type)) throw new TemplateTypeError(expr.line, `filter ${f.name} takes ${spec.accepts.join(' or ')}, not a ${type} ("${expr.text}")`)
    type = 'string'
  }
  return type
}

function check (nodes: readonly Node[], scope: ReadonlySet<string>, used: Set<string>): void {
  for (const n of nodes) {
    if (n.kind === 'output') {
      const type = checkExpr(n.expr, scope, used)
      if (type !== 'string') {
        throw new TemplateTypeError(n.expr.line, `"${n.expr.text}" is a ${type}: write it with {{#each}}, | join(", "), | yaml or | json`)
      }
    } else if (n.kind === 'if') {
      checkExpr(n.cond, scope, used)
      check(n.then, scope, used)
      check(n.else, scope, used)
    } else if (n.kind === 'each') {
      const type = checkExpr(n.list, scope, used)
      if (type !== 'list' || n.list.filters.length > 0) throw new TemplateTypeError(n.list.line, `{{#each}} needs a list, "${n.list.text}" is ${n.list.filters.length > 0 ? 'filtered' : `a ${type}`}`)
      if (isRootName(n.as) || scope.has(n.as)) throw new TemplateSyntaxError(n.list.line, `loop variable "${n.as}" hides another variable`)
      check(n.body, new Set([...scope, n.as]), used)
    }
  }
}

// ---------------------------------------------------------------- rendering

function lookup (ctx: unknown, path: readonly string[]): unknown {
  let v: unknown = ctx
  for (const seg of path) {
    if (v == null || typeof v !== 'object' || Array.isArray(v) || !Object.hasOwn(v, seg)) return undefined
    v = (v as Record<string, unknown>)[seg]
  }
  return v
}

function resolve (expr: Expr, ctx: TemplateContext, scope: ReadonlyMap<string, string>): Value | undefined {
  const p = expr.primary
  if (p.kind === 'literal') return p.value
  const raw = scope.has(p.path[0]) ? scope.get(p.path[0]) : lookup(ctx, p.path)
  if (raw == null) return expr.primaryType === 'list' ? [] : expr.primaryType === 'map' ? {} : undefined // an absent list is empty
  const name = p.path.join('.')
  const bad = (why: string): never => { throw new TemplateRenderError(expr.line, `the value of "${name}" ${why}`) }
  const text = (s: unknown): string => {
    if (typeof s !== 'string') bad('is not text')
    if (CONTROL.test(s as string)) bad('contains control characters or line breaks')
    return s as string
  }
  if (typeof raw === 'string') return text(raw)
  if (Array.isArray(raw)) return raw.map(text)
  if (typeof raw === 'object') return Object.fromEntries(Object.entries(raw).map(([k, v]) => [text(k), text(v)]))
  return bad('has an unusable type')
}

function evaluate (expr: Expr, ctx: TemplateContext, scope: ReadonlyMap<string, string>): Value | undefined {
  let v = resolve(expr, ctx, scope)
  for (const f of expr.filters) {
    if (f.name === 'default') {
      if (v == null || v === '') v = f.arg as string
      continue
    }
    if (v == null) return undefined
    switch (f.name) {
      case 'shellQuote': v = shellQuote(v as string | readonly string[]); break
      case 'yaml': v = yamlValue(v); break
      case 'json': v = jsonValue(v); break
      case 'join': v = (v as readonly string[]).join(f.arg); break
    }
  }
  return v
}

function truthy (v: Value | undefined): boolean {
  if (v == null) return false
  if (typeof v === 'string' || Array.isArray(v)) return v.length > 0
  return Object.keys(v).length > 0
}

function run (nodes: readonly Node[], ctx: TemplateContext, scope: ReadonlyMap<string, string>, out: string[], size: { n: number }): void {
  for (const n of nodes) {
    if (n.kind === 'text') {
      emit(n.text, out, size, 0)
    } else if (n.kind === 'output') {
      const v = evaluate(n.expr, ctx, scope)
      if (v == null) throw new TemplateRenderError(n.expr.line, `"${n.expr.text}" has no value for this host (use | default("…") or {{#if}})`)
      emit(v as string, out, size, n.expr.line)
    } else if (n.kind === 'if') {
      run(truthy(evaluate(n.cond, ctx, scope)) ? n.then : n.else, ctx, scope, out, size)
    } else {
      const list = (evaluate(n.list, ctx, scope) ?? []) as readonly string[]
      for (const item of list) run(n.body, ctx, new Map([...scope, [n.as, item]]), out, size)
    }
  }
}

function emit (s: string, out: string[], size: { n: number }, line: number): void {
  size.n += s.length
  if (size.n > MAX_OUTPUT_CHARS) throw new TemplateRenderError(line, `output is longer than ${MAX_OUTPUT_CHARS} characters`)
  out.push(s)
}

/** A checked template. Compile once when a profile is stored; render per host. */
export class Template {
  readonly #nodes: Node[]
  /** The variables the template reads (e.g. to mint a phone-home token only when needed). */
  readonly variables: ReadonlySet<string>

  constructor (readonly source: string, readonly name?: string) {
    try {
      this.#nodes = parse(source)
      const used = new Set<string>()
      check(this.#nodes, new Set(), used)
      this.variables = used
    } catch (err) {
      if (err instanceof TemplateError && name != null) err.in(name)
      throw err
    }
  }

  /** True when the template reads `variable` (a TEMPLATE_VARIABLES path, or `host.tags` for any tag). */
  uses (variable: string): boolean {
    for (const v of this.variables) if (v === variable || v.startsWith(`${variable}.`)) return true
    return false
  }

  /** @throws TemplateRenderError (with the line) when a value is absent or unsafe. */
  render (ctx: TemplateContext): string {
    const out: string[] = []
    try {
      run(this.#nodes, ctx, new Map(), out, { n: 0 })
    } catch (err) {
      if (err instanceof TemplateRenderError && this.name != null) err.in(this.name)
      throw err
    }
    return out.join('')
  }
}

/** Compiles and checks a template. @throws a TemplateError (code, line, reason). */
export function compileTemplate (source: string, name?: string): Template {
  return new Template(source, name)
}
