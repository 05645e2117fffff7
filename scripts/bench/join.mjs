// Issue 2: time from `ctpf agent --join` to membership on loopback (goal < 1 s), and an
// idle agent's RSS (goal ≤ 80 MiB). The join time is measured from spawning the joiner's
// process (Node start-up included) to the founder listing it as a member.
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
await sleep(10_000)
const founderRss = rssMiB(founder.proc.pid)
const joinerRss = joiners.map(j => rssMiB(j.proc.pid))
console.log(`join → member (process spawn included), ${times.length} joins: p50 ${percentile(times, 50).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms (goal < 1000 ms)`)
console.log(`idle RSS after 10 s: founder ${founderRss.toFixed(1)} MiB, joiners ${joinerRss.map(r => r.toFixed(1)).join(' / ')} MiB (goal ≤ 80 MiB)`)
for (const a of [founder, ...joiners]) a.stop()
