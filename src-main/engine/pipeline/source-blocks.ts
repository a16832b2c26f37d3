// Blocks of a source for the workers: a source with a spec (a file or device) is opened by
// every worker and read there (the fast path, nothing crosses threads but offsets); any other
// source (a stream, later NBD) is read here on the main thread into a fresh buffer that is
// transferred, not copied, to the worker. In-flight blocks are bounded by the caller's slots.
import type { Source } from '../io/port';
import type { WorkerPool } from '../workers/pool';
import type { BlockInput } from '../workers/protocol';

export interface BlockRead {
  input: BlockInput;
  transfer?: ArrayBuffer[];
  /** bytes the block has: `length`, or fewer at the end of a stream */
  length: number;
}

export class SourceBlocks {
  private constructor(readonly source: Source, private readonly pool: WorkerPool, private readonly handle: number | null) {}

  static async open(source: Source, pool: WorkerPool): Promise<SourceBlocks> {
    const spec = source.spec?.();
    return new SourceBlocks(source, pool, spec ? await pool.openIo(spec, 'read') : null);
  }

  /** The block at `offset`; a sized source that ends early is an error, a stream's end is not. */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<BlockRead> {
    if (this.handle !== null) return { input: { io: this.handle, offset, length }, length };
    const buffer = Buffer.allocUnsafeSlow(length);
    const n = await this.source.read(offset, buffer, length, signal);
    return { input: { data: buffer.subarray(0, n) }, transfer: [buffer.buffer as ArrayBuffer], length: n };
  }

  async close(): Promise<void> {
    if (this.handle !== null) await this.pool.closeIo(this.handle);
  }
}
