// A version as an NBD export (serve-nbd): blocks are read from the store, decoded and
// verified against their digest as they are read; sparse blocks read as zeros and show as
// holes in base:allocation. With copy-on-write, writes go to an *overlay* of whole blocks in a
// sparse temporary file (overlay.ts; the version itself is never changed); the overlay's
// blocks are the *changed extents* a `--save-as` backup reads, every other block coming from
// the version.
import { ObjectCodec } from '../codec/object';
import { EngineError } from '../errors';
import type { Extent } from '../io/port';
import { VersionState } from '../meta/schema';
import type { Repository } from '../repository';
import { objectKey } from '../store/port';
import { Overlay } from './overlay';
import { STATE_HOLE, STATE_ZERO } from './protocol';
import type { ExportBackend, StatusExtent } from './server';

const CACHE_BLOCKS = 16;

export class VersionExport implements ExportBackend {
  readonly size: number;
  readonly blockSize: number;
  /** blocks read from the store and verified */
  blocksVerified = 0;
  private readonly digests: Array<string | null>;
  private readonly cache = new Map<number, Buffer>();
  private readonly codec: ObjectCodec;
  private readonly zeros: Buffer;

  private constructor(
    private readonly repo: Repository,
    readonly uid: string,
    size: number,
    blockSize: number,
    digests: Array<string | null>,
    /** the copy-on-write overlay, or null when served read-only */
    private readonly overlay: Overlay | null,
    /** the version's read lock, released by close() */
    private readonly lock: string,
  ) {
    this.size = size;
    this.blockSize = blockSize;
    this.digests = digests;
    this.codec = new ObjectCodec(blockSize, repo.workerSettings({ blockSize }).compression, repo.workerSettings({ blockSize }).keys);
    this.zeros = Buffer.alloc(blockSize);
  }

  /** `cow`: writes go to an overlay file in a private folder under `overlayDir` (default: the temporary directory). */
  static async open(repo: Repository, uid: string, options: { cow?: boolean; overlayDir?: string } = {}): Promise<VersionExport> {
    const version = repo.meta.requireVersion(uid);
    if (version.state === VersionState.incomplete) throw new EngineError('INVALID_ARGUMENT', `version ${version.uid} is incomplete and cannot be served`);
    // While served, the version is not removed (rm refuses, naming the serving).
    const lock = repo.meta.acquireVersionReadLock(version.uid, 'serving over NBD');
    try {
      // Intact rows only (a dangling row would otherwise be served as zeros), of the version
      // still there now that it is locked.
      const digests = repo.meta.intactBlocks(version).rows.map((block) => (block.digest ? block.digest.toString('hex') : null));
      const overlay = options.cow ? await Overlay.create(version.block_size, options.overlayDir) : null;
      return new VersionExport(repo, version.uid, version.size, version.block_size, digests, overlay, lock);
    } catch (error) {
      repo.meta.releaseLock(lock);
      throw error;
    }
  }

  get writable(): boolean {
    return this.overlay !== null;
  }

  /** the overlay file while served with copy-on-write, else null */
  get overlayPath(): string | null {
    return this.overlay?.path ?? null;
  }

  private blockLength(idx: number): number {
    return Math.min(this.blockSize, this.size - idx * this.blockSize);
  }

  /** The plaintext of the version's block `idx`, verified; read-only view. */
  private async block(idx: number): Promise<Buffer> {
    const digest = this.digests[idx];
    const length = this.blockLength(idx);
    if (!digest) return this.zeros.subarray(0, length);
    const cached = this.cache.get(idx);
    if (cached) return cached;
    let object: Buffer;
    try {
      object = await this.repo.store.get(objectKey(digest));
    } catch (error) {
      const code = error instanceof EngineError ? error.code : 'IO_ERROR';
      throw new EngineError(code, `version ${this.uid} block ${idx}: object ${digest}: ${(error as Error).message}`, { cause: error });
    }
    let plaintext: Buffer;
    try {
      plaintext = Buffer.from(this.codec.decode(object, Buffer.alloc(this.blockSize)));
    } catch (error) {
      throw new EngineError('OBJECT_CORRUPT', `version ${this.uid} block ${idx}: object ${digest} cannot be decoded: ${(error as Error).message}`);
    }
    if (plaintext.length !== length || this.codec.name(plaintext) !== digest) {
      throw new EngineError('OBJECT_CORRUPT', `version ${this.uid} block ${idx}: object ${digest} does not match its digest`);
    }
    this.blocksVerified++;
    this.cache.set(idx, plaintext);
    if (this.cache.size > CACHE_BLOCKS) this.cache.delete(this.cache.keys().next().value!);
    return plaintext;
  }

