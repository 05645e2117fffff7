/**
 * A child process for the error and noise tests: opens a TUN with the given options and
 * prints one JSON line — `{"ok":true,"name":…,"packets":[hex…],"readError":…}` with what the
 * device read during `collectMs` (and the error code after `deleteLink` removed the interface
 * under it), or `{"ok":false,"code":…,"message":…}`.
 *
 *   node probe.mjs '{"addonPath": …, "tun": TunInit, "collectMs": 0}'
 */
import { execFile } from 'node:child_process'
import { promisify } from 'node:util'
import { openTun, type TunInit } from '../../../../protocols/overlay/tun/index.js'

interface Args { addonPath: string, tun: TunInit, collectMs?: number, deleteLink?: boolean, pingWhilePaused?: string }
const args = JSON.parse(process.argv[2] ?? '{}') as Args

try {
  const tun = await openTun(args.tun, { addonPath: args.addonPath })
  const packets: string[] = []
  tun.on('packets', pkts => { for (const p of pkts) packets.push(p.toString('hex')) })
  let readError: string | undefined
  let whilePaused: number | undefined
  if (args.pingWhilePaused !== undefined) {
    // the kernel routes the echo requests into the TUN; none may reach us until resume()
    tun.pause()
    const before = packets.length
    await promisify(execFile)('busybox', ['ping', '-c', '2', '-i', '0.2', '-W', '1', args.pingWhilePaused]).catch(() => {})
    whilePaused = packets.length - before
    tun.resume()
  }
  if (args.deleteLink === true) {
    // the interface vanishes under an open device: expect one 'error' event
    const failed = new Promise<void>(resolve => tun.once('error', err => { readError = (err as { code?: string }).code; resolve() }))
    await promisify(execFile)('ip', ['link', 'del', 'dev', tun.name])
    await Promise.race([failed, new Promise(resolve => setTimeout(resolve, 3000).unref())])
  }
  await new Promise(resolve => setTimeout(resolve, args.collectMs ?? 0))
  await tun.close()
  console.log(JSON.stringify({ ok: true, name: tun.name, packets, stats: tun.stats, readError, whilePaused }))
} catch (err) {
  const e = err as { code?: string, message?: string }
  console.log(JSON.stringify({ ok: false, code: e.code, message: e.message }))
}
