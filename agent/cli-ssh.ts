/** CLI commands of the SSH distributor roles: `ctpf ssh run`, `ctpf cluster …`. */
import type { Command } from 'commander'

export function registerSshCommands (_program: Command): void {
  // filled in by the SSH distributor work (issue 9)
}
