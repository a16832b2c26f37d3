// Backup: source -> blocks -> (workers: read, zero check, hash) -> dedupe decision (here, in
// the metadata) -> (workers: compress, write object) -> block rows in batched transactions
// -> the store's durability barrier -> version marked valid last, in a durable commit.
// Nouns: a *decision* says whether a block's object must be written or already exists. A
// *stream* source (stdin, a FIFO) is read once in order and sized on the fly: its version
// gets its size when the stream ends. *Hints* (a hints file, a dirty bitmap, rbd diff) name the
// extents to read: on an incremental every other block comes from the base, on a first backup
// every other block is recorded sparse (backup-checks.ts samples both).
import { takeWriterLock, type HeldStoreLock } from '../store-locks';
import { randomUUID } from 'node:crypto';
import type { BackupResult, BackupStats, SourceCheck } from '../../../src-shared/model';
import { finishVersion, manifestKeyOf } from '../describe';
import { EngineError, throwIfAborted, toEngineError } from '../errors';
import { autoTags } from '../autotags';
import { openSource, type AllocationExtent, type Source } from '../io/index';
import { qcow2PathOf, rotateQcow2Bitmap } from '../io/qcow2';
import { BlockRowWriter, claimObject } from '../meta/block-rows';
import { VersionState } from '../meta/schema';
import type { Repository } from '../repository';
import { objectKey } from '../store/index';
import { WorkerPool, type Slot } from '../workers/pool';
import { RunRetries } from './retries';
import { checkSource, pickSamples, SOURCE_SAMPLES, sourceChangedError, verifyHints, type BlockReading } from './backup-checks';
import { lockPath } from './path-locks';
import { checkHintsWithin, hintedBlocks, readHintsFile, type HintExtent } from './hints';
import { ProgressTracker, type RunOptions } from './progress';
import { SourceBlocks, type BlockRead } from './source-blocks';

export interface BackupOptions extends RunOptions {
  source: string;
  /** an opened source to read instead of opening `source` (then only a description); the backup closes it */
  input?: Source;
  name: string;
  snapshot?: string;
  /** without tags, the repository may give backy2's automatic tags (engine/autotags.ts) */
  tags?: string[];
  /** the new version's UID (default: a random UUID), so a caller can name it before it starts */
  uid?: string;
  /** UID of the base version (incremental) */
  from?: string;
  /** hints file path or parsed extents: with `from` the changed extents, without it the extents holding data */
  hints?: string | HintExtent[];
  workers?: number;
  slotsPerWorker?: number;
  /** fsync each object instead of one file-system sync at the end */
  syncEachObject?: boolean;
  /** blocks outside the hints compared with the base, or checked to be zeros on a first backup (default 10) */
  hintSamples?: number;
  /** blocks read again at the end and compared with what was stored (default 8; 0: none) */
  sourceSamples?: number;
  /** a source that changed while it was read fails the backup (SOURCE_CHANGED) instead of a warning */
  strict?: boolean;
  /** qcow2 or NBD source: the dirty bitmap whose extents are the changes since `from` */
  bitmap?: string;
  /** RBD source: `rbd diff --from-snap` this snapshot gives the changes since `from` */
  fromSnap?: string;
  /** after a successful backup of a qcow2, start the bitmap afresh (cleared, or added) */
  rotateBitmap?: boolean;
  /** back up a qcow2 file as the container file, not its guest disk */
  raw?: boolean;
}

const ROW_BATCH = 2048;
const ROW_FLUSH_MS = 500;
const SYNC_EVERY_BYTES = 256 * 1024 * 1024;

/** Names, snapshots and tags: printable, and no `|` (one field per column in `-m` output). */
export function checkVersionName(name: string, what = 'name'): void {
  if (typeof name !== 'string' || name.length === 0 || name.length > 1024 || /[\u0000-\u001f\u007f|]/.test(name)) {
    throw new EngineError('INVALID_ARGUMENT', `${what} must be 1 to 1024 printable characters and must not contain "|" or control characters`);
  }
}

