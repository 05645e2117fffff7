import { describe, expect, it } from 'vitest'
import {
  compileTemplate, parseProfile, TEMPLATE_VARIABLES, TemplateError, TemplateRenderError, shellQuote, yamlString
} from '../../../roles/scripts/index.js'
import { parseYaml } from './fixture.js'

function refusal (source: string): TemplateError {
  try {
    compileTemplate(source, 'installer.kickstart')
  } catch (err) {
    if (err instanceof TemplateError) return err
    throw err
  }
  throw new Error(`compiled: ${JSON.stringify(source)}`)
}

const host = { mac: '52:54:00:12:34:56', hostname: 'web1', addresses: ['10.0.0.5', 'fd00::5'], tags: { rack: 'r1' } }

describe('templates are refused at write time with the line and the reason', () => {
  const cases: Array<[string, string, string, number, RegExp]> = [
    ['unknown variable', 'text\nmore\n{{ host.nmae }}\n', 'ERR_TEMPLATE_UNKNOWN_VARIABLE', 3, /unknown variable "host.nmae"/],
    ['unknown root', '{{ secrets.rootPassword }}', 'ERR_TEMPLATE_UNKNOWN_VARIABLE', 1, /unknown variable "secrets.rootPassword"/],
    ['a whole object', 'a\n{{ host }}', 'ERR_TEMPLATE_UNKNOWN_VARIABLE', 2, /"host" is not a value; use one of host.hostname/],
    ['a field of a text', '{{ host.hostname.x }}', 'ERR_TEMPLATE_UNKNOWN_VARIABLE', 1, /"host.hostname" is a string, it has no field "x"/],
    ['a field of a loop variable', '{{#each ssh.authorizedKeys as k}}\n{{ k.type }}\n{{/each}}', 'ERR_TEMPLATE_UNKNOWN_VARIABLE', 2, /loop variable "k"/],
    ['an unclosed tag', 'line1\nline2 {{ host.mac\nline3', 'ERR_TEMPLATE_SYNTAX', 2, /not closed by "}}" on the same line/],
    ['an unclosed tag at the end', 'line1\n\n{{ host.mac', 'ERR_TEMPLATE_SYNTAX', 3, /never closed/],
    ['an unclosed #if', 'a\n{{#if host.dc}}\nb\n', 'ERR_TEMPLATE_SYNTAX', 2, /\{\{#if\}\} is never closed/],
    ['a stray /each', 'a\nb\n{{/each}}', 'ERR_TEMPLATE_SYNTAX', 3, /without an open/],
    ['crossed blocks', '{{#if host.dc}}\n{{#each host.addresses as a}}\n{{/if}}\n{{/each}}', 'ERR_TEMPLATE_SYNTAX', 3, /\{\{\/if\}\} closes the \{\{#each\}\} of line 2/],
    ['else outside if', '{{else}}', 'ERR_TEMPLATE_SYNTAX', 1, /outside/],
    ['an unknown block', '\n{{#for x in y}}{{/for}}', 'ERR_TEMPLATE_SYNTAX', 2, /unknown block "#for"/],
    ['an empty tag', 'a {{ }} b', 'ERR_TEMPLATE_SYNTAX', 1, /empty tag/],
    ['junk after a variable', '{{ host.mac host.uuid }}', 'ERR_TEMPLATE_SYNTAX', 1, /unexpected "host.uuid"/],
    ['an unknown filter', '\n\n\n{{ host.hostname | upper }}', 'ERR_TEMPLATE_UNKNOWN_FILTER', 4, /unknown filter "upper"/],
    ['a filter without its argument', '{{ host.addresses | join }}', 'ERR_TEMPLATE_SYNTAX', 1, /join needs an argument/],
    ['an unclosed string', '{{ host.dc | default("x) }}', 'ERR_TEMPLATE_SYNTAX', 1, /string" in this tag is not closed/],
    ['a list written as text', 'x\n{{ host.addresses }}', 'ERR_TEMPLATE_TYPE', 2, /is a list: write it with/],
    ['a map written as text', '{{ group.metadata }}', 'ERR_TEMPLATE_TYPE', 1, /is a map/],
    ['join on text', '{{ host.hostname | join(",") }}', 'ERR_TEMPLATE_TYPE', 1, /join takes list, not a string/],
    ['each over text', '{{#each host.hostname as h}}{{/each}}', 'ERR_TEMPLATE_TYPE', 1, /needs a list/],
    ['a loop variable hiding a root', '{{#each host.addresses as host}}{{/each}}', 'ERR_TEMPLATE_SYNTAX', 1, /hides another variable/]
  ]
  for (const [what, source, code, line, reason] of cases) {
    it(`${what}: ${code} on line ${line}`, () => {
      const err = refusal(source)
      expect(err.code).toBe(code)
      expect(err.line).toBe(line)
      expect(err.reason).toMatch(reason)
      expect(err.template).toBe('installer.kickstart')
      expect(err.message).toContain(`installer.kickstart line ${line}: `)
    })
  }

  it('a profile is refused naming the template field, with its line', () => {
    const profile = {
      name: 'p', kernel: 'k', cmdline: 'console=ttyS0',
      installer: { cloudInit: { userData: '#cloud-config\nhostname: {{ host.hostname | yaml }}\nfqdn: {{ host.fqdn }}\n', metaData: '' } }
    }
    expect(() => parseProfile(profile)).toThrow(expect.objectContaining({
      code: 'ERR_TEMPLATE_UNKNOWN_VARIABLE', template: 'installer.cloudInit.userData', line: 3, variable: 'host.fqdn'
    }))
    expect(() => parseProfile({ name: 'p', kernel: 'k', arch: { arm64: { cmdline: 'a {{#if host.dc}}' } } }))
      .toThrow(expect.objectContaining({ code: 'ERR_TEMPLATE_SYNTAX', template: 'arch.arm64.cmdline', line: 1 }))
  })

  it('every variable in TEMPLATE_VARIABLES compiles, and nothing else at the top level does', () => {
    for (const v of TEMPLATE_VARIABLES) {
      const path = v.type === 'map' ? `${v.path}.somekey` : v.path
      const expr = v.type === 'list' ? `{{ ${path} | join(",") }}` : `{{ ${path} }}`
      expect(() => compileTemplate(expr)).not.toThrow()
    }
    expect(refusal('{{ host.fqdn }}').code).toBe('ERR_TEMPLATE_UNKNOWN_VARIABLE')
    expect(refusal('{{ phoneHome.secret }}').code).toBe('ERR_TEMPLATE_UNKNOWN_VARIABLE')
  })
})

describe('rendering', () => {
  it('writes values as is, applies filters left to right', () => {
    const t = compileTemplate('{{ host.hostname }} {{ host.addresses | join(", ") }} {{ host.tags.rack | default("none") }} {{ host.tags.row | default("none") }} {{ host.tags | json | shellQuote }}')
    expect(t.render({ host })).toBe('web1 10.0.0.5, fd00::5 r1 none \'{"rack":"r1"}\'')
  })

  it('block tags alone on their line leave no blank lines; inline blocks keep their text', () => {
    const t = compileTemplate([
      'keys:',
      '  {{#each ssh.authorizedKeys as key}}',
      '  - {{ key | yaml }}',
      '  {{/each}}',
      '{{! a comment line }}',
      'dc: {{#if host.dc}}{{ host.dc }}{{else}}none{{/if}}',
      'end',
      ''
    ].join('\n'))
    expect(t.render({ host, ssh: { authorizedKeys: ['a', 'b'] } })).toBe('keys:\n  - "a"\n  - "b"\ndc: none\nend\n')
    expect(t.render({ host: { ...host, dc: 'nbg1' } })).toBe('keys:\ndc: nbg1\nend\n')
  })

  it('a literal {{ is written with a string', () => {
    expect(compileTemplate('{{ "{{" }} x }}').render({ host })).toBe('{{ x }}')
  })

  it('an absent value is refused with its line unless defaulted or guarded', () => {
    const t = compileTemplate('a\nb\ntoken={{ phoneHome.token }}\n', 'cmdline')
    expect(() => t.render({ host })).toThrow(expect.objectContaining({ code: 'ERR_TEMPLATE_RENDER', line: 3, template: 'cmdline' }))
    expect(t.render({ host, phoneHome: { url: 'u', token: 't' } })).toBe('a\nb\ntoken=t\n')
    expect(compileTemplate('{{#if phoneHome.token}}t{{/if}}').render({ host })).toBe('')
  })

  it('absent lists and maps are empty', () => {
    expect(compileTemplate('[{{ ssh.authorizedKeys | join(",") }}] {{ group.metadata | json }}').render({ host })).toBe('[] {}')
  })

  it('values with control characters or line breaks are refused', () => {
    const t = compileTemplate('hostname: {{ host.hostname | yaml }}')
    for (const hostname of ['a\nb', 'a\rb', 'a\u0000b', 'a\u2028b', 'a\u0085b']) {
      expect(() => t.render({ host: { hostname } })).toThrow(TemplateRenderError)
    }
    const tags = compileTemplate('{{ host.tags | json }}')
    expect(() => tags.render({ host: { tags: { 'x\ny': 'z' } } })).toThrow(TemplateRenderError)
  })

  it('inherited object properties are not variables', () => {
    const t = compileTemplate('{{ host.tags.constructor | default("none") }} {{ host.tags.__proto__ | default("none") }}')
    expect(t.render({ host: { tags: {} } })).toBe('none none')
  })

  it('reports which variables a template reads', () => {
    const t = compileTemplate('{{ host.tags.rack }}{{#if phoneHome.token}}{{/if}}')
    expect(t.uses('phoneHome.token')).toBe(true)
    expect(t.uses('host.tags')).toBe(true)
    expect(t.uses('host.hostname')).toBe(false)
  })
})

describe('quoting helpers', () => {
  it('shellQuote survives every special character (bash reads back the same bytes)', async () => {
    const { execFileSync } = await import('node:child_process')
    const values = ['', 'plain', 'it\'s', '\'', '\'\'', '$(id) `id` ${HOME} "q" \\ ; & | < > * ? [ ] # ~ !', 'new\nline', 'ünïcødé 🚀']
    for (const v of values) {
      expect(execFileSync('bash', ['-c', `printf %s ${shellQuote(v)}`], { encoding: 'utf8' })).toBe(v)
    }
    expect(shellQuote(['a b', 'c\'d'])).toBe('\'a b\' \'c\'\\\'\'d\'')
  })

  it('yamlString survives every special character (PyYAML reads back the same text)', () => {
    const values = ['', 'yes', 'null', '1.0', '- x', 'a: b', '#x', '{a: 1}', '"q" \\ \'s\'', 'tab\there', 'nl\nx', '\u0085\u2028\ufeff', 'ünïcødé 🚀', '\u0007bell']
    const doc = parseYaml(`values: [${values.map(yamlString).join(', ')}]\n`)
    expect(doc.values).toEqual(values)
  })
})
