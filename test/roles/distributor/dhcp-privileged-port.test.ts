import { readFileSync } from 'node:fs'
import { afterAll, describe, expect, it } from 'vitest'
import { createDhcpServer } from '../../../roles/distributor/dhcp/index.js'
import { MemoryLeaseStore } from '../../../store/leases.js'
import { isRoot } from '../../helpers/privileged.js'
import { loopbackConfig, ports, quietLogger } from './dhcp-client.js'
import { ServerProcess, removeCompiled } from './dhcp-netns.js'

afterAll(async () => { await removeCompiled() })

describe('binding the DHCP port without privileges', () => {
  const config = { ...loopbackConfig(ports()), ports: { server: 67, client: 68, pxe: 4011 } }

  it('fails with ERR_DHCP_PRIVILEGED_PORT and says which capability is missing', async () => {
    const firstFree = Number(readFileSync('/proc/sys/net/ipv4/ip_unprivileged_port_start', 'utf8'))
    expect(firstFree, 'this kernel lets anyone bind port 67; the test cannot tell').toBeGreaterThan(67)
    let error: { code: string, message: string } | undefined
    if (isRoot) {
      // as root we hold CAP_NET_BIND_SERVICE: run the server as nobody in a child process
      const child = await ServerProcess.start({ asUser: 65534, config })
      await child.stop()
      error = child.startError
    } else {
      const server = createDhcpServer(config, { logger: quietLogger, leaseStore: new MemoryLeaseStore() })
      error = await server.start().then(() => undefined, (err: { code: string, message: string }) => err)
      await server.stop()
    }
    expect(error?.code).toBe('ERR_DHCP_PRIVILEGED_PORT')
    expect(error?.message).toMatch(/port 67 needs root or CAP_NET_BIND_SERVICE/)
  })
})