  async read(offset: number, length: number): Promise<Buffer> {
    const out = Buffer.alloc(length);
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const idx = Math.floor(at / this.blockSize);
      const within = at - idx * this.blockSize;
      const n = Math.min(this.blockLength(idx) - within, length - done);
      const changed = await this.overlay?.read(idx, within, n);
      if (changed) changed.copy(out, done);
      else (await this.block(idx)).copy(out, done, within, within + n);
      done += n;
    }
    return out;
  }

  async allocation(offset: number, length: number): Promise<StatusExtent[]> {
    const out: StatusExtent[] = [];
    const end = Math.min(this.size, offset + length);
    for (let at = offset; at < end;) {
      const idx = Math.floor(at / this.blockSize);
      const blockEnd = Math.min(this.size, (idx + 1) * this.blockSize);
      const changed = this.overlay?.state(idx);
      const flags = changed === 'data' || (changed === undefined && this.digests[idx]) ? 0 : STATE_HOLE | STATE_ZERO;
      const n = blockEnd - at;
      const last = out[out.length - 1];
      if (last && last.flags === flags && last.length + n <= 0xffffffff) last.length += n;
      else out.push({ length: n, flags });
      at = blockEnd;
      if (out.length >= 1024) break;
    }
    return out;
  }

  /** Writes `data` (null: zeros) over `length` bytes at `offset` into the overlay, block by block. */
  private async patch(offset: number, length: number, data: Buffer | null): Promise<void> {
    const overlay = this.overlay;
    if (!overlay) throw new EngineError('INVALID_ARGUMENT', `version ${this.uid} is served read-only`);
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const idx = Math.floor(at / this.blockSize);
      const within = at - idx * this.blockSize;
      const blockLength = this.blockLength(idx);
      const n = Math.min(blockLength - within, length - done);
      const piece = data?.subarray(done, done + n) ?? null;
      const zeros = piece === null || piece.equals(this.zeros.subarray(0, n));
      await overlay.update(idx, async (state, store) => {
        // zeros over a block that reads as zeros change nothing
        if (zeros && (state === 'zero' || (state === undefined && !this.digests[idx]))) return;
        if (within === 0 && n === blockLength) return zeros ? store.zero() : store.whole(piece!);
        if (state === undefined) await store.whole(Buffer.from(await this.block(idx)));
        await store.patch(within, piece ?? this.zeros.subarray(0, n));
      });
      done += n;
    }
  }

  write(offset: number, data: Buffer): Promise<void> {
    return this.patch(offset, data.length, data);
  }

  writeZeros(offset: number, length: number): Promise<void> {
    return this.patch(offset, length, null);
  }

  async flush(): Promise<void> {}

  /** blocks written through the overlay, as byte extents (whole blocks), in order */
  changedExtents(): Extent[] {
    return (this.overlay?.blocks() ?? []).map((idx) => ({ offset: idx * this.blockSize, length: this.blockLength(idx) }));
  }

  get changedBlocks(): number {
    return this.overlay?.size ?? 0;
  }

  /** Resolves when no write to the overlay is in progress. */
  async settled(): Promise<void> {
    await this.overlay?.settled();
  }

  /** Removes the overlay (its changes are gone) and releases the version (rm may remove it again); reads of the version still work. */
  async close(): Promise<void> {
    try {
      await this.overlay?.close();
    } finally {
      // (a repository closed first has no connection; its lock row goes stale with this process)
      if (this.repo.meta.db.open) this.repo.meta.releaseLock(this.lock);
    }
  }
}
