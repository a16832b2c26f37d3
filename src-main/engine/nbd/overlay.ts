// The copy-on-write overlay of a served version (serve-nbd --cow): the *changed blocks* live in
// a sparse temporary file, each at its own offset in the disk (block i at i * blockSize), so
// memory does not grow with what a client writes; an in-memory *block map* says which blocks
// are changed and which of them are all zeros (those take no room in the file). The file sits
// in a private folder (mode 0700) under the temporary directory and is removed by close().
import { mkdtemp, open, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EngineError } from '../errors';

/** a changed block: all zeros (nothing in the file) or bytes the file holds */
export type OverlayState = 'zero' | 'data';

export class Overlay {
  private readonly map = new Map<number, OverlayState>();
  /** per block, the tail of the writes queued on it (a block is patched by one write at a time) */
  private readonly busy = new Map<number, Promise<void>>();
  private closed = false;

  private constructor(
    readonly path: string,
    private readonly folder: string,
    private readonly file: FileHandle,
    private readonly blockSize: number,
  ) {}

  /** A new, empty overlay in a fresh private folder under `dir` (default: the temporary directory). */
  static async create(blockSize: number, dir = tmpdir()): Promise<Overlay> {
    let folder: string;
    try {
      folder = await mkdtemp(join(dir, 'blockvault-overlay-'));
    } catch (error) {
      throw new EngineError('IO_ERROR', `cannot create the overlay's folder in ${dir}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { cause: error });
    }
    const path = join(folder, 'overlay.img');
    try {
      return new Overlay(path, folder, await open(path, 'wx+', 0o600), blockSize);
    } catch (error) {
      await rm(folder, { recursive: true, force: true });
      throw new EngineError('IO_ERROR', `cannot create the overlay file ${path}: ${(error as Error).message}`, { cause: error });
    }
  }

  get size(): number {
    return this.map.size;
  }

  state(idx: number): OverlayState | undefined {
    return this.map.get(idx);
  }

  /** changed block indexes, ascending */
  blocks(): number[] {
    return [...this.map.keys()].sort((a, b) => a - b);
  }

  /** `length` bytes at `within` of the changed block `idx`, or null when the block is not changed. */
  async read(idx: number, within: number, length: number): Promise<Buffer | null> {
    const state = this.map.get(idx);
    if (state === undefined) return null;
    const out = Buffer.alloc(length);
    if (state === 'data') await this.io('read', out, idx * this.blockSize + within);
    return out;
  }

  /**
   * Runs `change` on block `idx` alone (writes to one block never interleave). `change` gets
   * the block's state (undefined: not changed yet) and calls back to store it.
   */
  async update(idx: number, change: (state: OverlayState | undefined, store: Store) => Promise<void>): Promise<void> {
    const before = this.busy.get(idx) ?? Promise.resolve();
    let release!: () => void;
    const mine = before.then(() => new Promise<void>((resolve) => { release = resolve; }));
    this.busy.set(idx, mine);
    await before;
    try {
      if (this.closed) throw new EngineError('INVALID_ARGUMENT', 'the overlay is closed');
      const store: Store = {
        zero: async () => { this.map.set(idx, 'zero'); },
        whole: async (data: Buffer) => {
          await this.io('write', data, idx * this.blockSize);
          this.map.set(idx, 'data');
        },
        patch: async (within: number, data: Buffer) => {
          // A zero block gets its zeros in the file first (the file may hold older bytes there).
          if (this.map.get(idx) === 'zero') {
            await this.io('write', Buffer.alloc(this.blockSize), idx * this.blockSize);
            this.map.set(idx, 'data');
          }
          if (this.map.get(idx) !== 'data') throw new EngineError('INTERNAL', `overlay block ${idx} patched before it was stored`);
          await this.io('write', data, idx * this.blockSize + within);
        },
      };
      await change(this.map.get(idx), store);
    } finally {
      release();
      if (this.busy.get(idx) === mine) this.busy.delete(idx);
    }
  }

  private async io(kind: 'read' | 'write', buffer: Buffer, position: number): Promise<void> {
    let done = 0;
    try {
      while (done < buffer.length) {
        const n = kind === 'read'
          ? (await this.file.read(buffer, done, buffer.length - done, position + done)).bytesRead
          : (await this.file.write(buffer, done, buffer.length - done, position + done)).bytesWritten;
        if (n === 0) {
          if (kind === 'read') { buffer.fill(0, done); return; } // past the end of the file: never written, a hole
          throw new Error('wrote nothing');
        }
        done += n;
      }
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      throw new EngineError(code === 'ENOSPC' ? 'NO_SPACE' : 'IO_ERROR', `overlay file ${this.path}: ${kind} of ${buffer.length} bytes at ${position}: ${code ?? (error as Error).message}`, { cause: error });
    }
  }

  /** Resolves when no write is in progress. */
  async settled(): Promise<void> {
    while (this.busy.size > 0) await Promise.all([...this.busy.values()]);
  }

  /** Removes the file and its folder; the overlay cannot be used afterwards. */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.settled();
    await this.file.close().catch(() => undefined);
    await rm(this.folder, { recursive: true, force: true });
    this.map.clear();
  }
}

/** How an update stores its block: all zeros, whole new bytes, or bytes within a stored block. */
export interface Store {
  zero(): Promise<void>;
  whole(data: Buffer): Promise<void>;
  patch(within: number, data: Buffer): Promise<void>;
}
