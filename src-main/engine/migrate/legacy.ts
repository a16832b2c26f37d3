// Migration of another tool's backups (backy2, Benji) into a repository. Nouns: a *legacy
// version* is one version as the other tool's metadata describes it; a *legacy block* is one
// of its blocks, with the key under which the other tool stored its data (null: sparse) and
// that tool's checksum of the plaintext; a *data reader* reads a legacy block's bytes from
// the other tool's data folder and checks them against that checksum.
//
// Every block is read, checked against the legacy checksum, named by this repository's hash,
// deduplicated, compressed (and encrypted) like a backup's. A block that fails its checksum
// or is missing is never accepted: its row points at a *placeholder object* (state invalid,
// stored nowhere, named by a digest no plaintext has), so its version is invalid, restore
// stops there and no scrub can make it valid again. Progress is kept in the metadata: the
// migrated version has the legacy UID and stays incomplete until its last block, so running
// the same migration again resumes where it stopped.
import { takeWriterLock, type HeldStoreLock } from '../store-locks';
import { createHash } from 'node:crypto';
import type { MigratedVersion } from '../../../src-shared/api/types';
import { isZero } from '../codec/object';
import { finishVersion } from '../describe';
import { EngineError, throwIfAborted, toEngineError } from '../errors';
import { BlockRowWriter, claimObject } from '../meta/block-rows';
import { ObjectState, VersionState } from '../meta/schema';
import { ProgressTracker, type RunOptions } from '../pipeline/progress';
import type { Repository } from '../repository';
import { objectKey } from '../store/index';
import { WorkerPool, type Slot } from '../workers/pool';

export interface LegacyBlock {
  idx: number;
  /** where the other tool keeps the data; null for a sparse (all-zero) block */
  key: string | null;
  /** the other tool's checksum of the plaintext (hex) */
  checksum: string | null;
  size: number;
}

export interface LegacyVersion {
  /** the Blockvault UID: the other tool's when it is a UUID, else one derived from it (see blockvaultUid) */
  uid: string;
  /** the UID in the other tool */
  legacyUid: string;
  name: string;
  snapshot: string;
  /** ms since the epoch */
  date: number;
  sizeBytes: number;
  /** number of blocks the other tool says the version has */
  sizeBlocks: number;
  valid: boolean;
  protected: boolean;
  tags: string[];
  blocks: LegacyBlock[];
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
/** Namespace of the name-based UUIDs of migrated versions (a random UUID, fixed forever). */
const MIGRATION_NAMESPACE = Buffer.from('5b0c53e1f2a44c8e9d7a3e6b1c2d4f60', 'hex');

/**
 * A version's Blockvault UID: the other tool's UID when it is a UUID (backy2's are), else a
 * name-based UUID (RFC 4122 version 5) of "<tool>:<uid>" (Benji's "vm1-abc123"), the same on
 * every run so a migration resumes. Blockvault's block lists name versions by 36-character UIDs.
 */
export function blockvaultUid(tool: string, legacyUid: string): string {
  const lower = legacyUid.toLowerCase();
  if (UUID.test(lower)) return lower;
  const hash = createHash('sha1').update(MIGRATION_NAMESPACE).update(`${tool}:${legacyUid}`).digest();
  hash[6] = (hash[6] & 0x0f) | 0x50;
  hash[8] = (hash[8] & 0x3f) | 0x80;
  const hex = hash.subarray(0, 16).toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20, 32)}`;
}

export interface LegacyDataReader {
  /** for messages and the versions' source field: e.g. "backy2:/var/lib/backy2/data" */
  readonly description: string;
  /** The stored bytes of a block (plaintext), or null when there is none. */
  read(block: LegacyBlock): Promise<Buffer | null>;
  /** Whether the bytes match the block's legacy checksum. */
  verify(block: LegacyBlock, data: Buffer): boolean;
}

export type { MigratedVersion };
export type MigrationProblemKind = MigratedVersion['problems'][number]['kind'];

export interface MigrateOptions extends RunOptions {
  versions: LegacyVersion[];
  reader: LegacyDataReader;
  /** the tool the versions come from, for messages: "backy2" or "benji" */
  tool: string;
  /** called when a version starts (for process titles and logs) */
  onVersion?: (version: LegacyVersion, index: number, count: number) => void;
  /** blocks read and checked at once (default: three per worker thread) */
  concurrency?: number;
}

/** What the data of one legacy key became: an object, a sparse block, or a failure. */
type KeyOutcome =
  | { kind: 'object'; id: number; written: boolean }
  | { kind: 'sparse' }
  | { kind: 'failed'; problem: MigrationProblemKind; detail: string };

const ROW_BATCH = 512;
const ROW_FLUSH_MS = 500;
const PLACEHOLDER_LABEL = 'blockvault migration: block failed its legacy checksum or is missing';

/** The source field of a migrated version: "<tool>:<where its data came from>". */
function sourceOf(options: MigrateOptions): string {
  return options.reader.description.startsWith(`${options.tool}:`) ? options.reader.description : `${options.tool}:${options.reader.description}`;
}

/** Checks the whole plan before anything is written: block layout, block size, UID clashes. */
export function checkMigration(repo: Repository, versions: LegacyVersion[], tool: string): void {
  const bs = repo.blockSize;
  const seen = new Set<string>();
  for (const v of versions) {
    if (seen.has(v.uid)) throw new EngineError('BAD_EXPORT', `${tool} version ${v.uid} appears twice; nothing was changed`);
    seen.add(v.uid);
    const expectedBlocks = Math.ceil(v.sizeBytes / bs);
    if (v.sizeBlocks !== expectedBlocks) {
      const theirs = v.sizeBlocks > 0 ? 2 ** Math.ceil(Math.log2(v.sizeBytes / v.sizeBlocks)) : bs;
      throw new EngineError(
        'INVALID_ARGUMENT',
        `${tool} version ${v.uid} has ${v.sizeBlocks} blocks for ${v.sizeBytes} bytes: its block size is about ${theirs}, this repository's is ${bs}; migrate into a repository created with "init --block-size ${theirs}". Nothing was changed.`,
      );
    }
    for (const block of v.blocks) {
      if (block.key === null) continue;
      const expected = Math.min(bs, v.sizeBytes - block.idx * bs);
      if (block.size !== expected) {
        throw new EngineError('INVALID_ARGUMENT', `${tool} version ${v.uid} block ${block.idx} has ${block.size} bytes, a block of this repository there has ${expected}: the block sizes differ (create the repository with the ${tool} block size). Nothing was changed.`);
      }
    }
    const existing = repo.meta.getVersion(v.uid);
    if (existing && !existing.source.startsWith(`${tool}:`)) {
      throw new EngineError('ALREADY_EXISTS', `version ${v.uid} already exists in this repository and was not migrated from ${tool}; nothing was changed`);
    }
  }
}

