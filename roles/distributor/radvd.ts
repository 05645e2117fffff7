/**
 * Router Advertisements on the boot segment, by running Debian's radvd: iPXE waits ~16 s
 * for one before it gives up on IPv6. The prefix is a ULA derived from the interface name,
 * advertised without a default route, so hosts get IPv6 on-link only.
 */
import { spawn } from 'node:child_process'
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { ChildProcess } from 'node:child_process'
import type { Logger } from 'pino'

export function ulaPrefix (seed: string): string {
  const h = createHash('sha256').update(seed).digest('hex')
  return `fd${h.slice(0, 2)}:${h.slice(2, 6)}:${h.slice(6, 10)}::/64`
}

export class RouterAdvertiser {
  #proc?: ChildProcess
  #dir?: string
  constructor (readonly iface: string, readonly prefix: string, private readonly log: Logger) {}

  async start (): Promise<void> {
    if (this.#proc != null) return
    this.#dir = mkdtempSync(join(tmpdir(), 'ctpf-radvd-'))
    const conf = join(this.#dir, 'radvd.conf')
    writeFileSync(conf, [
      `interface ${this.iface} {`,
      '  AdvSendAdvert on;',
      '  MinRtrAdvInterval 3;',
      '  MaxRtrAdvInterval 10;',
      '  AdvDefaultLifetime 0;',
      `  prefix ${this.prefix} { AdvOnLink on; AdvAutonomous on; };`,
      '};', ''
    ].join('\n'))
    const proc = spawn('radvd', ['--nodaemon', '--config', conf, '--pidfile', join(this.#dir, 'radvd.pid'), '--logmethod', 'stderr'], { stdio: ['ignore', 'ignore', 'pipe'] })
    let err = ''
    proc.stderr?.on('data', d => { err += String(d) })
    await new Promise<void>((resolve, reject) => {
      const t = setTimeout(resolve, 300)
      proc.once('error', e => { clearTimeout(t); reject(new Error(`radvd could not start (is it installed?): ${e.message}`)) })
      proc.once('exit', code => { clearTimeout(t); reject(new Error(`radvd exited (${code}): ${err.trim()}`)) })
    })
    proc.removeAllListeners('exit')
    proc.on('exit', code => { if (this.#proc === proc) this.log.warn({ code }, 'radvd exited') })
    this.#proc = proc
  }

  async stop (): Promise<void> {
    const proc = this.#proc
    this.#proc = undefined
    if (proc != null && proc.exitCode == null) {
      await new Promise<void>(resolve => { proc.once('exit', () => { resolve() }); proc.kill('SIGTERM') })
    }
    if (this.#dir != null) rmSync(this.#dir, { recursive: true, force: true })
    this.#dir = undefined
  }
}
