/**
 * Quoting for the contexts templates write into. Each function returns text that the target
 * parser reads back as exactly the given value, whatever it contains.
 */

/**
 * One POSIX shell word: `'…'`, with `'` written as `'\''`. Also read back exactly by Python's
 * `shlex.split` (kickstart). A list becomes space-separated words.
 */
export function shellQuote (value: string | readonly string[]): string {
  if (typeof value !== 'string') return value.map(v => shellQuote(v)).join(' ')
  return `'${value.replaceAll('\'', '\'\\\'\'')}'`
}

/**
 * A YAML double-quoted scalar that YAML 1.1 and 1.2 parsers read back exactly: printable ASCII
 * as is, `"` and `\` escaped, everything else as `\n`, `\t`, `\uXXXX` or `\UXXXXXXXX`
 * (so no parser ever sees a raw line break, BOM or non-printable character).
 */
export function yamlString (value: string): string {
  let out = '"'
  for (const ch of value) {
    const cp = ch.codePointAt(0) as number
    if (ch === '"') out += '\\"'
    else if (ch === '\\') out += '\\\\'
    else if (cp >= 0x20 && cp <= 0x7e) out += ch
    else if (ch === '\n') out += '\\n'
    else if (ch === '\t') out += '\\t'
    else if (ch === '\r') out += '\\r'
    else if (cp >= 0xd800 && cp <= 0xdfff) out += '\\uFFFD' // lone surrogate: not representable
    else if (cp > 0xffff) out += `\\U${cp.toString(16).toUpperCase().padStart(8, '0')}`
    else out += `\\u${cp.toString(16).toUpperCase().padStart(4, '0')}`
  }
  return out + '"'
}

/** A YAML flow value: string → double-quoted scalar, list → `["a", "b"]`, map → `{"k": "v"}`. */
export function yamlValue (value: string | readonly string[] | Readonly<Record<string, string>>): string {
  if (typeof value === 'string') return yamlString(value)
  if (Array.isArray(value)) return `[${value.map(v => yamlString(v)).join(', ')}]`
  return `{${Object.entries(value).map(([k, v]) => `${yamlString(k)}: ${yamlString(v)}`).join(', ')}}`
}

/** JSON text, ASCII only (everything past U+007E as `\uXXXX`). In YAML files prefer `yamlValue`: YAML reads `\uD83D\uDE00` as two surrogates, not one character. */
export function jsonValue (value: string | readonly string[] | Readonly<Record<string, string>>): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, ch => `\\u${ch.charCodeAt(0).toString(16).padStart(4, '0')}`)
}