/** Migrates versions one after the other; see the file comment. */
export async function migrateVersions(repo: Repository, options: MigrateOptions): Promise<MigratedVersion[]> {
  checkMigration(repo, options.versions, options.tool);
  const meta = repo.meta;
  // Oldest first, as they were made (the order of the dumps on the command line is arbitrary).
  const versions = [...options.versions].sort((a, b) => a.date - b.date || a.uid.localeCompare(b.uid));
  const tracker = new ProgressTracker('migrating', options.onProgress, options.progressIntervalMs);
  const c = tracker.counters;
  const pending = versions.filter((v) => meta.getVersion(v.uid)?.state !== VersionState.valid && meta.getVersion(v.uid)?.state !== VersionState.invalid);
  c.bytesTotal = pending.reduce((sum, v) => sum + v.sizeBytes, 0);
  c.blocksTotal = pending.reduce((sum, v) => sum + v.sizeBlocks, 0);
  // Workers hash, compress (encrypt) and store; the main thread reads and checks the legacy data.
  const pool = WorkerPool.take(repo.workerSettings({}));
  /** legacy data key -> what its data became, within this run: the other tool deduplicated too */
  const known = new Map<string, Promise<KeyOutcome>>();
  const results: MigratedVersion[] = [];
  try {
    for (let i = 0; i < versions.length; i++) {
      const version = versions[i];
      const existing = meta.getVersion(version.uid);
      if (existing && existing.state !== VersionState.incomplete) {
        results.push({
          uid: version.uid, name: version.name, outcome: 'already-migrated', status: existing.state === VersionState.valid ? 'valid' : 'invalid',
          blocks: version.sizeBlocks, blocksNew: 0, blocksDedup: 0, blocksSparse: 0, blocksFailedEarlier: 0, problems: [],
        });
        continue;
      }
      options.onVersion?.(version, i, versions.length);
      results.push(await migrateOne(repo, version, options, pool, known, tracker));
    }
  } catch (error) {
    tracker.finish(options.signal?.aborted ? 'canceled' : 'failed');
    if (options.signal?.aborted) throw new EngineError('CANCELED', `migration from ${options.tool} interrupted; run the same command again to resume`);
    throw toEngineError(error);
  } finally {
    await pool.release();
  }
  tracker.finish('done');
  return results;
}

