// Copy: versions of one repository into another, any store to any store. Nouns: the *source*
// and the *destination* repository; a *transfer* moves one distinct object. Every object is
// read from the source store, decoded and checked against its name (SHA-256, or the source's
// HMAC when encrypted); then
//   - between plain repositories the stored bytes go over unchanged (same name, same header);
//   - into an encrypted destination the plaintext is encoded again under the destination's
//     keys (its name becomes the destination's HMAC of the plaintext).
// Only objects the destination lacks are transferred: a live object row there means the
// object is there (plain: known by its name before reading; encrypted: after decoding). The
// destination follows the backup's protocol: a shared lock, an incomplete version, objects as
// pending rows before they are written, the store's barrier, then one durable commit marks the
// version valid. An interrupted copy leaves an incomplete version (removed when the copy runs
// again) and pending objects that are in the store: the next copy finds them there (a put is
// atomic, so a present object is whole) and does not transfer them again.
import { takeWriterLock, type HeldStoreLock } from '../store-locks';
import { createHash, createHmac } from 'node:crypto';
import type { CopiedVersion, CopyResult as SharedCopyResult, Progress, RepositorySettings } from '../../../src-shared/model';
import { ObjectCodec, type CodecKeys, type CompressionSetting } from '../codec/object';
import { finishVersion } from '../describe';
import { EngineError, throwIfAborted, toEngineError } from '../errors';
import { BlockRowWriter, claimObject, type ObjectClaim } from '../meta/block-rows';
import type { Metadata } from '../meta/database';
import { ObjectState, VersionState } from '../meta/schema';
import { objectKey, type ObjectStore } from '../store/port';
import { runBounded } from './bounded';
import { ProgressTracker, type RunOptions } from './progress';

/** What copy needs of a repository (Repository has it). */
export interface CopyRepository {
  readonly settings: RepositorySettings;
  readonly compression: CompressionSetting;
  readonly keys: { data: Buffer; name: Buffer; meta: Buffer } | null;
  readonly meta: Metadata;
  readonly store: ObjectStore;
  readonly blockSize: number;
  /** brings a cache of a shared store up to it (see store-locks.ts) */
  syncWithStore(signal?: AbortSignal): Promise<unknown>;
}

export interface CopyOptions extends RunOptions {
  uids: string[];
  /** objects in flight (each holds two block-sized buffers); default 8 */
  concurrency?: number;
}

export type CopyResult = Omit<SharedCopyResult, 'destination' | 'retries'>;

const DEFAULT_CONCURRENCY = 8;
const ROW_BATCH = 2048;

/** Refuses copies that cannot be right; the reason says what differs. */
export function checkCopyable(source: CopyRepository, destination: CopyRepository): void {
  if (source.settings.id === destination.settings.id) {
    throw new EngineError('INVALID_ARGUMENT', 'source and destination are the same repository');
  }
  if (source.blockSize !== destination.blockSize) {
    throw new EngineError(
      'INVALID_ARGUMENT',
      `block sizes differ: the source has ${source.blockSize} bytes, the destination ${destination.blockSize}; a version's blocks cannot be copied between them (create the destination with --block-size ${source.blockSize})`,
    );
  }
  if (source.keys && !destination.keys) {
    throw new EngineError('INVALID_ARGUMENT', 'the source is encrypted and the destination is not: copying would store its data unencrypted; copy into an encrypted repository');
  }
}

function nameOf(keys: CodecKeys | null, plaintext: Uint8Array): string {
  return keys ? createHmac('sha256', keys.name).update(plaintext).digest('hex') : createHash('sha256').update(plaintext).digest('hex');
}

/** Per task in flight: codecs and buffers, reused. */
class Lane {
  readonly plain: Buffer;
  readonly encoded: Buffer | null;
  readonly sourceCodec: ObjectCodec;
  readonly destinationCodec: ObjectCodec | null;

  constructor(source: CopyRepository, destination: CopyRepository, recode: boolean) {
    this.sourceCodec = new ObjectCodec(source.blockSize, source.compression, source.keys ?? undefined);
    this.plain = Buffer.allocUnsafe(source.blockSize);
    this.destinationCodec = recode ? new ObjectCodec(destination.blockSize, destination.compression, destination.keys ?? undefined) : null;
    this.encoded = this.destinationCodec ? Buffer.allocUnsafe(this.destinationCodec.encodedCapacity) : null;
  }
}

