// Issue 2: time from `ctpf agent --join` to membership on loopback (goal < 1 s), and an
// idle agent's RSS (goal ≤ 80 MiB). The join time is measured from spawning the joiner's
// process (Node start-up included) to the founder listing it as a member.
import { spawn } from 'node:child_process'
import { header, percentile, rssMiB, sleep, spawnAgent, waitFor } from './lib.mjs'

header('join and idle RSS')
const founder = spawnAgent()
await founder.ready()
const joiners = []
const times = []
for (let i = 0; i < 5; i++) {
  const { token } = await founder.api('POST', '/invites', {})
  const t0 = performance.now()
  const j = spawnAgent({ CTPF_JOIN_TOKEN: token })
  joiners.push(j)
  const before = (await founder.api('GET', '/members')).length
  await waitFor(async () => (await founder.api('GET', '/members')).length > before)
  times.push(performance.now() - t0)
}
const bare = spawn(process.execPath, ['scripts/bench/fixtures/bare-libp2p.mjs'], { stdio: ['ignore', 'pipe', 'inherit'] })
await new Promise(resolve => bare.stdout.once('data', resolve))
await sleep(10_000)
const bareRss = rssMiB(bare.pid)
bare.kill('SIGKILL')
const founderRss = rssMiB(founder.proc.pid)
const joinerRss = joiners.map(j => rssMiB(j.proc.pid))
console.log(`join → member (process spawn included), ${times.length} joins: p50 ${percentile(times, 50).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (goal < 1000 ms)`)
console.log(`idle RSS after 10 s: founder ${founderRss.toFixed(1)} MiB, joiners ${joinerRss.map(r => r.toFixed(1)).join(' / ')} MiB (goal ≤ 80 MiB)`)
console.log(`reference: a bare libp2p node (tcp+noise+yamux+identify+ping) in the same Node: ${bareRss.toFixed(1)} MiB; agent/bare ratio ${(percentile(joinerRss, 50) / bareRss).toFixed(2)}`)
for (const a of [founder, ...joiners]) a.stop()
