/** Progress events of long artifact operations, delivered through `onProgress`. */
export type ArtifactProgress =
  | { type: 'add:progress', bytes: number, blocks: number }
  | { type: 'car:progress', bytes: number, blocks: number }
  | { type: 'fetch:progress', root: string, bytes: number, blocks: number, heldBlocks: number, totalBytes?: number, providers: number }
  | { type: 'provider:found', root: string, peer: string }
  | { type: 'provider:dropped', root: string, peer: string, reason: 'invalid-block' | 'failed' | 'protocol', cid?: string, detail?: string }

export interface OperationOptions {
  signal?: AbortSignal
  onProgress?: (event: ArtifactProgress) => void
}

export function report (options: OperationOptions | undefined, event: ArtifactProgress): void {
  try { options?.onProgress?.(event) } catch { /* a listener's failure is its own */ }
}