export async function copyVersions(source: CopyRepository, destination: CopyRepository, options: CopyOptions): Promise<CopyResult> {
  checkCopyable(source, destination);
  const started = Date.now();
  const versions = options.uids.map((uid) => {
    const version = source.meta.requireVersion(uid);
    if (version.state !== VersionState.valid) {
      throw new EngineError('INVALID_ARGUMENT', `version ${uid} is ${version.state === VersionState.invalid ? 'invalid' : 'incomplete'} in the source; only valid versions are copied`);
    }
    const there = destination.meta.getVersion(uid);
    if (there && there.state === VersionState.invalid) {
      throw new EngineError('ALREADY_EXISTS', `version ${uid} exists in the destination and is invalid there; remove it there first`);
    }
    return version;
  });
  const recode = destination.keys !== null;
  const lanes: Lane[] = [];
  const concurrency = Math.max(1, options.concurrency ?? DEFAULT_CONCURRENCY);
  const tracker = new ProgressTracker('copying', options.onProgress, options.progressIntervalMs);
  const c = tracker.counters;
  for (const version of versions) {
    c.bytesTotal += version.size;
    c.blocksTotal += Math.ceil(version.size / version.block_size);
  }
  const result: CopyResult = { versions: [], objectsTransferred: 0, objectsPresent: 0, bytesTransferred: 0, durationMs: 0 };
  try {
    for (const version of versions) {
      throwIfAborted(options.signal, 'copy');
      const copied = await copyOne(source, destination, version.uid, { recode, lanes, concurrency, signal: options.signal, counters: c });
      result.versions.push(copied);
      result.objectsTransferred += copied.objectsTransferred;
      result.objectsPresent += copied.objectsPresent;
      result.bytesTransferred += copied.bytesTransferred;
    }
    result.durationMs = Date.now() - started;
    tracker.finish('done');
    return result;
  } catch (error) {
    tracker.finish(options.signal?.aborted ? 'canceled' : 'failed');
    if (options.signal?.aborted) throw new EngineError('CANCELED', 'copy canceled; versions not finished are not valid in the destination (run the copy again to resume)');
    throw error;
  }
}

interface OneOptions {
  recode: boolean;
  lanes: Lane[];
  concurrency: number;
  signal?: AbortSignal;
  counters: Progress;
}

async function copyOne(source: CopyRepository, destination: CopyRepository, uid: string, o: OneOptions): Promise<CopiedVersion> {
  // The version stays in the source while it is copied (rm there refuses, naming the copy).
  const sourceLock = source.meta.acquireVersionReadLock(uid, `copy to ${destination.store.location}`);
  try {
    return await copyLocked(source, destination, uid, o);
  } finally {
    source.meta.releaseLock(sourceLock);
  }
}

