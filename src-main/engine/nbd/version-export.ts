// A version as an NBD export (serve-nbd): blocks are read from the store, decoded and
// verified against their digest as they are read; sparse blocks read as zeros and show as
// holes in base:allocation. With copy-on-write, writes go to an *overlay* of whole blocks in
// memory (the version itself is never changed); the overlay's blocks are the *changed
// extents* a `--save-as` backup reads, every other block coming from the version.
import { ObjectCodec } from '../codec/object';
import { EngineError } from '../errors';
import type { Extent } from '../io/port';
import { VersionState } from '../meta/schema';
import type { Repository } from '../repository';
import { objectKey } from '../store/port';
import { STATE_HOLE, STATE_ZERO } from './protocol';
import type { ExportBackend, StatusExtent } from './server';

const CACHE_BLOCKS = 16;

export class VersionExport implements ExportBackend {
  readonly size: number;
  readonly blockSize: number;
  /** blocks read from the store and verified */
  blocksVerified = 0;
  private readonly digests: Array<string | null>;
  private readonly overlay = new Map<number, Buffer>();
  private readonly cache = new Map<number, Buffer>();
  private readonly codec: ObjectCodec;
  private readonly zeros: Buffer;

  private constructor(
    private readonly repo: Repository,
    readonly uid: string,
    size: number,
    blockSize: number,
    digests: Array<string | null>,
    readonly writable: boolean,
  ) {
    this.size = size;
    this.blockSize = blockSize;
    this.digests = digests;
    this.codec = new ObjectCodec(blockSize, repo.workerSettings({ blockSize }).compression, repo.workerSettings({ blockSize }).keys);
    this.zeros = Buffer.alloc(blockSize);
  }

  static open(repo: Repository, uid: string, options: { cow?: boolean } = {}): VersionExport {
    const version = repo.meta.requireVersion(uid);
    if (version.state === VersionState.incomplete) throw new EngineError('INVALID_ARGUMENT', `version ${version.uid} is incomplete and cannot be served`);
    const blockCount = Math.ceil(version.size / version.block_size);
    const digests: Array<string | null> = new Array(blockCount).fill(null);
    let rows = 0;
    for (const block of repo.meta.iterateBlocks(version.id)) {
      digests[block.idx] = block.digest ? block.digest.toString('hex') : null;
      rows++;
    }
    if (rows !== blockCount) throw new EngineError('INTERNAL', `version ${version.uid} has ${rows} block rows, expected ${blockCount}`);
    return new VersionExport(repo, version.uid, version.size, version.block_size, digests, options.cow === true);
  }

  private blockLength(idx: number): number {
    return Math.min(this.blockSize, this.size - idx * this.blockSize);
  }

  /** The plaintext of block `idx` (overlay first), verified; read-only view. */
  private async block(idx: number): Promise<Buffer> {
    const changed = this.overlay.get(idx);
    if (changed) return changed;
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
      const block = await this.block(idx);
      const n = Math.min(block.length - within, length - done);
      block.copy(out, done, within, within + n);
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
      const flags = this.overlay.has(idx) || this.digests[idx] ? 0 : STATE_HOLE | STATE_ZERO;
      const n = blockEnd - at;
      const last = out[out.length - 1];
      if (last && last.flags === flags && last.length + n <= 0xffffffff) last.length += n;
      else out.push({ length: n, flags });
      at = blockEnd;
      if (out.length >= 1024) break;
    }
    return out;
  }

  private async patch(offset: number, length: number, fill: (block: Buffer, within: number, done: number, n: number) => void): Promise<void> {
    if (!this.writable) throw new EngineError('INVALID_ARGUMENT', `version ${this.uid} is served read-only`);
    let done = 0;
    while (done < length) {
      const at = offset + done;
      const idx = Math.floor(at / this.blockSize);
      const within = at - idx * this.blockSize;
      let block = this.overlay.get(idx);
      if (!block) {
        block = Buffer.from(await this.block(idx));
        this.overlay.set(idx, block);
        this.cache.delete(idx);
      }
      const n = Math.min(block.length - within, length - done);
      fill(block, within, done, n);
      done += n;
    }
  }

  write(offset: number, data: Buffer): Promise<void> {
    return this.patch(offset, data.length, (block, within, done, n) => data.copy(block, within, done, done + n));
  }

  writeZeros(offset: number, length: number): Promise<void> {
    return this.patch(offset, length, (block, within, _done, n) => block.fill(0, within, within + n));
  }

  async flush(): Promise<void> {}

  /** blocks written through the overlay, as byte extents (whole blocks), in order */
  changedExtents(): Extent[] {
    return [...this.overlay.keys()].sort((a, b) => a - b).map((idx) => ({ offset: idx * this.blockSize, length: this.blockLength(idx) }));
  }

  get changedBlocks(): number {
    return this.overlay.size;
  }
}
