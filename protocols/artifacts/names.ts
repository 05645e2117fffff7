/**
 * Mutable names (`ipxe/undionly.kpxe`) that point at CIDs, kept in replicated state under
 * `names/<name>` with the last HISTORY_LENGTH targets. Last writer wins, like all state.
 */
import { NameInvalidError, NameNotFoundError } from './errors.js'

export const NAMES_PREFIX = 'names/'
export const HISTORY_LENGTH = 20
const NAME_RE = /^[A-Za-z0-9._=+@:-]+(\/[A-Za-z0-9._=+@:-]+)*$/

/** The narrow view of replicated state the names need (StateService + StateStore). */
export interface NameState {
  write: (key: string, value: unknown) => Promise<unknown>
  get: <T>(key: string) => T | undefined
  /** Live records under a prefix (StateStore.list); needed only by `Names.list`. */
  list?: <T>(prefix: string) => Array<{ key: string, value: T }>
}

export interface NameEntry { cid: string, at: number, by: string }
export interface NameRecord { cid: string, at: number, by: string, history: NameEntry[] }

export function checkName (name: string): void {
  if (name.length === 0 || name.length > 200 || !NAME_RE.test(name) || name.split('/').some(p => p === '.' || p === '..')) throw new NameInvalidError(name)
}

export class Names {
  constructor (private readonly state: NameState, private readonly self: string, private readonly now: () => number = Date.now) {}

  get (name: string): NameRecord | undefined {
    checkName(name)
    return this.state.get<NameRecord>(NAMES_PREFIX + name)
  }

  resolve (name: string): string {
    const r = this.get(name)
    if (r == null) throw new NameNotFoundError(name)
    return r.cid
  }

  /** Points `name` at `cid`; the previous target goes to the history. */
  async set (name: string, cid: string): Promise<NameRecord> {
    const prev = this.get(name)
    const entry: NameEntry = { cid, at: this.now(), by: this.self }
    const history = prev == null ? [] : [{ cid: prev.cid, at: prev.at, by: prev.by }, ...prev.history].slice(0, HISTORY_LENGTH)
    const record: NameRecord = { ...entry, history }
    await this.state.write(NAMES_PREFIX + name, record)
    return record
  }

  /** Every name under a prefix (`ipxe/`), in name order. */
  list (prefix = ''): Array<{ name: string } & NameRecord> {
    if (this.state.list == null) return []
    return this.state.list<NameRecord>(NAMES_PREFIX + prefix).map(({ key, value }) => ({ name: key.slice(NAMES_PREFIX.length), ...value }))
  }

  async remove (name: string): Promise<void> {
    if (this.get(name) == null) throw new NameNotFoundError(name)
    await this.state.write(NAMES_PREFIX + name, null)
  }
}
