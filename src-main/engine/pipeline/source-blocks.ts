// Blocks of a source for the workers: a source with a spec (a file or device) is opened by
// every worker and read there (the fast path, nothing crosses threads but offsets); any other
// source (a stream, NBD) is read here on the main thread into a block buffer of shared memory
// that the worker reads in place (nothing is copied). A block's buffer is used again once the
// caller *releases* the block (its worker is done with the bytes): a fresh 4 MiB buffer costs a
// page fault per 4 KiB when it is filled, about as much CPU as hashing the block. In-flight
// blocks are bounded by the caller's slots.
import type { Source } from '../io/port';
import type { WorkerPool } from '../workers/pool';
import type { BlockInput } from '../workers/protocol';

export interface BlockRead {
  input: BlockInput;
  transfer?: ArrayBuffer[];
  /** bytes the block has: `length`, or fewer at the end of a stream */
  length: number;
  /**
   * The block's bytes are no longer needed (the worker that hashed or stored them answered):
   * its buffer may hold another block. A block that is never released is left to the GC.
   */
  release(): void;
}

/** block buffers kept for reuse at most (the blocks in flight are bounded by the slots anyway) */
const SPARE_BUFFERS = 16;

/** blocks read ahead of the one asked for, for a source read on the main thread (8 MiB at 4 MiB blocks) */
const READ_AHEAD = 2;

export class SourceBlocks {
  /** the blocks the caller will read, in order, and where each is in that order (by offset) */
  private plan: Array<{ offset: number; length: number }> = [];
  private planAt = new Map<number, number>();
  private ahead = new Map<number, Promise<BlockRead>>();
  private aheadSignal: AbortSignal | undefined;
  /** the furthest block of the plan asked for so far */
  private reached = -1;
  /** released block buffers (shared memory), filled again by later reads */
  private spare: Buffer[] = [];

  private constructor(readonly source: Source, private readonly pool: WorkerPool, private readonly handle: number | null) {}

  static async open(source: Source, pool: WorkerPool): Promise<SourceBlocks> {
    const spec = source.spec?.();
    return new SourceBlocks(source, pool, spec ? await pool.openIo(spec, 'read') : null);
  }

  /**
   * The blocks the caller reads next, in this order: a source read here (NBD, qemu-nbd) has the
   * next READ_AHEAD of them read while the caller waits for a slot and the workers hash, so the
   * server's latency overlaps the work (a bitmap incremental reads scattered blocks). Sources
   * with a spec (the workers read them) and streams are not read ahead.
   */
  readAhead(blocks: Array<{ offset: number; length: number }>, signal?: AbortSignal): void {
    if (this.handle !== null || this.source.sequential) return;
    this.plan = blocks;
    this.planAt = new Map(blocks.map((block, i) => [block.offset, i]));
    this.aheadSignal = signal;
    // the first blocks are read at once, while the caller prepares (the base's rows, the version)
    for (let next = 0; next <= READ_AHEAD && next < blocks.length; next++) this.startAhead(blocks[next]);
  }

  private startAhead(block: { offset: number; length: number }): void {
    if (this.ahead.has(block.offset)) return;
    const reading = this.readHere(block.offset, block.length, this.aheadSignal);
    reading.catch(() => undefined); // its error reaches the caller when it asks for the block
    this.ahead.set(block.offset, reading);
  }

  /** The block at `offset`; a sized source that ends early is an error, a stream's end is not. */
  async read(offset: number, length: number, signal?: AbortSignal): Promise<BlockRead> {
    if (this.handle !== null) return { input: { io: this.handle, offset, length }, length, release: () => undefined };
    const at = this.planAt.get(offset);
    // a block outside the plan, or one read again later (a sample at the end): no read ahead
    if (at === undefined || at <= this.reached) return this.readHere(offset, length, signal);
    this.reached = at;
    const early = this.ahead.get(offset);
    this.ahead.delete(offset);
    // this block is asked first when it was not read ahead (the server answers in order), then the next ones
    const reading = early ?? this.readHere(offset, length, signal);
    for (let next = at + 1; next <= at + READ_AHEAD && next < this.plan.length; next++) this.startAhead(this.plan[next]);
    const read = await reading;
    if (!early || read.length <= length) return read;
    return this.readHere(offset, length, signal);
  }

  private async readHere(offset: number, length: number, signal?: AbortSignal): Promise<BlockRead> {
    const at = this.spare.findIndex((spare) => spare.length >= length);
    const buffer = at >= 0 ? this.spare.splice(at, 1)[0] : Buffer.from(new SharedArrayBuffer(length));
    // (a failed read's buffer is not used again: a canceled NBD read may still be landing in it)
    const n = await this.source.read(offset, buffer, length, signal);
    let released = false;
    // a view of shared memory is posted as it is: the worker reads the same pages
    return { input: { data: buffer.subarray(0, n) }, length: n, release: () => { if (!released) { released = true; this.keep(buffer); } } };
  }

  private keep(buffer: Buffer): void {
    if (this.spare.length < SPARE_BUFFERS) this.spare.push(buffer);
  }

  async close(): Promise<void> {
    // reads ahead that nobody took (the backup failed or was canceled) end before the source closes
    await Promise.allSettled(this.ahead.values());
    this.ahead.clear();
    this.spare = [];
    if (this.handle !== null) await this.pool.closeIo(this.handle);
  }
}
