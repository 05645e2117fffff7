// Prints the control API reference as Markdown, from the OpenAPI document the agent serves at
// /v1/openapi.json (generated from the zod schemas that validate requests). After `npm run build`:
//   node scripts/api-reference.mjs > api.md
import { openApiDocument } from '../dist/agent/control/openapi.js'

const doc = openApiDocument('reference')
const out = ['# ctpf control API', '', `Base path \`/v1\`, on 127.0.0.1, every request with \`Authorization: Bearer <data-dir>/control.token\`. Errors are \`{ "error": { "code", "message" } }\`.`, '']
for (const [path, ops] of Object.entries(doc.paths)) {
  for (const [method, op] of Object.entries(ops)) {
    out.push(`## ${method.toUpperCase()} /v1${path}`, '', op.summary ?? '', '')
    for (const p of op.parameters ?? []) out.push(`- \`${p.name}\` (${p.in}${p.required === true ? ', required' : ''})${p.description != null ? `: ${p.description}` : ''}`)
    const body = op.requestBody?.content?.['application/json']?.schema
    if (body != null) out.push('', 'Request body:', '', '```json', JSON.stringify(body, null, 2), '```')
    const codes = Object.entries(op.responses ?? {}).map(([code, r]) => `${code} ${r.description}`)
    if (codes.length > 0) out.push('', `Responses: ${codes.join('; ')}`)
    out.push('')
  }
}
process.stdout.write(out.join('\n'))
