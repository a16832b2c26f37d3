// Restore: version blocks -> (workers: read object, decompress, verify digest, write at the
// block's offset). A new file is created sparse (zero blocks stay holes); an existing file or
// device (only with force) gets zeros too unless `sparse` says it is already zeroed.
import { ftruncateSync, fsyncSync, unlinkSync } from 'node:fs';
import type { RestoreResult } from '../../../src-shared/model';
import { EngineError, throwIfAborted, toEngineError } from '../errors';
import { inspectTarget, openTarget } from '../io/device';
import { blockListDamaged, hashingRows } from '../meta/blocklist';
import { VersionState } from '../meta/schema';
import type { Repository } from '../repository';
import { defaultWorkerCount, WorkerPool, type PoolRequest } from '../workers/pool';
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

export async function restore(repo: Repository, options: RestoreOptions): Promise<RestoreResult> {
  const started = Date.now();
  const meta = repo.meta;
  const version = meta.requireVersion(options.uid);
  if (version.state === VersionState.incomplete) {
    throw new EngineError('INVALID_ARGUMENT', `version ${version.uid} is incomplete (its backup did not finish) and cannot be restored`);
  }
  const blockCount = Math.ceil(version.size / version.block_size);
  const rows = meta.blockCount(version.id);
  if (rows !== blockCount) {
    throw new EngineError('METADATA_DAMAGED', `metadata damaged: version ${version.uid} has ${rows} block rows, expected ${blockCount}`);
  }
  // Checked before the target is touched, and again over the rows the restore itself reads.
  const header = { uid: version.uid, size: version.size, blockSize: version.block_size };
  const before = meta.computeBlockListDigest(version.id);
  if (!before || (version.block_list_digest && !before.equals(version.block_list_digest))) throw blockListDamaged(version.uid);

  const existing = inspectTarget(options.target);
  if (existing.exists && !options.force) throw new EngineError('TARGET_EXISTS', `target ${options.target} exists; use --force to overwrite it`);
  if (existing.exists && existing.size < version.size) {
    throw new EngineError('TARGET_TOO_SMALL', `target ${options.target} has ${existing.size} bytes, version ${version.uid} needs ${version.size}`);
  }
  const created = !existing.exists;
  const target = openTarget(options.target, created);
  const writeZeros = !created && !options.sparse;
  const tracker = new ProgressTracker('restore', options.onProgress, options.progressIntervalMs);
  const c = tracker.counters;
  c.bytesTotal = version.size;
  c.blocksTotal = blockCount;
  let pool: WorkerPool | undefined;
  let verified = 0;
  let written = 0;
  let sparse = 0;
  const lockName = `restore:${version.uid}:${process.pid}:${started}`;
  try {
    meta.acquireLock(lockName, 'shared', `restore of ${version.uid} to ${options.target}`);
    if (created) ftruncateSync(target.fd, version.size);
    // One worker per core: each reads objects and writes the target through libuv's thread
    // pool, so it decompresses and verifies one block while others wait on the disk.
    pool = WorkerPool.take(repo.workerSettings({ blockSize: version.block_size }), options.workers ?? defaultWorkerCount());
    const p = pool;
    // An object the version repeats is read and verified once, at its first block, and
    // written to all of its blocks then; its later blocks only count as done.
    const repeated = meta.repeatedObjects(version.id);
    const blocks = hashingRows(header, meta.iterateBlocks(version.id));
    await runBounded(blocks.rows, p.size * 3, options.signal, async (block) => {
      const offset = block.idx * version.block_size;
      const length = Math.min(version.block_size, version.size - offset);
      let request: PoolRequest | null = null;
      let blocks = 1;
      if (block.object_id !== null) {
        const name = block.digest!.toString('hex');
        let positions = [offset];
        const repeats = repeated.get(block.object_id);
        if (repeats) {
          if (repeats[0] !== block.idx) return; // written with the first block of this object
          positions = repeats.map((idx) => idx * version.block_size);
          blocks = repeats.length;
        }
        request = { op: 'restore', path: repo.store.objectPath(name), digest: name, length, fd: target.fd, directFd: target.directFd, positions };
      } else if (writeZeros) {
        request = { op: 'zero', fd: target.fd, directFd: target.directFd, position: offset, length };
      }
      if (request) {
        try {
          await p.run(request);
        } catch (error) {
          const object = block.digest ? ` object ${block.digest.toString('hex')}` : '';
          throw toEngineError(error, `restore of version ${version.uid} block ${block.idx} (offset ${offset})${object}`);
        }
      }
      if (block.object_id !== null) { verified += blocks; written += blocks; } else { sparse++; c.blocksSparse++; if (writeZeros) written++; }
      c.blocksDone += blocks;
      c.bytesDone += length * blocks;
    });
    throwIfAborted(options.signal, 'restore');
    if (!blocks.matches(version.block_list_digest ?? before)) throw blockListDamaged(version.uid);
    tracker.phase('syncing');
    fsyncSync(target.fd);
    target.close();
    tracker.finish('done');
    return { uid: version.uid, target: options.target, bytes: version.size, blocksWritten: written, blocksSparse: sparse, blocksVerified: verified, durationMs: Date.now() - started };
  } catch (error) {
    target.close();
    // A partial new file would look like a good restore: remove it. An existing target
    // cannot be put back; the error names the block where it stopped.
    if (created) {
      try { unlinkSync(options.target); } catch { /* already gone */ }
    }
    tracker.finish(options.signal?.aborted ? 'canceled' : 'failed');
    if (options.signal?.aborted) throw new EngineError('CANCELED', 'restore canceled');
    throw toEngineError(error);
  } finally {
    await pool?.release();
    meta.releaseLock(lockName);
  }
}
