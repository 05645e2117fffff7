/**
 * Who may write which keys. Each rule covers a key prefix (`jobs/`); a key with no rule is
 * refused. Roles and the agent add rules for their own prefixes at start.
 *
 * @example
 * const rules = new WriteRules()
 * rules.allow('jobs/', 'member')
 * rules.allow('agents/', 'self')          // agents/<peerId>… only by that peer
 * rules.allow('hosts/', ({ tags }) => tags.role === 'registry')
 */
export interface Authority {
  isMember: (peerId: string) => boolean
  isAdmin: (peerId: string) => boolean
  tagsOf: (peerId: string) => Record<string, string>
}

export type Rule = 'admin' | 'member' | 'self' | ((writer: { peerId: string, tags: Record<string, string>, key: string }) => boolean)

export class WriteRules {
  readonly #rules = new Map<string, Rule>()

  allow (prefix: string, rule: Rule): this {
    this.#rules.set(prefix, rule)
    return this
  }

  /** The rule of the longest matching prefix, or undefined. */
  ruleFor (key: string): Rule | undefined {
    let best: string | undefined
    for (const p of this.#rules.keys()) if (key.startsWith(p) && (best == null || p.length > best.length)) best = p
    return best == null ? undefined : this.#rules.get(best)
  }

  permits (key: string, author: string, authority: Authority): boolean {
    if (!authority.isMember(author)) return false
    const rule = this.ruleFor(key)
    if (rule == null) return false
    if (rule === 'member') return true
    if (rule === 'admin') return authority.isAdmin(author)
    if (rule === 'self') return key.split('/')[1] === author
    return rule({ peerId: author, tags: authority.tagsOf(author), key })
  }
}
