/**
 * Cuts a file source's chunk stream into TFTP blocks of exactly `blksize` bytes (the last one
 * shorter, possibly empty) and checks that the stream delivers exactly the announced size.
 *
 * `tryNext()` is synchronous so the per-ACK hot path needs no promise hop; `load()` pulls the
 * next chunk when the buffer runs short (the session keeps one load in flight as read-ahead).
 */
import { SourceError } from './errors.js'

export class BlockReader {
  private readonly iterator: AsyncIterator<Uint8Array>
  private pending: Uint8Array[] = []
  private pendingBytes = 0
  private delivered = 0
  private ended = false

  constructor (stream: AsyncIterable<Uint8Array>, private readonly size: number, private readonly blksize: number) {
    this.iterator = stream[Symbol.asyncIterator]()
  }

  /** Bytes buffered and not yet handed out. */
  get buffered (): number { return this.pendingBytes }

  /** True once the stream has ended (no more `load()` needed). */
  get exhausted (): boolean { return this.ended }

  /** The next block if it can be cut from what is buffered; a short block is the last one. */
  tryNext (): Uint8Array | undefined {
    if (this.pendingBytes < this.blksize && !this.ended) return undefined
    const block = this.take(Math.min(this.blksize, this.pendingBytes))
    this.delivered += block.length
    if (this.delivered > this.size || (block.length < this.blksize && this.delivered !== this.size)) {
      throw new SourceError(`file source delivered ${this.delivered} bytes, announced ${this.size}`)
    }
    return block
  }

  /** Pull one more chunk from the stream (or notice its end). */
  async load (): Promise<void> {
    if (this.ended) return
    let step: IteratorResult<Uint8Array>
    try {
      step = await this.iterator.next()
    } catch (err) {
      throw new SourceError('reading the file failed', { cause: err })
    }
    if (step.done === true) {
      this.ended = true
    } else if (step.value.length > 0) {
      this.pending.push(step.value)
      this.pendingBytes += step.value.length
      if (this.delivered + this.pendingBytes > this.size) throw new SourceError(`file source delivered more than the announced ${this.size} bytes`)
    }
  }

  private take (n: number): Uint8Array {
    const first = this.pending[0]
    if (first !== undefined && first.length >= n) {
      const block = first.subarray(0, n)
      if (first.length === n) this.pending.shift()
      else this.pending[0] = first.subarray(n)
      this.pendingBytes -= n
      return block
    }
    const block = new Uint8Array(n)
    let at = 0
    while (at < n) {
      const chunk = this.pending[0] as Uint8Array
      const part = Math.min(chunk.length, n - at)
      block.set(chunk.subarray(0, part), at)
      at += part
      if (part === chunk.length) this.pending.shift()
      else this.pending[0] = chunk.subarray(part)
    }
    this.pendingBytes -= n
    return block
  }

  /** Stop reading; lets a generator run its cleanup. */
  async close (): Promise<void> {
    this.ended = true
    this.pending = []
    await this.iterator.return?.()
  }
}
