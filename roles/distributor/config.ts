/**
 * The distributor's configuration (the `distributor` section of the agent's config file).
 * Each LAN service is optional; their own schemas (dhcp/, tftp/, dns/) validate their parts.
 *
 * ```json
 * { "distributor": {
 *     "dc": "nbg1", "address": "10.0.0.1", "interface": "br0",
 *     "files": { "dir": "/srv/ctpf/boot" },
 *     "profile": { "name": "default", "kernel": "vmlinuz", "initrd": "initrd.img", "cmdline": "console=ttyS0" },
 *     "http": { "port": 8080 },
 *     "tftp": { "port": 69 },
 *     "dhcp": { "mode": "full", "subnets": [{ "network": "10.0.0.0", "netmask": "255.255.255.0",
 *               "range": { "start": "10.0.0.100", "end": "10.0.0.199" }, "router": "10.0.0.1" }] },
 *     "dns": { "port": 53, "domain": "mesh.internal", "upstreams": ["10.0.0.254"] },
 *     "ipv6RouterAdvertisements": true } }
 * ```
 * `ipv6RouterAdvertisements` (on by default when `interface` is given) runs radvd on `interface`
 * with a ULA prefix, so iPXE (which waits
 * ~16 s for a Router Advertisement otherwise) boots at once.
 */
import { z } from 'zod'

export const distributorConfigSchema = z.object({
  dc: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/),
  /** our IPv4 address on the served segment */
  address: z.ipv4(),
  interface: z.string().regex(/^[A-Za-z0-9._-]{1,15}$/).optional(),
  /** where boot files come from: artifact names `<names><file>` (fetched through the mesh), then a directory */
  files: z.object({ dir: z.string().min(1).optional(), names: z.string().max(100).optional() }).strict()
    .refine(f => f.dir != null || f.names != null, 'give files.dir, files.names, or both'),
  profile: z.object({
    name: z.string().min(1).max(64).default('default'),
    kernel: z.string().min(1).max(255),
    initrd: z.string().min(1).max(255).optional(),
    cmdline: z.string().max(2048).optional()
  }).strict(),
  http: z.object({
    port: z.number().int().min(0).max(65535).default(8080),
    bind: z.ipv4().optional(),
    /** BIOS machines whose NIC ROM is an iPXE of its own chainload the distribution's undionly.kpxe first */
    chainUndionly: z.boolean().default(false)
  }).strict().prefault({}),
  tftp: z.record(z.string(), z.unknown()).optional(),
  dhcp: z.record(z.string(), z.unknown()).optional(),
  dns: z.record(z.string(), z.unknown()).optional(),
  ipv6RouterAdvertisements: z.boolean().optional()
}).strict()
  .refine(c => c.ipv6RouterAdvertisements !== true || c.interface != null, 'ipv6RouterAdvertisements needs "interface"')
  // iPXE waits ~16 s for a Router Advertisement: answer one out of the box wherever we can
  .transform(c => ({ ...c, ipv6RouterAdvertisements: c.ipv6RouterAdvertisements ?? c.interface != null }))

export type DistributorConfig = z.infer<typeof distributorConfigSchema>
export type DistributorConfigInput = z.input<typeof distributorConfigSchema>
