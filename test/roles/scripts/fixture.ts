/** A host, group and profile the golden files were written for. */
import { readFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { parseProfile, type RenderInput } from '../../../roles/scripts/index.js'

export const templatesDir = new URL('../../../roles/scripts/templates/', import.meta.url)
export const goldenDir = new URL('./golden/', import.meta.url)

export const template = (name: string): string => readFileSync(new URL(name, templatesDir), 'utf8')
export const golden = (name: string): string => readFileSync(new URL(name, goldenDir), 'utf8')

export const keys = [
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIGx0ZXN0a2V5MDEyMzQ1Njc4OWFiY2RlZmdoaWprbG1u ops@example.org',
  'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIHNlY29uZGtleTAxMjM0NTY3ODlhYmNkZWZnaGlqa2xt o\'brien@example.org'
]
export const token = 'q2Jx7uR8mN4vK1pL0sT3wY6zA9bC5dE2fG7hI4jK8lM'
const base = 'http://10.0.0.1:8080'
const inst = `${base}/v1/installer/52-54-00-12-34-56`

export function exampleProfile (): ReturnType<typeof parseProfile> {
  return parseProfile({
    name: 'examples',
    kernel: 'rocky/9/vmlinuz',
    initrd: ['rocky/9/initrd.img'],
    cmdline: 'inst.ks={{ urls.kickstart }} ip=dhcp console=ttyS0,115200n8',
    installer: {
      kickstart: template('kickstart.ks'),
      preseed: template('preseed.cfg'),
      cloudInit: { userData: template('user-data.yaml'), metaData: template('meta-data.yaml') },
      postInstall: template('post-install.sh')
    }
  })
}

export function renderInput (overrides: Partial<RenderInput> = {}): RenderInput {
  return {
    profile: exampleProfile(),
    host: {
      mac: '52-54-00-12-34-56',
      uuid: '8C3F2A10-5B6D-4E7F-9A1B-2C3D4E5F6071',
      arch: 'x86_64',
      hostname: 'web1',
      dc: 'nbg1',
      addresses: ['10.0.0.5'],
      tags: { rack: 'r1', role: 'web' }
    },
    group: { name: 'web', metadata: { installTree: 'http://mirror.example.org/rocky/9/BaseOS/x86_64/os/', timezone: 'Europe/Berlin' } },
    authorizedKeys: keys,
    phoneHome: { url: `${base}/v1/phone-home`, token },
    mesh: { id: 'mesh-test', domain: 'mesh.internal' },
    baseUrl: base,
    urls: {
      kickstart: `${inst}/kickstart`,
      preseed: `${inst}/preseed`,
      cloudInit: `${inst}/`,
      postInstall: `${inst}/post-install`
    },
    ...overrides
  }
}

/** Runs python3 with `input` on stdin and returns stdout. */
export function python (code: string, input: string): string {
  return execFileSync('python3', ['-c', code], { input, encoding: 'utf8' })
}

/** YAML → JSON through PyYAML's safe loader (the loader cloud-init uses). */
export function parseYaml (text: string): any {
  return JSON.parse(python('import sys, json, yaml; print(json.dumps(yaml.safe_load(sys.stdin.read())))', text))
}
