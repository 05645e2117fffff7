/**
 * The web dashboard of the control endpoint: a static single page (plain HTML, CSS and
 * JavaScript modules, embedded in the bundle) at `/` and `/ui/…`, which shows the mesh, jobs
 * with live logs, artifacts and names, and hosts, from the /v1 API and its event stream.
 *
 * The page loads without credentials and holds no data; the operator pastes the control
 * token once, `POST /v1/session` checks it and sets an HttpOnly, SameSite=Strict cookie with
 * a random session id (12 h, in memory). The server's auth hook then accepts the bearer
 * token or that cookie; state changes with the cookie need `x-ctpf-csrf: 1`.
 *
 * @example
 * ```ts
 * const sessions = new SessionStore()
 * const checkToken = (t: string): boolean => timingSafeEqual(digest(t), wanted)
 * app.addHook('onRequest', authHook({ checkToken, sessions }))
 * dashboardRoutes(app, '/v1', { checkToken, sessions })
 * ```
 */
export { dashboardRoutes } from './routes.js'
export { authHook, CSRF_HEADER, PUBLIC_ROUTE, readCookie, sessionCookieName } from './auth.js'
export type { AuthInit } from './auth.js'
export { SessionStore, DEFAULT_SESSION_TTL_MS } from './sessions.js'
export type { SessionStoreInit } from './sessions.js'
export { CsrfHeaderMissingError } from './errors.js'
export { ASSETS, PAGE } from './assets.js'

