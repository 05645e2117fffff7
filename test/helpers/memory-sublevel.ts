/** An in-memory Sublevel: the store's small persistence interface, for unit tests. */
import type { Sublevel } from '../../store/index.js'

export function memorySublevel<V> (): Sublevel<V> & { map: Map<string, V> } {
  const map = new Map<string, V>()
  return {
    map,
    get: async k => map.get(k),
    put: async (k, v) => { map.set(k, v) },
    del: async k => { map.delete(k) },
    entries: async function * () { yield * [...map.entries()].sort(([a], [b]) => a < b ? -1 : 1) },
    batch: async ops => { for (const o of ops) o.type === 'put' ? map.set(o.key, o.value) : map.delete(o.key) }
  }
}
