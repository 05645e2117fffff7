/** Arguments that break naive quoting: spaces, quotes, $(…), backticks, `;`, newlines, globs, options. */
export const NASTY = [
  'plain', '', ' ', 'two words', "it's", "''", '"double"', '$(touch /tmp/ctpf-ssh-pwned)', '`id`', '$HOME', '${PATH}',
  'a;b', 'a && b', 'a | b', 'line1\nline2', '\n', 'tab\there', 'back\\slash', '\\', '*', '?', '[a]', '~', '#not a comment',
  '-n', '--', '!', '>out', '<in', '%s', 'ünïcødé ✓', "'; rm -rf / #", 'end\\'
]
