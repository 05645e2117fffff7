// iperf3 single-flow throughput and busybox ping latency between two namespaces, with the CPU
// the overlay processes used during the transfer, the machine's other load, and the bytes a
// relay's link carried (proof of the path).
import { cpuSeconds, devBytes, inNs, machineBusy, spawnIn } from './lab.mjs'

export function percentile (xs, p) {
  const s = [...xs].sort((a, b) => a - b)
  return s[Math.min(s.length - 1, Math.floor(p / 100 * s.length))]
}

/** `count` echo requests 0.2 s apart: { avg, p99, loss, n } in ms (p99 of 20 is the max). */
export async function ping (ns, address, count, interval = '0.2') {
  const r = await inNs(ns, ['busybox', 'ping', '-c', String(count), '-i', interval, '-W', '2', address], (count * Number(interval) + 15) * 1000)
  const times = [...r.stdout.matchAll(/time=([\d.]+) ms/g)].map(m => Number(m[1]))
  if (times.length === 0) throw new Error(`ping ${address} from ${ns}: no reply (${(r.stdout + r.stderr).trim().slice(-300)})`)
  return { avg: times.reduce((x, y) => x + y, 0) / times.length, p99: percentile(times, 99), loss: count - times.length, n: times.length }
}

/** Until one echo request is answered (warms up handshakes and paths). */
export async function reachable (ns, address, timeoutMs = 30_000) {
  const end = Date.now() + timeoutMs
  while (Date.now() < end) {
    const r = await inNs(ns, ['busybox', 'ping', '-c', '1', '-W', '1', address], 5000)
    if (r.code === 0) return true
  }
  return false
}

/**
 * iperf3 -c from `clientNs` to a server bound to `address` in `serverNs`, one flow, `seconds` s.
 * `watch`: pids whose CPU is counted during the transfer ({ label: pid }); `relay`: [ns, dev]
 * whose bytes are counted. Resolves { mbps, retrans, cpu: { label: cores }, others (busy cores
 * in the second before), relayBytes, bytes, loadedLat (ping `loadedPing` = [ns, address] during the transfer) }.
 */
export async function iperf (serverNs, clientNs, address, seconds, { watch = {}, relay, loadedPing } = {}) {
  const srv = spawnIn(serverNs, ['iperf3', '-s', '-1', '--forceflush', '-B', address, '-p', '5201'])
  try {
    await srv.waitFor(/Server listening/, 10_000)
    // the machine's load just before (the overlay idle): other jobs on this shared machine
    const idle0 = machineBusy()
    await new Promise(resolve => setTimeout(resolve, 1000))
    const others = machineBusy() - idle0
    const cpu0 = Object.fromEntries(Object.entries(watch).map(([k, pid]) => [k, cpuSeconds(pid)]))
    const relay0 = relay != null ? await devBytes(...relay) : undefined
    const t0 = performance.now()
    // latency under load: echo requests 0.25 s apart from the second second of the transfer on
    const count = Math.max(1, Math.floor((seconds - 1.5) / 0.25))
    const loaded = loadedPing != null
      ? new Promise(resolve => setTimeout(resolve, 1000)).then(() => ping(...loadedPing, count, '0.25')).catch(() => undefined)
      : undefined
    const r = await inNs(clientNs, ['iperf3', '-c', address, '-p', '5201', '-t', String(seconds), '-J'], (seconds + 30) * 1000)
    const loadedLat = await loaded
    const wall = (performance.now() - t0) / 1000
    const relayBytes = relay != null ? await devBytes(...relay) - relay0 : undefined
    if (r.code !== 0) throw new Error(`iperf3 to ${address}: exit ${r.code}: ${r.stdout.slice(-1500)} ${r.stderr}`)
    const j = JSON.parse(r.stdout)
    const cpu = Object.fromEntries(Object.entries(watch).map(([k, pid]) => [k, (cpuSeconds(pid) - cpu0[k]) / wall]))
    return {
      mbps: j.end.sum_received.bits_per_second / 1e6,
      bytes: j.end.sum_received.bytes,
      retrans: j.end.sum_sent.retransmits,
      cpu,
      others,
      loadedLat,
      relayBytes
    }
  } finally {
    await srv.stop()
  }
}
