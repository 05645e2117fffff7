import { execFileSync } from 'node:child_process'
import { mkdir, symlink } from 'node:fs/promises'
import { join } from 'node:path'
import { afterAll, beforeAll, describe, expect, it } from 'vitest'
import { DirectoryFileSource, normalizeRequestPath } from '../../../roles/distributor/tftp/index.js'
import { makeTree, type Tree } from './tftp-helpers.js'

describe('request name normalisation', () => {
  it.each([
    ['pxelinux.0', 'pxelinux.0'],
    ['/pxelinux.0', 'pxelinux.0'],
    ['//boot///grub/./grub.cfg', 'boot/grub/grub.cfg'],
    ['boot\\x64\\wdsnbp.com', 'boot/x64/wdsnbp.com'],
    ['./a/./b', 'a/b'],
    ['a..b/c...', 'a..b/c...']
  ])('%s → %s', (input, output) => {
    expect(normalizeRequestPath(input)).toBe(output)
  })

  it.each(['..', '../x', 'a/../b', 'a/b/..', '/..', '\\..\\x', 'a/..\\..\\b', '', '/', './', 'a\0b', 'a\nb', 'a\x7fb'])(
    'refuses %j', (input) => {
      expect(() => normalizeRequestPath(input)).toThrow(expect.objectContaining({ code: 'ERR_TFTP_PATH_TRAVERSAL' }))
    })
})

describe('directory file source (path jail)', () => {
  let tree: Tree
  let source: DirectoryFileSource

  beforeAll(async () => {
    tree = await makeTree()
    source = new DirectoryFileSource(tree.root)
    await symlink('/etc', join(tree.root, 'etc-link'))
    await mkdir(join(tree.root, 'deep', 'er'), { recursive: true })
    await symlink('../../sub', join(tree.root, 'deep', 'er', 'up'))
    execFileSync('mkfifo', [join(tree.root, 'fifo')])
  })
  afterAll(async () => { await tree.cleanup() })

  async function read (name: string): Promise<Buffer | undefined> {
    const f = await source.open(name)
    if (f === undefined) return undefined
    const chunks: Uint8Array[] = []
    try {
      for await (const c of f.stream) chunks.push(c)
    } finally { await f.close() }
    const data = Buffer.concat(chunks)
    expect(data.length).toBe(f.size)
    return data
  }

  it('serves regular files, and symlinks whose target stays inside the root', async () => {
    expect(await read('small.bin')).toEqual(tree.files['small.bin'])
    expect(await read('inside-link.bin')).toEqual(tree.files['small.bin'])
    expect(await read('deep/er/up/nested.bin')).toEqual(tree.files['sub/nested.bin'])
  })

  it('answers undefined for names that do not exist', async () => {
    expect(await source.open('nope')).toBeUndefined()
    expect(await source.open('sub/nope/deeper')).toBeUndefined()
    expect(await source.open('small.bin/child')).toBeUndefined()
  })

  it.each([
    ['escape.txt', 'ERR_TFTP_PATH_OUTSIDE_ROOT'],
    ['etc-link/passwd', 'ERR_TFTP_PATH_OUTSIDE_ROOT'],
    ['../secret.txt', 'ERR_TFTP_PATH_TRAVERSAL'],
    ['adir', 'ERR_TFTP_NOT_READABLE'],
    ['fifo', 'ERR_TFTP_NOT_READABLE']
  ])('refuses %s with %s', async (name, code) => {
    await expect(source.open(name)).rejects.toMatchObject({ code })
  })

  it('releases the file when closed before reading', async () => {
    const f = await source.open('small.bin')
    await f?.close()
    await f?.close() // twice is fine
  })
})
