/**
 * Output of one remote stream: split into lines as it arrives (UTF-8 decoded across chunk
 * boundaries; a line longer than `maxLineBytes` is handed on in pieces so memory stays
 * bounded) and a bounded tail kept for the result.
 */
import { StringDecoder } from 'node:string_decoder'

export class StreamOutput {
  private readonly decoder = new StringDecoder('utf8')
  private partial = ''
  private tailChunks: string[] = []
  private tailLength = 0
  /** Bytes received on this stream. */
  bytes = 0

  constructor (
    private readonly onLine: (line: string) => void,
    private readonly tailChars: number,
    private readonly maxLineChars: number
  ) {}

  push (chunk: Buffer): void {
    this.bytes += chunk.length
    this.take(this.decoder.write(chunk))
  }

  /** Flush a final line without a newline. */
  end (): void {
    this.take(this.decoder.end())
    if (this.partial.length > 0) {
      const line = this.partial
      this.partial = ''
      this.onLine(line)
    }
  }

  private take (text: string): void {
    if (text.length === 0) return
    this.keepTail(text)
    const all = this.partial + text
    let start = 0
    for (;;) {
      const nl = all.indexOf('\n', start)
      if (nl !== -1 && nl - start <= this.maxLineChars) {
        this.onLine(all.slice(start, nl))
        start = nl + 1
      } else if (all.length - start > this.maxLineChars) {
        this.onLine(all.slice(start, start + this.maxLineChars))
        start += this.maxLineChars
      } else {
        break
      }
    }
    this.partial = all.slice(start)
  }

  private keepTail (text: string): void {
    this.tailChunks.push(text)
    this.tailLength += text.length
    if (this.tailLength > this.tailChars * 2) {
      const joined = this.tailChunks.join('').slice(-this.tailChars)
      this.tailChunks = [joined]
      this.tailLength = joined.length
    }
  }

  /** The last `tailChars` characters received. */
  tail (): string {
    return this.tailChunks.join('').slice(-this.tailChars)
  }
}
