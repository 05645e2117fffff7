/**
 * GRUB images with an embedded config, built by `grub-mkstandalone`: the config is
 * `(memdisk)/boot/grub/grub.cfg` and the modules it needs are in the image, so each file
 * boots on its own. Platforms and their outputs (relative to the job dir):
 *
 * | platform           | output                              | use                              |
 * |--------------------|-------------------------------------|----------------------------------|
 * | `i386-pc`          | `out/grub/i386-pc/core.img` (+ `boot.img`) | BIOS disks (boot.img in the MBR) |
 * | `i386-pc-eltorito` | `out/grub/i386-pc/eltorito.img`     | BIOS El Torito (ISO)             |
 * | `i386-pc-pxe`      | `out/grub/i386-pc/core.0`           | BIOS PXE                         |
 * | `x86_64-efi`       | `out/grub/x86_64-efi/grubx64.efi`   | UEFI (EFI/BOOT/BOOTX64.EFI)      |
 */
import { mkdir, writeFile } from 'node:fs/promises'
import { posix } from 'node:path'
import { z } from 'zod'
import { directoryHash, memoFingerprint, toolVersion } from '../toolchain.js'
import type { BuildStep, Recipe } from './types.js'

export const GRUB_PLATFORMS = ['i386-pc', 'i386-pc-eltorito', 'i386-pc-pxe', 'x86_64-efi'] as const
export type GrubPlatform = typeof GRUB_PLATFORMS[number]

export const DEFAULT_GRUB_CONFIG = [
  '# ctpf default GRUB config: pass your own as params.config',
  'set timeout=10',
  'set default=0',
  'menuentry "Exit to the firmware (next boot device)" { exit }',
  'menuentry "Reboot" { reboot }',
  'menuentry "Power off" { halt }',
  ''
].join('\n')

/** Output file of each platform, relative to the job dir. */
export const GRUB_OUTPUTS: Record<GrubPlatform, string> = {
  'i386-pc': 'out/grub/i386-pc/core.img',
  'i386-pc-eltorito': 'out/grub/i386-pc/eltorito.img',
  'i386-pc-pxe': 'out/grub/i386-pc/core.0',
  'x86_64-efi': 'out/grub/x86_64-efi/grubx64.efi'
}

const BASE_MODULES = ['normal', 'configfile', 'echo', 'test', 'true', 'sleep', 'ls', 'cat', 'search', 'search_fs_uuid',
  'search_fs_file', 'search_label', 'part_gpt', 'part_msdos', 'fat', 'iso9660', 'ext2', 'linux', 'chain', 'halt', 'reboot',
  'minicmd', 'loadenv', 'net', 'tftp', 'http', 'serial', 'terminal', 'all_video']
const PLATFORM_MODULES: Record<GrubPlatform, { install: string[], builtin: string[] }> = {
  'i386-pc': { install: ['biosdisk', 'linux16', 'pxe'], builtin: ['biosdisk'] },
  'i386-pc-eltorito': { install: ['biosdisk', 'linux16', 'pxe'], builtin: ['biosdisk', 'iso9660'] },
  'i386-pc-pxe': { install: ['biosdisk', 'linux16', 'pxe'], builtin: ['pxe'] },
  'x86_64-efi': { install: ['efinet', 'efifwsetup'], builtin: [] }
}

export const grubParams = z.object({
  /** The grub.cfg embedded in every image. */
  config: z.string().min(1).max(65_536).refine(c => !c.includes('\0'), 'no NUL bytes').default(DEFAULT_GRUB_CONFIG),
  platforms: z.array(z.enum(GRUB_PLATFORMS)).min(1).refine(a => new Set(a).size === a.length, 'platforms must not repeat').default(['i386-pc', 'x86_64-efi']),
  /** Extra modules put into the images. */
  modules: z.array(z.string().regex(/^[a-z0-9_]{1,64}$/)).max(128).default([])
}).strict()

export type GrubParams = z.output<typeof grubParams>

export const grubRecipe: Recipe<GrubParams> = {
  name: 'grub',
  version: '1',
  source: 'none',
  params: grubParams,
  requiredTools: () => ['grub-mkstandalone'],
  defaultTargets: () => [],
  defaultOutputs: (p) => p.platforms.flatMap(pl => pl === 'i386-pc' ? [GRUB_OUTPUTS[pl], 'out/grub/i386-pc/boot.img'] : [GRUB_OUTPUTS[pl]]),
  toolchain: async () => await memoFingerprint('grub', async () => {
    const [mkstandalone, pc, efi] = await Promise.all([toolVersion('grub-mkstandalone'), directoryHash('/usr/lib/grub/i386-pc'), directoryHash('/usr/lib/grub/x86_64-efi')])
    return { 'grub-mkstandalone': mkstandalone, 'lib/i386-pc': pc, 'lib/x86_64-efi': efi }
  }),
  prepare: async (ctx) => {
    await writeFile(posix.join(ctx.hostJobDir, '.ctpf/grub.cfg'), ctx.params.config)
    const cfg = posix.join(ctx.jobDir, '.ctpf/grub.cfg')
    const steps: BuildStep[] = []
    for (const platform of ctx.params.platforms) {
      const out = GRUB_OUTPUTS[platform]
      await mkdir(posix.join(ctx.hostJobDir, posix.dirname(out)), { recursive: true })
      const mods = PLATFORM_MODULES[platform]
      const install = [...new Set([...BASE_MODULES, ...mods.install, ...ctx.params.modules])]
      steps.push({
        argv: ['grub-mkstandalone', '-O', platform, '-o', posix.join(ctx.jobDir, out),
          `--install-modules=${install.join(' ')}`,
          ...(mods.builtin.length > 0 ? [`--modules=${mods.builtin.join(' ')}`] : []),
          '--locales=', '--themes=', '--fonts=',
          `boot/grub/grub.cfg=${cfg}`]
      })
      if (platform === 'i386-pc') steps.push({ argv: ['cp', '--', '/usr/lib/grub/i386-pc/boot.img', posix.join(ctx.jobDir, 'out/grub/i386-pc/boot.img')] })
    }
    return steps
  }
}
