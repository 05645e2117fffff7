/** Browser module /ui/api.js: the control API over the session cookie. */
export const API_JS = String.raw`// Every request carries the CSRF header: the endpoint refuses cookie-authenticated
// state changes without it, and pages of other origins cannot send it.
const CSRF = { 'x-ctpf-csrf': '1' }

export class ApiError extends Error {
  constructor (status, code, message) {
    super(message)
    this.status = status
    this.code = code
  }
}

async function failure (res) {
  let body
  try { body = await res.json() } catch { body = undefined }
  const err = body && body.error ? body.error : { code: 'HTTP_' + res.status, message: res.statusText }
  return new ApiError(res.status, err.code, err.message)
}

export async function request (method, path, body) {
  const headers = Object.assign({}, CSRF)
  if (body !== undefined) headers['content-type'] = 'application/json'
  const res = await fetch(path, {
    method,
    headers,
    credentials: 'same-origin',
    body: body === undefined ? undefined : JSON.stringify(body)
  })
  if (!res.ok) throw await failure(res)
  const text = await res.text()
  return text.length > 0 ? JSON.parse(text) : undefined
}

export const get = path => request('GET', path)
export const login = token => request('POST', '/v1/session', { token })
export const logout = () => request('DELETE', '/v1/session')
export const session = () => request('GET', '/v1/session')

/** Reads a job's log (newline-delimited JSON), the lines so far and then live ones until the job ends. */
export async function followLog (id, onLine, signal) {
  const res = await fetch('/v1/jobs/' + encodeURIComponent(id) + '/logs?follow=1', { credentials: 'same-origin', headers: CSRF, signal })
  if (!res.ok) throw await failure(res)
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader()
  let buffer = ''
  for (;;) {
    const { value, done } = await reader.read()
    if (done) break
    buffer += value
    let nl = buffer.indexOf('\n')
    while (nl >= 0) {
      const line = buffer.slice(0, nl).trim()
      buffer = buffer.slice(nl + 1)
      if (line.length > 0) onLine(JSON.parse(line))
      nl = buffer.indexOf('\n')
    }
  }
}

/** Subscribes to the event stream; returns a function that closes it. */
export function subscribe (names, onEvent, onState) {
  const source = new EventSource('/v1/events')
  source.addEventListener('open', () => onState('live'))
  source.addEventListener('error', () => onState(source.readyState === EventSource.CLOSED ? 'closed' : 'reconnecting'))
  for (const name of names) {
    source.addEventListener(name, e => {
      let detail
      try { detail = JSON.parse(e.data) } catch { detail = e.data }
      onEvent(name, detail)
    })
  }
  return () => source.close()
}
`
