/**
 * Key pairs, fingerprints and shell quoting, checked against OpenSSH's ssh-keygen and a real
 * POSIX shell (dash and bash parse the quoted line back into the same argv).
 */
import { execFileSync } from 'node:child_process'
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { afterAll, describe, expect, it } from 'vitest'
import {
  buildCommandLine, fingerprint, generateKeyPair, InvalidKeyError, parseHostKeyPin, quoteArgv, shellQuote, SshConfigError
} from '../../../../roles/distributor/ssh/index.js'
import { NASTY } from './nasty.js'

const dir = mkdtempSync(join(tmpdir(), 'ctpf-ssh-unit-'))
afterAll(() => rmSync(dir, { recursive: true, force: true }))


describe('shellQuote', () => {
  it('wraps in single quotes and escapes single quotes as \'\\\'\'', () => {
    expect(shellQuote('abc')).toBe("'abc'")
    expect(shellQuote('')).toBe("''")
    expect(shellQuote("it's")).toBe("'it'\\''s'")
    expect(quoteArgv(['a b', 'c'])).toBe("'a b' 'c'")
  })

  it('refuses NUL and empty argv', () => {
    expect(() => shellQuote('a\0b')).toThrow(SshConfigError)
    expect(() => quoteArgv([])).toThrow(SshConfigError)
  })

  for (const shell of ['sh', 'bash']) {
    it(`${shell} parses the quoted line back into the same arguments`, () => {
      const line = buildCommandLine(['printf', '%s\\0', ...NASTY])
      const out = execFileSync(shell, ['-c', line])
      expect(out.toString('utf8').split('\0').slice(0, -1)).toEqual(NASTY)
    })
  }

  it('exports variables with quoted values; refuses bad names', () => {
    const line = buildCommandLine(['sh', '-c', 'printf "%s|%s" "$A" "$B_2"'], { A: "x'y $(z)", B_2: 'line\nbreak' })
    expect(line.startsWith('export A=')).toBe(true)
    expect(execFileSync('bash', ['-c', line]).toString()).toBe("x'y $(z)|line\nbreak")
    expect(() => buildCommandLine(['true'], { 'A-B': 'x' })).toThrow(SshConfigError)
    expect(() => buildCommandLine(['true'], { 'A;B': 'x' })).toThrow(SshConfigError)
  })
})

describe('keys', () => {
  it('generateKeyPair makes an ed25519 pair that ssh-keygen reads, with the same fingerprint', () => {
    const pair = generateKeyPair({ comment: 'unit' })
    expect(pair.publicKey).toMatch(/^ssh-ed25519 AAAA[A-Za-z0-9+/=]+ unit$/)
    expect(pair.privateKey.toString()).toMatch(/^-----BEGIN OPENSSH PRIVATE KEY-----/)
    const keyFile = join(dir, 'id')
    writeFileSync(keyFile, pair.privateKey, { mode: 0o600 })
    // ssh-keygen derives the public key from our private key: it must be ours
    const derived = execFileSync('ssh-keygen', ['-y', '-f', keyFile]).toString().trim()
    expect(derived.split(' ').slice(0, 2)).toEqual(pair.publicKey.split(' ').slice(0, 2))
    const printed = execFileSync('ssh-keygen', ['-l', '-f', keyFile]).toString().split(' ')[1]
    expect(pair.fingerprint).toBe(printed)
    expect(fingerprint(pair.publicKey)).toBe(printed)
  })

  it('fingerprints keys made by ssh-keygen (ed25519, rsa, ecdsa) as ssh-keygen does', () => {
    for (const [type, bits] of [['ed25519', []], ['rsa', ['-b', '2048']], ['ecdsa', ['-b', '256']]] as const) {
      const f = join(dir, `k-${type}`)
      execFileSync('ssh-keygen', ['-q', '-t', type, ...bits, '-N', '', '-f', f])
      const line = readFileSync(`${f}.pub`, 'utf8')
      const printed = execFileSync('ssh-keygen', ['-l', '-f', `${f}.pub`]).toString().split(' ')[1]
      expect(fingerprint(line)).toBe(printed)
      const pin = parseHostKeyPin(line)
      expect(pin.fingerprint).toBe(printed)
      expect(pin.algorithms?.length).toBeGreaterThan(0)
      expect(parseHostKeyPin(printed as string).fingerprint).toBe(printed)
    }
  })

  it('rejects malformed keys and fingerprints with InvalidKeyError', () => {
    for (const bad of ['', 'ssh-ed25519', 'ssh-ed25519 !!!notbase64', 'SHA256:short', 'MD5:aa:bb']) {
      expect(() => parseHostKeyPin(bad)).toThrow(InvalidKeyError)
    }
    expect(() => parseHostKeyPin(generateKeyPair().privateKey.toString())).toThrow(InvalidKeyError)
  })
})
