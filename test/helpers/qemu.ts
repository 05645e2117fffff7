/**
 * Real machines for boot tests: QEMU (TCG — the nested KVM here breaks SeaBIOS and OVMF) with
 * its serial console collected in memory and in a log file.
 *
 * @example
 * const seg = await Segment.create()
 * const vm = await bootMachine({ segment: seg, mac: '52:54:00:c7:00:01', boot: 'pxe', serialLog: '/tmp/vm.log' })
 * try {
 *   await vm.waitFor(/CTPF-BOOT-OK/, 60_000)
 * } finally {
 *   await vm.kill()
 * }
 */
import { spawn } from 'node:child_process'
import { copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Segment } from './netns.js'

export const OVMF_CODE = '/usr/share/OVMF/OVMF_CODE.fd'
export const OVMF_VARS = '/usr/share/OVMF/OVMF_VARS.fd'

export type BootSource =
  | 'pxe'
  | { disk: string }
  | { cdrom: string }
  /** QEMU's direct kernel boot (no firmware network stack): for testing fixtures themselves. */
  | { kernel: string, initrd?: string, append?: string }

export interface BootOptions {
  /** Attach the NIC to a new tap on this segment's bridge (and run QEMU in its LAN namespace). */
  segment?: Segment
  /** Or: run QEMU in this namespace and attach to `tap`, an existing tap there. */
  netns?: string
  tap?: string
  /** The NIC's MAC; required with a network. */
  mac?: string
  nic?: 'e1000' | 'virtio-net-pci'
  firmware?: 'bios' | 'uefi'
  boot: BootSource
  /**
   * The NIC option ROM: undefined = QEMU's own (iPXE), '' = none (no network boot from the
   * NIC), a path = that ROM image.
   */
  romfile?: string
  /** The serial console is written here as it arrives (and kept in `machine.log`). */
  serialLog: string
  /** Hard limit: QEMU is killed after this long. Default 180 s. */
  timeoutMs?: number
  memoryMiB?: number
  extraArgs?: string[]
  signal?: AbortSignal
}

export interface MachineExit { code: number | null, signal: NodeJS.Signals | null }

export interface Machine {
  /** The serial console so far, with carriage returns removed (the file keeps them). */
  readonly log: string
  /** Each complete serial line with the time it arrived (ms after start): where the time goes. */
  readonly lines: ReadonlyArray<{ atMs: number, text: string }>
  /** QEMU's own stderr (warnings, errors). */
  readonly stderr: string
  readonly argv: readonly string[]
  readonly tap: string | undefined
  /** Milliseconds since QEMU was started. */
  elapsed: () => number
  /** Resolves once QEMU has exited (guest power-off, kill, crash). */
  readonly exited: Promise<MachineExit>
  /**
   * Resolves with the first match of `re` in the complete lines of the serial console so far
   * (a line still being written is not searched, so `(.*)` captures whole lines), with the
   * time it appeared; rejects on timeout or when QEMU exits first (the console tail is in the
   * message).
   */
  waitFor: (re: RegExp, timeoutMs?: number) => Promise<RegExpExecArray & { atMs: number }>
  /** Waits for QEMU to exit by itself (a guest `poweroff -f`). */
  waitForExit: (timeoutMs?: number) => Promise<MachineExit>
  /** Kills QEMU (if running), removes the harness's tap and temp files. Safe to call twice. */
  kill: () => Promise<void>
}

/** A path inside a QEMU `key=value,…` option: commas are doubled. */
function q (path: string): string { return path.replace(/,/g, ',,') }

/** The QEMU command line for `opts` (without the namespace wrapper). Exported for inspection. */
export function qemuArgs (opts: BootOptions & { tap?: string, varsFile?: string }): string[] {
  const args = ['qemu-system-x86_64', '-accel', 'tcg', '-m', String(opts.memoryMiB ?? 512),
    // -nographic (not -display none): SeaBIOS then mirrors its console, and iPXE's, to serial
    '-nographic', '-no-reboot', '-monitor', 'none',
    '-chardev', `stdio,id=ser0,signal=off,logfile=${q(opts.serialLog)},logappend=off`, '-serial', 'chardev:ser0']
  if (opts.firmware === 'uefi') {
    if (opts.varsFile === undefined) throw new Error('uefi needs a vars file')
    args.push('-drive', `if=pflash,format=raw,unit=0,readonly=on,file=${q(OVMF_CODE)}`,
      '-drive', `if=pflash,format=raw,unit=1,file=${q(opts.varsFile)}`)
  }
  if (opts.boot === 'pxe' && opts.tap === undefined) throw new Error('a pxe boot needs a network: segment, or netns + tap')
  if (opts.tap !== undefined) {
    if (opts.mac === undefined) throw new Error('a NIC needs a mac')
    const rom = opts.romfile === undefined ? '' : `,romfile=${q(opts.romfile)}`
    args.push('-netdev', `tap,id=net0,ifname=${opts.tap},script=no,downscript=no`,
      '-device', `${opts.nic ?? 'e1000'},netdev=net0,mac=${opts.mac}${rom}${opts.boot === 'pxe' ? ',bootindex=1' : ''}`)
  } else {
    args.push('-nic', 'none')
  }
  // bootindex (not -boot order) is what both SeaBIOS and OVMF honour
  const boot = opts.boot
  if (boot === 'pxe') {
    // bootindex=1 is on the NIC above
  } else if ('disk' in boot) {
    // snapshot=on: the guest's writes go to a temp overlay, never to the image file
    args.push('-drive', `id=disk0,if=none,format=raw,snapshot=on,file=${q(boot.disk)}`, '-device', 'ide-hd,drive=disk0,bus=ide.0,bootindex=1')
  } else if ('cdrom' in boot) {
    args.push('-drive', `id=cd0,if=none,format=raw,media=cdrom,readonly=on,file=${q(boot.cdrom)}`, '-device', 'ide-cd,drive=cd0,bus=ide.1,bootindex=1')
  } else {
    args.push('-kernel', boot.kernel)
    if (boot.initrd !== undefined) args.push('-initrd', boot.initrd)
    args.push('-append', boot.append ?? 'console=ttyS0')
  }
  args.push(...(opts.extraArgs ?? []))
  return args
}