async function copyLocked(source: CopyRepository, destination: CopyRepository, uid: string, o: OneOptions): Promise<CopiedVersion> {
  // Checked against its digest before anything is written: a recoded copy could not tell.
  const { version, rows: blocks } = source.meta.intactBlocks(source.meta.requireVersion(uid));
  const dmeta = destination.meta;
  const outcome: CopiedVersion = { uid, outcome: 'copied', objectsTransferred: 0, objectsPresent: 0, bytesTransferred: 0 };
  const present = (): CopiedVersion => {
    outcome.outcome = 'present';
    o.counters.blocksDone += blocks.length;
    o.counters.bytesDone += version.size;
    return outcome;
  };
  if (dmeta.getVersion(uid)?.state === VersionState.valid) return present();
  const lockName = `copy:${uid}:${process.pid}`;
  dmeta.acquireLock(lockName, 'shared', `copy of version ${uid} from ${source.store.location}`);
  let versionId: number | undefined;
  let storeLock: HeldStoreLock | null = null;
  try {
    storeLock = await takeWriterLock(destination, `copy of version ${uid} from ${source.store.location}`, { signal: o.signal });
    versionId = dmeta.transaction(() => {
      // Looked at again under the lock: another copy of the same version may be writing it.
      const leftover = dmeta.getVersion(uid);
      if (leftover) {
        const writer = dmeta.liveLocks().find((lock) => lock.name !== lockName && (lock.name.startsWith(`copy:${uid}:`) || lock.name === `backup:${uid}`));
        if (writer) throw new EngineError('LOCKED', `version ${uid} is being written into the destination: ${writer.reason} (pid ${writer.pid})`);
        if (leftover.state === VersionState.valid) return null; // another copy finished it
        if (leftover.state === VersionState.invalid) throw new EngineError('ALREADY_EXISTS', `version ${uid} exists in the destination and is invalid there; remove it there first`);
        // Left by a copy that was interrupted: its objects stay, its rows go.
        dmeta.deleteVersion(leftover.id, Date.now());
      }
      const id = dmeta.createVersion({
        uid, name: version.name, snapshot: version.snapshot, date: version.date, size: version.size, blockSize: version.block_size,
        baseUid: version.base_uid, source: version.source,
      });
      for (const tag of version.tags ? version.tags.split(',') : []) dmeta.addTag(id, tag);
      const note = source.meta.note(uid);
      if (note !== undefined) dmeta.setNote(uid, note);
      return id;
    }) ?? undefined;
    if (versionId === undefined) return present();
    const vid = versionId;

    // Distinct objects of the version, and the blocks each one fills.
    const bySource = new Map<string, { length: number; blocks: number[] }>();
    const rows = new BlockRowWriter(dmeta, vid, ROW_BATCH);
    for (const block of blocks) {
      if (!block.digest) {
        rows.add(block.idx, null);
        o.counters.blocksSparse++;
        o.counters.blocksDone++;
        o.counters.bytesDone += Math.min(version.block_size, version.size - block.idx * version.block_size);
        continue;
      }
      const hex = block.digest.toString('hex');
      const entry = bySource.get(hex);
      if (entry) entry.blocks.push(block.idx);
      else bySource.set(hex, { length: block.length!, blocks: [block.idx] });
    }
    /**
     * The destination's row for an object, made pending when it must be written; `damaged`:
     * scrub found the stored copy invalid, so it is written again whatever the store holds.
     */
    const claim = (digest: string, length: number): Promise<ObjectClaim> =>
      claimObject(dmeta, Buffer.from(digest, 'hex'), length, { versionId: vid, graceMs: 0, signal: o.signal });

    const finishObject = (id: number, entry: { length: number; blocks: number[] }): void => {
      for (const idx of entry.blocks) rows.add(idx, id);
      o.counters.blocksDone += entry.blocks.length;
      o.counters.bytesDone += entry.length * entry.blocks.length;
    };

    const free: Lane[] = [];
    const transfer = async ([digest, entry]: [string, { length: number; blocks: number[] }]): Promise<void> => {
      // Plain into plain: the name stays, so a live object there needs no read at all.
      if (!o.recode) {
        const row = dmeta.objectByDigest(Buffer.from(digest, 'hex'));
        if (row?.state === ObjectState.live && dmeta.touchObject(row.id, Date.now())) {
          outcome.objectsPresent++;
          o.counters.blocksDedup += entry.blocks.length;
          finishObject(row.id, entry);
          return;
        }
      }
      const lane = free.pop() ?? o.lanes.pop() ?? new Lane(source, destination, o.recode);
      try {
        const what = `copy of version ${uid}: object ${digest.slice(0, 16)}..`;
        let stored: Buffer;
        try {
          stored = await source.store.get(objectKey(digest), undefined, o.signal);
        } catch (error) {
          throw toEngineError(error, what);
        }
        let plaintext: Buffer;
        try {
          plaintext = lane.sourceCodec.decode(stored, lane.plain);
        } catch (error) {
          throw toEngineError(error, `${what} in the source`);
        }
        if (plaintext.length !== entry.length || nameOf(source.keys, plaintext) !== digest) {
          throw new EngineError('OBJECT_CORRUPT', `${what} in the source does not match its name (scrub the source)`);
        }
        const name = o.recode ? nameOf(destination.keys, plaintext) : digest;
        const claimed = await claim(name, entry.length);
        if (!claimed.write) {
          outcome.objectsPresent++;
          o.counters.blocksDedup += entry.blocks.length;
          finishObject(claimed.id, entry);
          return;
        }
        const bytes = o.recode ? lane.destinationCodec!.encode(plaintext, lane.encoded!) : stored;
        const there = claimed.damaged ? null : await destination.store.size(objectKey(name), o.signal);
        if (there !== null) {
          // Written by an interrupted copy (or backup): a put is atomic, so it is whole.
          outcome.objectsPresent++;
          rows.live(claimed.id, there);
        } else {
          await destination.store.put(objectKey(name), bytes, o.signal);
          outcome.objectsTransferred++;
          outcome.bytesTransferred += bytes.length;
          o.counters.blocksNew += entry.blocks.length;
          o.counters.bytesWritten += bytes.length;
          rows.live(claimed.id, bytes.length);
        }
        finishObject(claimed.id, entry);
      } finally {
        free.push(lane);
      }
    };
    await runBounded(bySource.entries(), o.concurrency, o.signal, transfer);
    o.lanes.push(...free);
    throwIfAborted(o.signal, 'copy');
    rows.flush();
    await destination.store.barrier(o.signal);
    const count = dmeta.blockCount(vid);
    const expected = Math.ceil(version.size / version.block_size);
    if (count !== expected) throw new EngineError('INTERNAL', `copy of version ${uid}: ${count} block rows, expected ${expected}`);
    throwIfAborted(o.signal, 'copy');
    // Valid only once its manifest is durable in the destination's store.
    await finishVersion(destination, vid, uid, {
      state: VersionState.valid,
      signal: o.signal,
      sealed: (digest) => {
        // Same names, same list: a plain copy's block list must hash as the source's did.
        if (!o.recode && version.block_list_digest && !digest.equals(version.block_list_digest)) {
          throw new EngineError('OBJECT_CORRUPT', `copy of version ${uid}: the copied block list does not match the source's digest`);
        }
        if (version.protected === 1) dmeta.setProtected(vid, true);
      },
    });
    return outcome;
  } catch (error) {
    if (versionId !== undefined) {
      try { dmeta.deleteVersion(versionId, Date.now()); } catch { /* stays incomplete; the next copy or cleanup removes it */ }
    }
    throw error;
  } finally {
    await storeLock?.release();
    dmeta.releaseLock(lockName);
  }
}