async function migrateOne(
  repo: Repository,
  version: LegacyVersion,
  options: MigrateOptions,
  pool: WorkerPool,
  known: Map<string, Promise<KeyOutcome>>,
  tracker: ProgressTracker,
): Promise<MigratedVersion> {
  const meta = repo.meta;
  const bs = repo.blockSize;
  const c = tracker.counters;
  const lockName = `backup:${version.uid}`;
  meta.acquireLock(lockName, 'shared', `migration of ${options.tool} version ${version.uid} (${version.name})`);
  let storeLock: HeldStoreLock | null = null;
  try {
    storeLock = await takeWriterLock(repo, `migration of ${options.tool} version ${version.uid}`, { signal: options.signal });
    const result: MigratedVersion = {
      uid: version.uid, name: version.name, outcome: 'migrated', status: 'valid', blocks: version.sizeBlocks,
      blocksNew: 0, blocksDedup: 0, blocksSparse: 0, blocksFailedEarlier: 0, problems: [],
    };
    const blockLength = (idx: number): number => Math.min(bs, version.sizeBytes - idx * bs);
    let vid: number;
    const done = new Set<number>();
    const existing = meta.getVersion(version.uid);
    if (existing) {
      result.outcome = 'resumed';
      vid = existing.id;
      // Rows of an interrupted run count only when their objects are in the store: object
      // files are synced at the end of a version, so a crash may have lost some.
      const present = new Map<number, boolean>();
      for (const row of meta.blocks(vid)) {
        if (row.object_id === null) { done.add(row.idx); continue; }
        if (row.object_state === ObjectState.invalid) { done.add(row.idx); result.blocksFailedEarlier++; continue; }
        let ok = present.get(row.object_id);
        if (ok === undefined) {
          ok = (await repo.store.size(objectKey(row.digest!.toString('hex')), options.signal)) !== null;
          present.set(row.object_id, ok);
        }
        if (ok) done.add(row.idx);
        // Its row says live, the store lacks it: invalid, so the block read again writes it.
        else meta.transitionObject(row.object_id, [ObjectState.live, ObjectState.pending], ObjectState.invalid, Date.now());
      }
      for (const idx of done) { c.blocksDone++; c.bytesDone += blockLength(idx); }
    } else {
      vid = meta.transaction(() => {
        const id = meta.createVersion({
          uid: version.uid, name: version.name, snapshot: version.snapshot, date: version.date, size: version.sizeBytes, blockSize: bs,
          baseUid: null, source: sourceOf(options), protected: version.protected,
        });
        for (const tag of version.tags) meta.addTag(id, tag);
        return id;
      });
    }

    const byIdx = new Map<number, LegacyBlock>();
    for (const block of version.blocks) byIdx.set(block.idx, block);
    const graceMs = repo.settings.cleanupGraceSeconds * 1000;
    const rows = new BlockRowWriter(meta, vid, ROW_BATCH, ROW_FLUSH_MS);
    const addRow = (idx: number, objectId: number | null): void => rows.add(idx, objectId);
    const placeholder = (block: LegacyBlock | undefined, idx: number): number => {
      const digest = createHash('sha256').update(`${PLACEHOLDER_LABEL}\0${options.tool}\0${version.uid}\0${idx}\0${block?.key ?? ''}\0${block?.checksum ?? ''}`).digest();
      meta.insertObject(digest, blockLength(idx), ObjectState.invalid, vid, Date.now(), 0);
      return meta.objectByDigest(digest)!.id;
    };
    const fail = (block: LegacyBlock | undefined, idx: number, kind: MigrationProblemKind, detail: string): void => {
      result.problems.push({ idx, kind, detail });
      c.blocksInvalid++;
      addRow(idx, placeholder(block, idx));
    };

    /** The object id for a plaintext block, writing the object when the repository lacks it. */
    /** The object id for a block a worker holds in `slot` (hashed), written when the repository lacks it. */
    const store = async (name: string, length: number, slot: Slot): Promise<{ id: number; written: boolean }> => {
      const { id, write } = await claimObject(meta, Buffer.from(name, 'hex'), length, { versionId: vid, graceMs, signal: options.signal });
      if (write) {
        const stored = await pool.runOn(slot.worker, { op: 'store', slot: slot.slot, key: objectKey(name) });
        rows.live(id, stored.storedSize!);
        c.bytesWritten += stored.storedSize!;
      }
      return { id, written: write };
    };

    /** Reads, checks and stores the data of one legacy key; a worker slot bounds the memory. */
    const loadKey = async (block: LegacyBlock, length: number): Promise<KeyOutcome> => {
      const slot = await pool.acquireSlot();
      try {
        const data = await options.reader.read(block);
        if (data === null) return { kind: 'failed', problem: 'missing', detail: `data of ${options.tool} block ${block.key} is missing from ${options.reader.description}` };
        if (data.length !== length) return { kind: 'failed', problem: 'size', detail: `${options.tool} block ${block.key} holds ${data.length} bytes, the metadata says ${length}` };
        if (!options.reader.verify(block, data)) return { kind: 'failed', problem: 'checksum', detail: `${options.tool} block ${block.key} does not match its checksum ${block.checksum ?? '(none)'}` };
        if (isZero(data)) return { kind: 'sparse' };
        const input = new Uint8Array(data.buffer, data.byteOffset, data.length);
        const own = data.byteOffset === 0 && data.buffer.byteLength === data.length;
        const hashed = await pool.runOn(slot.worker, { op: 'hash', slot: slot.slot, input: { data: input } }, own ? [data.buffer as ArrayBuffer] : undefined);
        if (hashed.zero) return { kind: 'sparse' };
        return { kind: 'object', ...(await store(hashed.digest!, length, slot)) };
      } finally {
        pool.releaseSlot(slot);
      }
    };

    const processBlock = async (idx: number): Promise<void> => {
      const block = byIdx.get(idx);
      const length = blockLength(idx);
      if (!block) {
        fail(block, idx, 'no-row', `the ${options.tool} metadata has no row for block ${idx}`);
      } else if (block.key === null) {
        result.blocksSparse++;
        c.blocksSparse++;
        addRow(idx, null);
      } else {
        // The first block with a key reads it; every later one (in any version) waits for that.
        let outcome = known.get(block.key);
        const first = outcome === undefined;
        if (!outcome) {
          outcome = loadKey(block, length);
          known.set(block.key, outcome);
        }
        const loaded = await outcome;
        if (loaded.kind === 'failed') {
          fail(block, idx, loaded.problem, loaded.detail);
        } else if (loaded.kind === 'sparse') {
          result.blocksSparse++;
          c.blocksSparse++;
          addRow(idx, null);
        } else {
          if (first && loaded.written) { result.blocksNew++; c.blocksNew++; } else { result.blocksDedup++; c.blocksDedup++; }
          addRow(idx, loaded.id);
        }
      }
      c.blocksDone++;
      c.bytesDone += length;
    };

    // Several blocks at once: reads and checks here overlap hashing and compression in the workers.
    const todo: number[] = [];
    for (let idx = 0; idx < version.sizeBlocks; idx++) if (!done.has(idx)) todo.push(idx);
    const concurrency = Math.max(1, options.concurrency ?? pool.size * 3);
    let next = 0;
    let firstError: unknown = null;
    const runner = async (): Promise<void> => {
      while (next < todo.length && !firstError && !options.signal?.aborted) {
        const idx = todo[next++];
        try {
          await processBlock(idx);
        } catch (error) {
          firstError ??= toEngineError(error, `migration of ${options.tool} version ${version.uid} block ${idx}`);
        }
      }
    };
    await Promise.all(Array.from({ length: concurrency }, runner));
    rows.flush();
    if (firstError) throw firstError;
    throwIfAborted(options.signal, 'migration');

    // The store's barrier from this thread, as a backup's (a folder store syncs through its syncer).
    await repo.store.barrier(options.signal);
    const count = meta.blockCount(vid);
    if (count !== version.sizeBlocks) throw new EngineError('INTERNAL', `migrated version ${version.uid} has ${count} block rows, expected ${version.sizeBlocks}`);
    const failed = result.problems.length + result.blocksFailedEarlier;
    result.status = version.valid && failed === 0 ? 'valid' : 'invalid';
    // Sealed and described in the store like a backup's version before it gets its state.
    await finishVersion(repo, vid, version.uid, { state: result.status === 'valid' ? VersionState.valid : VersionState.invalid, signal: options.signal });
    return result;
  } finally {
    await storeLock?.release();
    meta.releaseLock(lockName);
  }
}
