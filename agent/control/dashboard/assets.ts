/**
 * The dashboard's files, embedded as strings: the agent ships as one bundle (dist/ctpf.mjs),
 * so nothing is read from disk at run time. Each file's source is a module in ./ui/.
 */
import { INDEX_HTML } from './ui/index-html.js'
import { STYLE_CSS } from './ui/style-css.js'
import { APP_JS } from './ui/app-js.js'
import { API_JS } from './ui/api-js.js'
import { DOM_JS } from './ui/dom-js.js'
import { VIEWS_JS } from './ui/views-js.js'

export interface Asset { type: string, body: string }

const js = (body: string): Asset => ({ type: 'text/javascript; charset=utf-8', body })

export const PAGE: Asset = { type: 'text/html; charset=utf-8', body: INDEX_HTML }

/** Files under /ui/, by name. */
export const ASSETS: Readonly<Record<string, Asset>> = {
  'style.css': { type: 'text/css; charset=utf-8', body: STYLE_CSS },
  'app.js': js(APP_JS),
  'api.js': js(API_JS),
  'dom.js': js(DOM_JS),
  'views.js': js(VIEWS_JS)
}
