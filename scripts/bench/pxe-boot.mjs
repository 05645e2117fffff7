#!/usr/bin/env node
/**
 * PXE boot benchmark (issue 5): QEMU power-on to the boot script and to the booted initramfs,
 * from a ctpf agent running the distributor role vs dnsmasq (DHCP + TFTP) with a small Node
 * HTTP server serving the same files. Goal: ours ≤ 1.05× dnsmasq.
 *
 * The benchmark itself is TypeScript on the e2e harness (test/helpers/netns.ts, qemu.ts), so
 * this wrapper runs it with vitest: scripts/bench/pxe-boot.bench.ts. Needs root (network
 * namespaces, taps), QEMU, dnsmasq, radvd, the built agent and the boot fixtures.
 *
 *   sudo node scripts/bench/pxe-boot.mjs            # CTPF_BENCH_RUNS=3 by default
 */
import { spawnSync } from 'node:child_process'
import { existsSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..')
const problems = []
if (typeof process.getuid !== 'function' || process.getuid() !== 0) problems.push('needs root (network namespaces, taps, QEMU on them)')
const cache = process.env.CTPF_BOOT_CACHE ?? join(root, '.cache/boot')
for (const f of [join(root, 'dist/ctpf.mjs'), join(cache, 'vmlinuz'), join(cache, 'initrd.img')]) {
  if (!existsSync(f)) problems.push(`missing ${f}`)
}
if (problems.length > 0) {
  console.error(`pxe-boot bench cannot run:\n  ${problems.join('\n  ')}\nbuild the agent and the boot fixtures with: npm run build && bash scripts/boot-fixtures.sh`)
  process.exit(1)
}
const r = spawnSync('npx', ['vitest', 'run', '--config', 'scripts/bench/pxe-boot.vitest.config.ts'], { cwd: root, stdio: 'inherit' })
if (r.error !== undefined) console.error(`pxe-boot bench: ${r.error.message}`)
process.exit(r.status ?? 1)
