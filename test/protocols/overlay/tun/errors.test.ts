/**
 * Clear errors for the conditions the agent must explain ("overlay is off because …"):
 * addon not built, no CAP_NET_ADMIN, no /dev/net/tun; plus bad options, a name taken by
 * another kind of interface, a failing `ip`, and an interface deleted under an open device.
 */
import { chmod, copyFile, mkdtemp, rm, writeFile } from 'node:fs/promises'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import {
  DEFAULT_ADDON_PATH, openTun, TunAddonMissingError, TunConfigError, TunNameInUseError, TunPermissionError, TunReadError,
  TunSetupError, TunUnavailableError
} from '../../../../protocols/overlay/tun/index.js'
import { ip, sh, uniqueTag } from '../../../helpers/netns.js'
import { describePrivileged } from '../../../helpers/privileged.js'
import { ensureAddonBuilt } from './addon-build.js'
import { bundleScript } from './bundle.js'

const here = new URL('.', import.meta.url).pathname

describe('openTun errors before any privilege is needed', () => {
  let dir = ''
  beforeAll(async () => { dir = await mkdtemp(join(tmpdir(), 'ctpf-tun-')) })
  afterAll(async () => { await rm(dir, { recursive: true, force: true }) })

  it('an addon that was never built is ERR_TUN_ADDON_MISSING, naming the build script', async () => {
    const err = await openTun({}, { addonPath: join(dir, 'missing', 'ctpf_tun.node') }).catch(e => e)
    expect(err.code).toBe(TunAddonMissingError.code)
    expect(err.message).toMatch(/native\/build\.mjs/)
  })

  it('a file that is not the addon is ERR_TUN_ADDON_MISSING too', async () => {
    const bogus = join(dir, 'bogus.node')
    await writeFile(bogus, 'not an ELF file')
    expect((await openTun({}, { addonPath: bogus }).catch(e => e)).code).toBe(TunAddonMissingError.code)
  })

  it.each([
    [{ name: 'a-name-longer-than-15' }],
    [{ name: 'bad name' }],
    [{ mtu: 100 }],
    [{ mtu: 1400.5 }],
    [{ addresses: ['10.0.0.300/24'] }],
    [{ addresses: ['10.0.0.1/33'] }],
    [{ addresses: ['fd00::1/64/1'] }],
    [{ maxBatch: 0 }]
  ])('rejects %j with ERR_TUN_CONFIG', async init => {
    expect((await openTun(init, { addonPath: join(dir, 'never-loaded.node') }).catch(e => e)).code).toBe(TunConfigError.code)
  })

  it('an aborted signal rejects with AbortError', async () => {
    const err = await openTun({ signal: AbortSignal.abort() }).catch(e => e)
    expect(err.name).toBe('AbortError')
  })
})

describePrivileged('openTun errors from the kernel', ['ip', 'setpriv', 'bwrap'], () => {
  const ns = `ctpftun-${uniqueTag()}-e`
  let dir = ''
  let probe = ''
  const runProbe = async (prefix: string[], args: Record<string, unknown>): Promise<Record<string, unknown>> =>
    JSON.parse(await sh(prefix[0] as string, [...prefix.slice(1), process.execPath, probe, JSON.stringify({ addonPath: DEFAULT_ADDON_PATH, ...args })], 30_000))
  const inNs = ['ip', 'netns', 'exec', ns]

  beforeAll(async () => {
    await ensureAddonBuilt()
    dir = await mkdtemp(join(tmpdir(), 'ctpf-tun-'))
    probe = await bundleScript(join(here, 'probe.ts'), dir)
    await ip('netns', 'add', ns)
  }, 120_000)

  afterAll(async () => {
    await ip('netns', 'del', ns).catch(() => {})
    if (dir !== '') await rm(dir, { recursive: true, force: true })
  })

  it('without CAP_NET_ADMIN (root, capability dropped) it is ERR_TUN_PERMISSION', async () => {
    const res = await runProbe([...inNs, 'setpriv', '--bounding-set=-net_admin', '--inh-caps=-net_admin', '--'], { tun: { name: 'ctpftunp' } })
    expect(res).toMatchObject({ ok: false, code: TunPermissionError.code })
    expect(res.message).toMatch(/CAP_NET_ADMIN/)
  })

  it('as an unprivileged user it is ERR_TUN_PERMISSION', async () => {
    // a world-readable copy of the script and the addon, so only /dev/net/tun (0600 root) stands in the way
    await chmod(dir, 0o755)
    const addonPath = join(dir, 'ctpf_tun.node')
    await copyFile(DEFAULT_ADDON_PATH, addonPath)
    await chmod(addonPath, 0o755)
    const res = await runProbe([...inNs, 'setpriv', '--reuid=65534', '--regid=65534', '--clear-groups', '--inh-caps=-all', '--bounding-set=-all', '--'], { addonPath, tun: { name: 'ctpftunp' } })
    expect(res).toMatchObject({ ok: false, code: TunPermissionError.code })
  })

  it('without /dev/net/tun it is ERR_TUN_UNAVAILABLE', async () => {
    const res = await runProbe(['bwrap', '--bind', '/', '/', '--dev', '/dev', '--proc', '/proc', '--unshare-net', '--'], { tun: { name: 'ctpftunu' } })
    expect(res).toMatchObject({ ok: false, code: TunUnavailableError.code })
  })

  it('a name held by another kind of interface is ERR_TUN_NAME_IN_USE', async () => {
    await ip('-n', ns, 'link', 'add', 'ctpftunx', 'type', 'veth', 'peer', 'name', 'ctpftuny')
    const res = await runProbe(inNs, { tun: { name: 'ctpftunx' } })
    expect(res).toMatchObject({ ok: false, code: TunNameInUseError.code })
  })

  it('a failing `ip` is ERR_TUN_SETUP and the half-made device is gone', async () => {
    const res = await runProbe(inNs, { tun: { name: 'ctpftuns', addresses: ['10.77.0.1/24', '10.77.0.1/24'] } })
    expect(res).toMatchObject({ ok: false, code: TunSetupError.code })
    expect(await ip('-n', ns, 'link', 'show')).not.toMatch(/ctpftuns/)
  })

  it('deleting the interface under an open device emits one ERR_TUN_READ error', async () => {
    const res = await runProbe(inNs, { tun: { name: 'ctpftund' }, deleteLink: true })
    expect(res).toMatchObject({ ok: true, readError: TunReadError.code })
  })

  it('a paused device leaves packets in the kernel queue and reads them on resume', async () => {
    const res = await runProbe(inNs, { tun: { name: 'ctpftunq', addresses: ['10.79.0.1/24'] }, pingWhilePaused: '10.79.0.2', collectMs: 300 })
    expect(res).toMatchObject({ ok: true, whilePaused: 0 })
    const echoes = (res.packets as string[]).filter(hex => hex.startsWith('45') && hex.slice(40, 42) === '08')
    expect(echoes.length).toBe(2)
  })

  it('a 15-byte name is taken as given, and closing the device removes the interface', async () => {
    const res = await runProbe(inNs, { tun: { name: 'ctpftunc1234567', addresses: ['10.78.0.1/24'] } })
    expect(res).toMatchObject({ ok: true, name: 'ctpftunc1234567' })
    expect(await ip('-n', ns, 'link', 'show')).not.toMatch(/ctpftunc/)
  })
})
