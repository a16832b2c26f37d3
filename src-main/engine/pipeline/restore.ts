// Restore: version blocks -> (read object, workers: decompress, verify digest) -> target. With
// a file or device target this thread reads each object (from a folder, or by GET from S3)
// into memory shared with the workers and writes each block once a worker verified it; any
// other target (stdout, later NBD) gets the verified bytes back here and writes them in
// order. A new file is written sparse under a temporary name and renamed into place by
// Target.finish only after the last block is verified and flushed; an existing file or device
// (only with force) gets zeros too unless `sparse` says it is already zeroed, and a failure
// leaves it marked incomplete in the error (job history, stderr).
import type { RestoreResult } from '../../../src-shared/model';
import { EngineError, throwIfAborted, toEngineError } from '../errors';
import { openTarget, type Target } from '../io/index';
import { blockListDamaged, hashingRows } from '../meta/blocklist';
import { lockPath } from './path-locks';
import type { BlockRow, VersionRow } from '../meta/database';
import { VersionState } from '../meta/schema';
import type { Repository } from '../repository';
import { objectKey } from '../store/index';
import { defaultWorkerCount, WorkerPool } from '../workers/pool';
import { RunRetries } from './retries';
import { maxStoredObjectSize } from '../codec/object';
import { BLOCKS_IN_FLIGHT_PER_WORKER, keepBuffers, takeBuffers } from './block-buffers';
import { runBounded } from './bounded';
import { ProgressTracker, type RunOptions } from './progress';

export interface RestoreOptions extends RunOptions {
  uid: string;
  target: string;
  force?: boolean;
  /** the existing target is known to be zeroed: skip writing zero blocks */
  sparse?: boolean;
  workers?: number;
}

interface Counts {
  verified: number;
  written: number;
  sparse: number;
}

export async function restore(repo: Repository, options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const meta = repo.meta;
  const found = meta.requireVersion(options.uid);
  // The version's lock before anything is read: from now on an rm is refused.
  const lockName = `restore:${found.uid}:${process.pid}:${started}`;
  meta.acquireLock(lockName, 'shared', `restore of ${found.uid} to ${options.target}`);
  try {
    // Removed between the lookup and the lock: its rows are gone, which is not damage.
    const version = meta.getVersion(found.uid);
    if (version?.id !== found.id) throw new EngineError('NOT_FOUND', `version ${found.uid} not found: it was removed as the restore began`);
    return await restoreLocked(repo, version, options, started);
  } finally {
    meta.releaseLock(lockName);
  }
}

async function restoreLocked(repo: Repository, version: VersionRow, options: RestoreOptions, started: number): Promise<RestoreResult> {
  const meta = repo.meta;
  if (version.state === VersionState.incomplete) {
    throw new EngineError('INVALID_ARGUMENT', `version ${version.uid} is incomplete (its backup did not finish) and cannot be restored`);
  }
  const blockCount = Math.ceil(version.size / version.block_size);
  const rows = meta.blockCount(version.id);
  if (rows !== blockCount) {
    throw new EngineError('METADATA_DAMAGED', `metadata damaged: version ${version.uid} has ${rows} block rows, expected ${blockCount}`);
  }
  // Checked before the target is touched, and again over the rows the restore itself reads.
  const before = meta.computeBlockListDigest(version.id);
  if (!before || (version.block_list_digest && !before.equals(version.block_list_digest))) throw blockListDamaged(version.uid);

  // Before the target is opened (with force, opening may already change it).
  const releasePath = lockPath(meta, options.target, 'write', `restore of ${version.uid} to ${options.target}`);
  let target: Target;
  try {
    target = await openTarget(options.target, { size: version.size, force: options.force, signal: options.signal });
  } catch (error) {
    releasePath();
    throw error;
  }
  // A stream gets every byte; a zeroed target (a new sparse file) needs no zero blocks.
  const writeZeros = target.sequential || (!target.zeroed && !options.sparse);
  const tracker = new ProgressTracker('restore', options.onProgress, options.progressIntervalMs);
  const c = tracker.counters;
  c.bytesTotal = version.size;
  c.blocksTotal = blockCount;
  let pool: WorkerPool | undefined;
  const retries = new RunRetries(repo.store, options.retries);
  const counts: Counts = { verified: 0, written: 0, sparse: 0 };
  try {
    // One worker per core decompresses and verifies; reads and writes go to libuv's thread
    // pool, so blocks are verified while others wait on the disk.
    pool = WorkerPool.take(repo.workerSettings({ blockSize: version.block_size }), options.workers ?? defaultWorkerCount());
    await retries.takePool(pool);
    const step = (blocks: number, length: number, sparse: boolean): void => {
      if (sparse) { counts.sparse++; c.blocksSparse++; if (writeZeros) counts.written++; } else { counts.verified += blocks; counts.written += blocks; }
      c.blocksDone += blocks;
      c.bytesDone += length * blocks;
    };
    const spec = target.spec?.();
    const blocks = hashingRows({ uid: version.uid, size: version.size, blockSize: version.block_size }, meta.iterateBlocks(version.id));
    if (spec) await restoreThroughThisThread(repo, version, blocks.rows, pool, target, writeZeros, step, options.signal);
    else await restoreHere(version, blocks.rows, pool, target, writeZeros, step, options.signal);
    throwIfAborted(options.signal, 'restore');
    if (!blocks.matches(version.block_list_digest ?? before)) throw blockListDamaged(version.uid);
    tracker.phase('syncing');
    await target.finish(version.size);
    tracker.finish('done');
    return { uid: version.uid, target: options.target, bytes: version.size, blocksWritten: counts.written, blocksSparse: counts.sparse, blocksVerified: counts.verified, durationMs: Date.now() - started };
  } catch (error) {
    const canceled = options.signal?.aborted ?? false;
    await target.abort(canceled ? 'canceled' : 'failed').catch(() => undefined);
    tracker.finish(canceled ? 'canceled' : 'failed');
    // A new file never appears under the target's name; an overwritten one cannot be put back.
    const incomplete = target.overwrites ? `; target ${target.description} is INCOMPLETE: partly overwritten, neither the version nor its old content` : '';
    if (canceled) throw new EngineError('CANCELED', `restore canceled${incomplete}`);
    const engineError = toEngineError(error);
    throw incomplete ? new EngineError(engineError.code, `${engineError.message}${incomplete}`, { cause: error }) : engineError;
  } finally {
    await retries.finish(pool);
    await pool?.release();
    releasePath();
  }
}

