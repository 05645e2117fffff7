/** Browser module /ui/dom.js: DOM helpers. Every value goes into the page as text, never as HTML. */
export const DOM_JS = String.raw`// Builds elements; strings become text nodes (never parsed as HTML).
export function el (tag, props, ...children) {
  const node = document.createElement(tag)
  for (const [key, value] of Object.entries(props || {})) {
    if (value == null || value === false) continue
    if (key === 'class') node.className = value
    else if (key === 'text') node.textContent = String(value)
    else if (key.startsWith('on')) node.addEventListener(key.slice(2), value)
    else node.setAttribute(key, String(value))
  }
  append(node, children)
  return node
}

export function append (node, children) {
  for (const child of children.flat()) {
    if (child == null || child === false) continue
    node.append(child instanceof Node ? child : document.createTextNode(String(child)))
  }
}

export function clear (node) {
  node.replaceChildren()
}

export function byId (id) {
  return document.getElementById(id)
}

export function show (node, visible) {
  node.hidden = !visible
}

/** A peer id or CID, shortened on screen; the whole value stays in the text and the title. */
export function ident (value) {
  return el('code', { class: 'id', title: value, text: value })
}

export function time (ms) {
  if (typeof ms !== 'number') return '—'
  const d = new Date(ms)
  const today = new Date().toDateString() === d.toDateString()
  return today ? d.toLocaleTimeString() : d.toLocaleString()
}

export function bytes (n) {
  if (typeof n !== 'number') return '—'
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB']
  let i = 0
  while (n >= 1024 && i < units.length - 1) { n /= 1024; i++ }
  return (i === 0 ? String(n) : n.toFixed(1)) + ' ' + units[i]
}
`
