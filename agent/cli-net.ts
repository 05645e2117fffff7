/** CLI commands of the overlay: `ctpf net status|routes|ping`. */
import type { Command } from 'commander'

export function registerNetCommands (_program: Command): void {
  // filled in by the overlay work (issue 8)
}