/** Starts a machine. It runs until it powers off, `kill()` is called, or `timeoutMs` passes. */
export async function bootMachine (opts: BootOptions): Promise<Machine> {
  const temp = await mkdtemp(join(tmpdir(), 'ctpf-qemu-'))
  let tap = opts.tap
  let netns = opts.netns
  const cleanups: Array<() => Promise<void>> = [async () => { await rm(temp, { recursive: true, force: true }) }]
  const cleanUp = async (): Promise<void> => { for (const c of cleanups.splice(0).reverse()) await c().catch(() => {}) }
  try {
    if (opts.segment !== undefined) {
      netns = opts.segment.ns
      if (tap === undefined) {
        const seg = opts.segment
        const made = await seg.addTap()
        tap = made
        cleanups.push(async () => { await seg.removeTap(made) })
      }
    }
    if (tap !== undefined && netns === undefined) throw new Error('a tap needs its namespace (netns or segment)')
    let varsFile: string | undefined
    if (opts.firmware === 'uefi') {
      varsFile = join(temp, 'OVMF_VARS.fd')
      await copyFile(OVMF_VARS, varsFile)
    }
    await writeFile(opts.serialLog, '')
    const args = qemuArgs({ ...opts, tap, varsFile })
    const argv = netns === undefined ? args : ['ip', 'netns', 'exec', netns, ...args]
    // stdin is a pipe we never write: the stdio chardev must not see EOF or a terminal
    const child = spawn(argv[0] as string, argv.slice(1), { stdio: ['pipe', 'pipe', 'pipe'] })
    const started = Date.now()
    let log = ''
    const lines: Array<{ atMs: number, text: string }> = []
    let partial = ''
    let stderr = ''
    const listeners = new Set<() => void>()
    const notify = (): void => { for (const l of listeners) l() }
    child.stdout.setEncoding('latin1').on('data', (s: string) => {
      const text = s.replace(/\r/g, '')
      log += text
      const parts = (partial + text).split('\n')
      partial = parts.pop() ?? ''
      const atMs = Date.now() - started
      for (const line of parts) lines.push({ atMs, text: line })
      notify()
    })
    child.stderr.setEncoding('utf8').on('data', (s: string) => { stderr += s })
    let exit: MachineExit | undefined
    const exited = new Promise<MachineExit>(resolve => {
      child.once('exit', (code, signal) => { exit = { code, signal }; resolve(exit); notify() })
      child.once('error', err => { stderr += `spawn error: ${err.message}\n`; exit = { code: null, signal: null }; resolve(exit); notify() })
    })
    const hardLimit = setTimeout(() => { stderr += `\n[harness] killed after timeoutMs=${opts.timeoutMs ?? 180_000}\n`; child.kill('SIGKILL') }, opts.timeoutMs ?? 180_000)
    const onAbort = (): void => { child.kill('SIGKILL') }
    opts.signal?.addEventListener('abort', onAbort, { once: true })
    cleanups.push(async () => {
      clearTimeout(hardLimit)
      opts.signal?.removeEventListener('abort', onAbort)
      if (exit === undefined) {
        child.kill('SIGTERM')
        const t = setTimeout(() => child.kill('SIGKILL'), 3000)
        await exited
        clearTimeout(t)
      }
    })
    const describe = (): string => `qemu ${args.join(' ')}\n--- serial (tail) ---\n${log.slice(-3000)}\n--- stderr ---\n${stderr.slice(-1500)}`

    const machine: Machine = {
      get log () { return log },
      lines,
      get stderr () { return stderr },
      argv,
      tap,
      elapsed: () => Date.now() - started,
      exited,
      waitFor: async (re, timeoutMs = 60_000) => await new Promise((resolve, reject) => {
        const check = (): void => {
          const m = re.exec(exit !== undefined ? log : log.slice(0, log.lastIndexOf('\n') + 1))
          if (m !== null) { done(); resolve(Object.assign(m, { atMs: Date.now() - started })); return }
          if (exit !== undefined) { done(); reject(new Error(`machine exited (${JSON.stringify(exit)}) before ${String(re)}\n${describe()}`)) }
        }
        const timer = setTimeout(() => { done(); reject(new Error(`no ${String(re)} on the serial console in ${timeoutMs} ms\n${describe()}`)) }, timeoutMs)
        const done = (): void => { clearTimeout(timer); listeners.delete(check) }
        listeners.add(check)
        check()
      }),
      waitForExit: async (timeoutMs = 60_000) => {
        let timer: NodeJS.Timeout | undefined
        const timeout = new Promise<never>((_resolve, reject) => {
          timer = setTimeout(() => { reject(new Error(`machine still running after ${timeoutMs} ms\n${describe()}`)) }, timeoutMs)
        })
        try { return await Promise.race([exited, timeout]) } finally { clearTimeout(timer) }
      },
      kill: cleanUp
    }
    return machine
  } catch (err) {
    await cleanUp()
    throw err
  }
}
