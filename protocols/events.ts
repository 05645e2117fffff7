/**
 * A small typed event emitter: events are `noun:verb` names mapped to their payload type.
 *
 * @example
 * const bus = new Emitter<{ 'member:joined': { peerId: string } }>()
 * bus.on('member:joined', ({ peerId }) => console.info(peerId))
 */
export type Listener<T> = (detail: T) => void

export class Emitter<Events extends object> {
  readonly #listeners = new Map<keyof Events, Set<Listener<never>>>()

  on<K extends keyof Events>(name: K, fn: Listener<Events[K]>): () => void {
    let set = this.#listeners.get(name)
    if (set == null) {
      set = new Set()
      this.#listeners.set(name, set)
    }
    set.add(fn as Listener<never>)
    return () => { set.delete(fn as Listener<never>) }
  }

  /** Every event, for forwarding (the control endpoint's event stream). */
  onAny (fn: (name: string, detail: unknown) => void): () => void {
    const any = this.#any
    any.add(fn)
    return () => { any.delete(fn) }
  }

  readonly #any = new Set<(name: string, detail: unknown) => void>()

  emit<K extends keyof Events>(name: K, detail: Events[K]): void {
    for (const fn of this.#listeners.get(name) ?? []) {
      try { (fn as Listener<Events[K]>)(detail) } catch { /* a listener's failure is its own */ }
    }
    for (const fn of this.#any) {
      try { fn(String(name), detail) } catch { /* as above */ }
    }
  }
}
