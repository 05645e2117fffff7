/** The recipes this builder ships, by name. */
import { grubRecipe } from './grub.js'
import { ipxeRecipe } from './ipxe.js'
import { makeRecipe } from './make.js'
import { syslinuxRecipe } from './syslinux.js'
import type { Recipe } from './types.js'

export const RECIPE_NAMES = ['make', 'ipxe', 'grub', 'syslinux'] as const
export type RecipeName = typeof RECIPE_NAMES[number]

export const RECIPES: Readonly<Record<RecipeName, Recipe<any>>> = Object.freeze({
  make: makeRecipe,
  ipxe: ipxeRecipe,
  grub: grubRecipe,
  syslinux: syslinuxRecipe
})

export type { Recipe, RecipeContext, BuildStep } from './types.js'
export { makeRecipe, makeArgv, makeParams } from './make.js'
export type { MakeParams } from './make.js'
export { ipxeRecipe, ipxeParams, ipxeSteps, ipxeTargetArch, IPXE_DEFAULT_TARGETS, IPXE_EMBED_PATH } from './ipxe.js'
export type { IpxeParams, IpxeArch } from './ipxe.js'
export { grubRecipe, grubParams, GRUB_OUTPUTS, GRUB_PLATFORMS, DEFAULT_GRUB_CONFIG } from './grub.js'
export type { GrubParams, GrubPlatform } from './grub.js'
export { syslinuxRecipe, syslinuxParams, SYSLINUX_FILES, SYSLINUX_OUT_DIR, findSyslinuxFile } from './syslinux.js'
export type { SyslinuxParams } from './syslinux.js'