export async function backup(repo: Repository, options: BackupOptions): Promise<BackupResult> {
  const rotation = options.rotateBitmap ? bitmapRotation(options.source, options.bitmap) : undefined;
  const result = await runBackup(repo, options);
  // After the source is closed: qemu-nbd holds the image's write lock while it serves it.
  if (rotation) {
    try {
      rotation();
    } catch (error) {
      throw toEngineError(error, `version ${result.uid} was created, but starting bitmap ${options.bitmap} afresh failed`);
    }
  }
  return result;
}

async function runBackup(repo: Repository, options: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const meta = repo.meta;
  const blockSize = repo.blockSize;
  checkVersionName(options.name);
  if (options.snapshot) checkVersionName(options.snapshot, 'snapshot name');
  for (const tag of options.tags ?? []) checkVersionName(tag, 'tag');
  const tags = options.tags?.length ? options.tags : autoTags(repo, options.name, started);
  let extents = typeof options.hints === 'string' ? readHintsFile(options.hints) : options.hints;
  if (extents && (options.bitmap || options.fromSnap)) throw new EngineError('INVALID_ARGUMENT', 'give a hints file or a change source (--bitmap, --from-snap), not both');
  if (options.fromSnap && !options.from) throw new EngineError('INVALID_ARGUMENT', '--from-snap needs a base version (--from UID)');

  const base = options.from ? meta.requireVersion(options.from) : undefined;
  if (base && base.state !== VersionState.valid) {
    throw new EngineError('INVALID_ARGUMENT', `base version ${base.uid} is not valid (${base.state === VersionState.incomplete ? 'incomplete' : 'invalid'}); back up without --from or scrub it first`);
  }
  if (base && base.block_size !== blockSize) throw new EngineError('INVALID_ARGUMENT', `base version ${base.uid} has block size ${base.block_size}, the repository ${blockSize}`);

  if (options.uid !== undefined && (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/.test(options.uid) || meta.getVersion(options.uid))) {
    throw new EngineError('INVALID_ARGUMENT', `version uid ${options.uid} is not a new UUID`);
  }
  // A full backup reads everything: its bitmap need not exist yet (--rotate-bitmap adds it after).
  const source = options.input ?? await openSource(options.source, { signal: options.signal, bitmap: base ? options.bitmap : undefined, fromSnap: options.fromSnap, raw: options.raw });
  if (source.sequential && extents) {
    await source.close();
    throw new EngineError('INVALID_ARGUMENT', `hints need a source that can be read at any offset; ${source.description} is a stream`);
  }
  if (extents) {
    try {
      checkHintsWithin(extents, source.size ?? 0, typeof options.hints === 'string' ? options.hints : 'given');
    } catch (error) {
      await source.close();
      throw error;
    }
  }
  const uid = options.uid ?? randomUUID();
  /** bytes of the source: known up front, or counted as a stream is read */
  let size = source.size ?? 0;
  let blockCount = Math.ceil(size / blockSize);
  const blockLength = (idx: number): number => Math.min(blockSize, size - idx * blockSize);
  const graceMs = repo.settings.cleanupGraceSeconds * 1000;
  const tracker = new ProgressTracker('backup', options.onProgress, options.progressIntervalMs);
  const c = tracker.counters;
  c.bytesTotal = size;
  c.blocksTotal = blockCount;
  const stats = { bytesRead: 0, blocksRead: 0, bytesWritten: 0, blocksWritten: 0, bytesStored: 0, bytesDedup: 0, blocksDedup: 0, bytesSparse: 0, blocksSparse: 0, blocksFromBase: 0 };

  let pool: WorkerPool | undefined;
  let blocks: SourceBlocks | undefined;
  let closing: Promise<void> | null = null;
  /** Closes the source once (reads ahead nobody took end first); early when everything was read. */
  const closeSource = (): Promise<void> => (closing ??= (async () => {
    try {
      await blocks?.close();
    } finally {
      await source.close();
    }
  })());
  let versionId: number | undefined;
  const retries = new RunRetries(repo.store, options.retries);
  const lockName = `backup:${uid}`;
  let releasePath = (): void => {};
  let storeLock: HeldStoreLock | null = null;
  try {
    meta.acquireLock(lockName, 'shared', `backup of ${options.source} as ${options.name}`);
    // Another machine sharing the bucket: its cleanup first (see store-locks.ts).
    storeLock = await takeWriterLock(repo, `backup of ${options.source} as ${options.name}`, { signal: options.signal, onWaiting: (what) => { c.phase = what ?? 'backup'; } });
    releasePath = lockPath(meta, options.source, 'read', `backup of ${options.source} as ${options.name}`);
    pool = WorkerPool.take(repo.workerSettings({ slots: options.slotsPerWorker, syncEachObject: options.syncEachObject }), options.workers);
    await retries.takePool(pool);
    blocks = await SourceBlocks.open(source, pool);
    const reader = blocks;

    // A dirty bitmap or rbd diff is the change list of an incremental (as a hints file would be).
    if (base && !extents && (options.bitmap || options.fromSnap) && source.changes) extents = (await source.changes(options.signal)).map((extent) => ({ ...extent, exists: true }));
    // A first backup of a source that lists its data (an RBD image: rbd diff) reads only that.
    if (!base && !extents && source.dataExtents) extents = (await source.dataExtents(options.signal)).map((extent) => ({ ...extent, exists: true }));
    const io: BlockReading = { pool, reader, blockSize, blockLength, signal: options.signal };
    // Blocks the source's allocation map calls holes or zeros are recorded sparse unread.
    const unallocated = source.allocation && source.size !== null ? unallocatedBlocks(await source.allocation(options.signal), blockSize, size) : new Set<number>();

    // Blocks to read, and the base's object for each block that is not read.
    let baseObjects: Array<number | null> = [];
    let toRead: number[];
    if (extents) {
      // On a first backup the hints mark the blocks holding data: extents that became zero do not.
      const touched = hintedBlocks(base ? extents : extents.filter((extent) => extent.exists), blockSize, blockCount);
      if (base) {
        // By row id, which SQLite gives to the next new version once this row is gone (it had
        // the highest id): a base removed since it was read is refused, never mistaken for the
        // version that took its id. Once read, the base's objects stay: removing it marks
        // them used now, after this backup took its lock, so no cleanup takes them.
        baseObjects = meta.transaction(() => {
          if (meta.getVersion(base.uid)?.id !== base.id) throw new EngineError('NOT_FOUND', `base version ${base.uid} was removed while this backup started; no version was created`);
          // Rows copied from a damaged base would be sealed into this version as its own.
          meta.requireIntactBlockList(base);
          return meta.blockObjects(base.id);
        });
        for (let idx = baseObjects.length; idx < blockCount; idx++) touched.add(idx);
        // When the size changed, the last blocks of the base and of the source changed length.
        if (size !== base.size) {
          for (const idx of [baseObjects.length - 1, blockCount - 1]) if (idx >= 0 && idx < blockCount) touched.add(idx);
        }
      }
      toRead = [...touched].sort((a, b) => a - b);
      // A first backup samples blocks that may hold data: not those the allocation map calls empty.
      const skip = base ? touched : new Set([...touched, ...unallocated]);
      const verified = await verifyHints(io, repo, base ? baseObjects : null, skip, blockCount, options.hintSamples ?? 10, base?.uid ?? null);
      stats.blocksRead += verified.blocks;
      stats.bytesRead += verified.bytes;
    } else {
      toRead = Array.from({ length: blockCount }, (_, idx) => idx);
    }
    // Sources read here (NBD, qemu-nbd) read the next planned blocks ahead.
    if (source.size !== null) reader.readAhead(toRead.filter((idx) => !unallocated.has(idx)).map((idx) => ({ offset: idx * blockSize, length: blockLength(idx) })), options.signal);
    versionId = meta.transaction(() => {
      const id = meta.createVersion({ uid, name: options.name, snapshot: options.snapshot ?? '', date: started, size, blockSize, baseUid: base?.uid ?? null, source: options.source });
      for (const tag of tags) meta.addTag(id, tag);
      return id;
    });
    const vid = versionId;

    // Rows of unchanged blocks are copied from the base first: from now on this version
    // references those objects, so no cleanup can take them. A first backup's blocks outside
    // the hints are sparse.
    if (extents) {
      const readSet = new Set(toRead);
      const copied: Array<[number, number | null]> = [];
      for (let idx = 0; idx < blockCount; idx++) {
        if (readSet.has(idx)) continue;
        const object = baseObjects[idx] ?? null;
        copied.push([idx, object]);
        const length = blockLength(idx);
        if (base) {
          stats.blocksFromBase++;
          c.blocksFromBase++;
        } else c.blocksSparse++;
        if (object === null) { stats.blocksSparse++; stats.bytesSparse += length; }
        c.blocksDone++;
        c.bytesDone += length;
      }
      meta.insertBlocks(vid, copied);
    }

    // Blocks read again at the end (a source that changes while it is read is reported).
    const sampleCount = options.sourceSamples ?? SOURCE_SAMPLES;
    const samples = new Map<number, string | null>();
    const sampled = new Set(source.size === null || source.unchanging ? [] : pickSamples(toRead.filter((idx) => !unallocated.has(idx)), sampleCount));

    // ---- the block loop
    const rows = new BlockRowWriter(meta, vid, ROW_BATCH, ROW_FLUSH_MS);
    const addRow = (idx: number, objectId: number | null): void => rows.add(idx, objectId);

    // A folder store syncs through its syncer, started once (store/folder-sync.ts).
    const syncStore = (): Promise<void> => repo.store.barrier(options.signal);
    let storedSinceSync = 0;
    let syncing: Promise<void> | null = null;
    const maybeSync = (): void => {
      if (storedSinceSync < SYNC_EVERY_BYTES || syncing) return;
      storedSinceSync = 0;
      syncing = syncStore().finally(() => { syncing = null; });
    };

    /** object ids decided in this run, by digest: blocks repeated within the image dedupe here. */
    const decided = new Map<string, number>();
    const decide = async (digest: string, length: number): Promise<{ id: number; write: boolean }> => {
      const known = decided.get(digest);
      if (known !== undefined) return { id: known, write: false };
      const claim = await claimObject(meta, Buffer.from(digest, 'hex'), length, { versionId: vid, graceMs, signal: options.signal });
      decided.set(digest, claim.id);
      return claim;
    };

    // An S3 object is put from this thread: a worker busy compressing the next block would
    // leave its PUTs' sockets unserved (RGW then waits); the worker encodes into its slot's
    // shared buffer, which stays the slot's until the slot is released after the put.
    const putHere = repo.store.kind === 's3';
    const storeObject = async (slot: Slot, key: string): Promise<number> => {
      if (!putHere) return (await pool!.runOn(slot.worker, { op: 'store', slot: slot.slot, key })).storedSize!;
      const { data } = await pool!.runOn(slot.worker, { op: 'encode', slot: slot.slot });
      await repo.store.put(key, Buffer.from(data!.buffer, data!.byteOffset, data!.byteLength), options.signal);
      return data!.byteLength;
    };

    const processBlock = async (idx: number, slot: Slot, read: BlockRead): Promise<void> => {
      const length = read.length;
      let released = false;
      try {
        const hashed = await pool!.runOn(slot.worker, { op: 'hash', slot: slot.slot, input: read.input }, read.transfer);
        stats.blocksRead++;
        stats.bytesRead += length;
        if (sampled.has(idx)) samples.set(idx, hashed.zero ? null : hashed.digest!);
        if (hashed.zero) {
          stats.blocksSparse++;
          stats.bytesSparse += length;
          c.blocksSparse++;
          addRow(idx, null);
        } else {
          const decision = await decide(hashed.digest!, length);
          if (decision.write) {
            const storedSize = await storeObject(slot, objectKey(hashed.digest!));
            stats.blocksWritten++;
            stats.bytesWritten += length;
            stats.bytesStored += storedSize;
            storedSinceSync += storedSize;
            c.blocksNew++;
            c.bytesWritten += storedSize;
            rows.live(decision.id, storedSize);
            maybeSync();
          } else {
            stats.blocksDedup++;
            stats.bytesDedup += length;
            c.blocksDedup++;
          }
          addRow(idx, decision.id);
        }
        // the worker is done with the block's bytes: its buffer may take another block
        read.release();
        pool!.releaseSlot(slot);
        released = true;
        c.blocksDone++;
        c.bytesDone += length;
      } finally {
        if (!released) pool!.releaseSlot(slot);
      }
    };

    let firstError: unknown = null;
    const inFlight = new Set<Promise<void>>();
    const fail = (idx: number) => (error: unknown): void => {
      firstError ??= toEngineError(error, `backup of ${options.source} block ${idx} (offset ${idx * blockSize})`);
    };
    // Sized sources: the blocks to read. Streams: block after block until the stream ends.
    const indexes: Iterable<number> = source.size === null ? naturals() : toRead;
    for (const idx of indexes) {
      if (firstError || options.signal?.aborted) break;
      if (unallocated.has(idx)) {
        const length = blockLength(idx);
        stats.blocksSparse++;
        stats.bytesSparse += length;
        c.blocksSparse++;
        c.blocksDone++;
        c.bytesDone += length;
        addRow(idx, null);
        continue;
      }
      const slot = await pool.acquireSlot();
      if (firstError || options.signal?.aborted) { pool.releaseSlot(slot); break; }
      // Read here, in order: a stream is read once, and the slot bounds the blocks in memory.
      let read: BlockRead;
      try {
        read = await reader.read(idx * blockSize, source.size === null ? blockSize : blockLength(idx), options.signal);
      } catch (error) {
        pool.releaseSlot(slot);
        fail(idx)(error);
        break;
      }
      if (source.size === null) {
        if (read.length === 0) { pool.releaseSlot(slot); break; }
        size += read.length;
        blockCount = idx + 1;
        c.bytesTotal = size;
        c.blocksTotal = blockCount;
      } else if (read.length !== blockLength(idx)) {
        pool.releaseSlot(slot);
        fail(idx)(new EngineError('IO_ERROR', `source ended at byte ${idx * blockSize + read.length}, expected ${size}`));
        break;
      }
      const task = processBlock(idx, slot, read).catch(fail(idx));
      inFlight.add(task);
      void task.finally(() => inFlight.delete(task));
      if (source.size === null && read.length < blockSize) break; // a short block ends a stream
    }
    await Promise.all(inFlight);
    if (firstError) throw firstError;
    throwIfAborted(options.signal, 'backup');

    let sourceCheck: SourceCheck;
    if (source.size === null) sourceCheck = { sampled: 0, changed: [], skipped: `${source.description} is a stream: its blocks cannot be read again to check that it did not change` };
    else if (sampleCount <= 0) sourceCheck = { sampled: 0, changed: [], skipped: 'not asked for (no samples)' };
    else if (source.unchanging) sourceCheck = { sampled: 0, changed: [], skipped: source.unchanging };
    else if (samples.size === 0) sourceCheck = { sampled: 0, changed: [], skipped: 'no block was read from the source' };
    else {
      tracker.phase('checking source');
      sourceCheck = await checkSource(io, samples);
      if (sourceCheck.changed.length > 0 && options.strict) throw sourceChangedError(source.description, sourceCheck, blockSize);
    }
    throwIfAborted(options.signal, 'backup');

    tracker.phase('syncing');
    // Everything is read: the source closes (a private qemu-nbd stops) while the version is finished.
    void closeSource().catch(() => undefined);
    if (source.size === null) meta.setVersionSize(vid, size);
    rows.flush();
    const count = meta.blockCount(vid);
    if (count !== blockCount) throw new EngineError('INTERNAL', `version ${uid} has ${count} block rows, expected ${blockCount}`);
    if (syncing) await syncing;
    // The objects' barrier runs while finishVersion seals the block list and encodes the manifest.
    const objectsDurable = !(options.syncEachObject ?? false) || stats.blocksWritten > 0 ? syncStore() : Promise.resolve();
    objectsDurable.catch(() => undefined);
    throwIfAborted(options.signal, 'backup');

    const result: BackupStats = {
      date: new Date(started).toISOString(),
      uid,
      name: options.name,
      sizeBytes: size,
      sizeBlocks: blockCount,
      ...stats,
      durationMs: Date.now() - started,
    };
    // Valid only once its manifest is durable in the store: a rebuild from the store sees it.
    await finishVersion(repo, vid, uid, { state: VersionState.valid, signal: options.signal, objectsDurable, settled: () => {
      meta.insertStats({
        date: started, version_uid: uid, version_name: options.name, size_bytes: size, size_blocks: blockCount,
        bytes_read: stats.bytesRead, blocks_read: stats.blocksRead, bytes_written: stats.bytesWritten, blocks_written: stats.blocksWritten,
        bytes_stored: stats.bytesStored, bytes_dedup: stats.bytesDedup, blocks_dedup: stats.blocksDedup, bytes_sparse: stats.bytesSparse,
        blocks_sparse: stats.blocksSparse, blocks_from_base: stats.blocksFromBase, duration_ms: result.durationMs,
      });
    } });
    tracker.finish('done');
    return { uid, stats: result, sourceCheck };
  } catch (error) {
    // No valid version, no orphaned rows: the objects written are reclaimed by cleanup.
    if (versionId !== undefined) {
      try { meta.deleteVersion(versionId, Date.now()); } catch { /* the version stays incomplete; cleanup removes it */ }
      await repo.store.delete(manifestKeyOf(uid)).catch(() => undefined);
    }
    tracker.finish(options.signal?.aborted ? 'canceled' : 'failed');
    if (options.signal?.aborted) throw new EngineError('CANCELED', 'backup canceled; no version was created');
    throw toEngineError(error);
  } finally {
    await closeSource();
    await retries.finish(pool);
    await pool?.release();
    await storeLock?.release();
    meta.releaseLock(lockName);
    releasePath();
  }
}

