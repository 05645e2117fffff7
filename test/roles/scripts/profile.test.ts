import { describe, expect, it } from 'vitest'
import { installerConfig, installerUsesPhoneHome, parseProfile, profileTemplates } from '../../../roles/scripts/index.js'
import { exampleProfile, renderInput } from './fixture.js'

const refusal = (input: unknown): any => {
  try { parseProfile(input) } catch (err) { return err }
  throw new Error('accepted')
}

describe('profiles', () => {
  it('fills defaults and keeps what was given', () => {
    expect(parseProfile({ name: 'p', kernel: 'debian/12/linux' })).toEqual({ name: 'p', kernel: 'debian/12/linux', initrd: [], cmdline: '', installer: {}, arch: {} })
  })

  it('lists every template with its field', () => {
    expect(profileTemplates(exampleProfile()).map(([f]) => f)).toEqual([
      'cmdline', 'installer.kickstart', 'installer.preseed', 'installer.cloudInit.userData', 'installer.cloudInit.metaData', 'installer.postInstall'
    ])
  })

  it('refuses bad names, artifact paths, unknown fields and architectures', () => {
    for (const bad of [
      { name: 'a/b', kernel: 'k' },
      { name: 'p', kernel: '../etc/passwd' },
      { name: 'p', kernel: '/abs' },
      { name: 'p', kernel: 'a/../b' },
      { name: 'p', kernel: 'k', initrd: ['ok', 'bad name'] },
      { name: 'p', kernel: 'k', extra: 1 },
      { name: 'p', kernel: 'k', installer: { autoyast: 'x' } },
      { name: 'p', kernel: 'k', installer: { cloudInit: { userData: 'x' } } },
      { name: 'p', kernel: 'k', arch: { sparc: { kernel: 'k' } } }
    ]) {
      const err = refusal(bad)
      expect(err.code, JSON.stringify(bad)).toBe('ERR_SCRIPTS_INVALID_PROFILE')
      expect(err.issues.length).toBeGreaterThan(0)
    }
  })

  it('says when an installer config is missing, and which ones need a phone-home token', () => {
    const p = parseProfile({ name: 'p', kernel: 'k', installer: { preseed: 'd-i x string y\n' } })
    expect(() => installerConfig('kickstart', renderInput({ profile: p }))).toThrow(expect.objectContaining({ code: 'ERR_SCRIPTS_NO_INSTALLER_CONFIG', kind: 'kickstart' }))
    expect(installerUsesPhoneHome({ profile: p }, 'preseed')).toBe(false)
    expect(installerUsesPhoneHome({ profile: exampleProfile() }, 'user-data')).toBe(true)
    expect(installerUsesPhoneHome({ profile: exampleProfile() }, 'meta-data')).toBe(false)
  })
})