function blockContext(version: VersionRow, block: BlockRow, offset: number): string {
  const object = block.digest ? ` object ${block.digest.toString('hex')}` : '';
  return `restore of version ${version.uid} block ${block.idx} (offset ${offset})${object}`;
}

/**
 * A file or device target (any store): this thread reads each object into shared
 * memory and writes its block; a worker only decodes and verifies it there, so a worker busy
 * hashing one block (5-15 ms) never holds back the next read or write (this thread's event
 * loop is otherwise idle). A block is written only after its worker verified it; its buffers
 * are reused only after the write returned.
 */
async function restoreThroughThisThread(
  repo: Repository, version: VersionRow, rows: Iterable<BlockRow>, pool: WorkerPool, target: Target, writeZeros: boolean,
  step: (blocks: number, length: number, sparse: boolean) => void, signal: AbortSignal | undefined,
): Promise<void> {
  const repeated = repo.meta.repeatedObjects(version.id);
  const inFlight = pool.size * BLOCKS_IN_FLIGHT_PER_WORKER;
  const free = takeBuffers(version.block_size, inFlight);
  await runBounded(rows, inFlight, signal, async (block) => {
    const offset = block.idx * version.block_size;
    const length = Math.min(version.block_size, version.size - offset);
    if (block.object_id === null) {
      if (writeZeros) await target.writeZeros(offset, length, signal);
      step(1, length, true);
      return;
    }
    // An object the version repeats is read and verified once, at its first block, and
    // written to all of its blocks then; its later blocks only count as done.
    let positions = [offset];
    const repeats = repeated.get(block.object_id);
    if (repeats) {
      if (repeats[0] !== block.idx) return;
      positions = repeats.map((idx) => idx * version.block_size);
    }
    const name = block.digest!.toString('hex');
    const buffers = free.pop()!; // runBounded keeps at most `inFlight` blocks going
    try {
      // An oversized object comes back in a buffer of its own (not shared): the message copies it.
      const object = await repo.store.getInto(objectKey(name), buffers.object, { maxSize: maxStoredObjectSize(version.block_size), signal });
      await pool.run({ op: 'verify', object, plain: buffers.plain, digest: name, length });
      throwIfAborted(signal, 'restore');
      const plaintext = buffers.plain.subarray(0, length);
      for (const position of positions) await target.write(position, plaintext, signal);
    } catch (error) {
      throw toEngineError(error, blockContext(version, block, offset));
    } finally {
      free.push(buffers);
    }
    step(positions.length, length, false);
  }).finally(() => keepBuffers(version.block_size, free));
}

/**
 * The target is written here, in block order (a stream needs it): workers verify blocks ahead
 * (a window of pool.size * 3 blocks) and transfer their bytes back. Nothing is written before
 * it is verified; the first bad block ends the restore there.
 */
async function restoreHere(
  version: VersionRow, rows: Iterable<BlockRow>, pool: WorkerPool, target: Target, writeZeros: boolean,
  step: (blocks: number, length: number, sparse: boolean) => void, signal: AbortSignal | undefined,
): Promise<void> {
  const window: Array<{ block: BlockRow; offset: number; length: number; data: Promise<Buffer | null> }> = [];
  const limit = pool.size * 3;
  const writeNext = async (): Promise<void> => {
    const { block, offset, length, data } = window.shift()!;
    const bytes = await data.catch((error) => { throw toEngineError(error, blockContext(version, block, offset)); });
    throwIfAborted(signal, 'restore');
    if (bytes) await target.write(offset, bytes, signal);
    else if (writeZeros) await target.writeZeros(offset, length, signal);
    step(1, length, bytes === null);
  };
  try {
    for (const block of rows) {
      throwIfAborted(signal, 'restore');
      const offset = block.idx * version.block_size;
      const length = Math.min(version.block_size, version.size - offset);
      const name = block.digest?.toString('hex');
      const data = name
        ? pool.run({ op: 'decode', key: objectKey(name), digest: name, length }).then((result) => Buffer.from(result.data!.buffer, result.data!.byteOffset, result.data!.byteLength))
        : Promise.resolve(null);
      data.catch(() => undefined); // awaited in order by writeNext; an early failure must not go unhandled
      window.push({ block, offset, length, data });
      if (window.length >= limit) await writeNext();
    }
    while (window.length > 0) await writeNext();
    await target.flush(signal);
  } finally {
    window.length = 0;
  }
}