function* naturals(): Generator<number> {
  for (let n = 0; ; n++) yield n;
}

/** Blocks that lie wholly in extents an allocation map calls holes or zeros (the last block ends at `size`). */
function unallocatedBlocks(map: AllocationExtent[], blockSize: number, size: number): Set<number> {
  const blocks = new Set<number>();
  for (const extent of map) {
    if (extent.kind === 'data') continue;
    const end = extent.offset + extent.length;
    for (let idx = Math.ceil(extent.offset / blockSize); idx * blockSize < size && Math.min((idx + 1) * blockSize, size) <= end; idx++) blocks.add(idx);
  }
  return blocks;
}

/** `--rotate-bitmap`: the qcow2 whose bitmap is started afresh after the backup (checked first). */
function bitmapRotation(location: string, bitmap: string | undefined): () => void {
  if (!bitmap) throw new EngineError('INVALID_ARGUMENT', '--rotate-bitmap needs --bitmap NAME');
  const path = qcow2PathOf(location);
  if (!path) throw new EngineError('INVALID_ARGUMENT', `--rotate-bitmap works on qcow2 images (qemu-img bitmap); for ${location} rotate the bitmap where it is kept (libvirt: a new checkpoint)`);
  return () => rotateQcow2Bitmap(path, bitmap);
}
