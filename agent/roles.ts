/** Roles an agent has: its `role` tag, several joined with `+` (`role=builder+packager`). */
export function hasRole (tags: Record<string, string>, role: string): boolean {
  return (tags.role ?? '').split('+').includes(role)
}
