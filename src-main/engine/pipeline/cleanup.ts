// Cleanup: delete objects that no version references. *Fast* cleanup runs beside backups: it
// takes only objects unreferenced for longer than the grace period (a backup touches every
// object it dedupes onto, and references it within seconds) and marks them `deleting` in
// one transaction before removing them, so a backup never dedupes onto a dying object.
// *Full* cleanup is a mark-and-sweep of the whole store under the exclusive repository lock.
// No object referenced by any version, valid or not, is ever deleted.
import { takeCleanupLock, type HeldStoreLock } from '../store-locks';
import type { CleanupResult } from '../../../src-shared/model';
import { EngineError, throwIfAborted, toEngineError } from '../errors';
import { ObjectState, VersionState } from '../meta/schema';
import type { Repository } from '../repository';
import { manifestKeyOf } from '../describe';
import { MANIFEST_PREFIX, objectDigest, objectKey, OBJECT_PREFIX, type StoreEntry } from '../store/index';
import { ProgressTracker, type RunOptions } from './progress';
import { runBounded } from './bounded';
import { RunRetries } from './retries';

export interface CleanupOptions extends RunOptions {
  full?: boolean;
  /** override the repository's grace period (seconds); 0 deletes at once */
  graceSeconds?: number;
}

const DELETE_BATCH = 500;

interface Candidate {
  id: number;
  digest: Buffer;
  stored_size: number;
}

/**
 * The live jobs that write a version into this repository, with when each took its lock:
 * backups, imports and migrations (`backup:UID`) and copies into it (`copy:UID:PID`).
 */
function versionWriters(repo: Repository): Array<{ uid: string; since: number }> {
  return repo.meta.liveLocks().flatMap((lock) => {
    if (lock.name.startsWith('backup:')) return [{ uid: lock.name.slice('backup:'.length), since: lock.since }];
    const copy = /^copy:(.+):\d+$/.exec(lock.name);
    return copy ? [{ uid: copy[1], since: lock.since }] : [];
  });
}

/**
 * Incomplete versions whose backup or copy process is gone (killed or crashed). The writers'
 * locks and the versions are read in one transaction with the removals: a writer takes its
 * lock before it creates its version, so a version that appears after the locks were read
 * belongs to a live writer and must not be taken for an abandoned one.
 */
function removeAbandonedVersions(repo: Repository): string[] {
  const meta = repo.meta;
  return meta.transaction(() => {
    const running = new Set(versionWriters(repo).map((writer) => writer.uid));
    const removed: string[] = [];
    for (const version of meta.listVersions()) {
      if (version.state !== VersionState.incomplete || running.has(version.uid)) continue;
      meta.deleteVersion(version.id, Date.now());
      removed.push(version.uid);
    }
    return removed;
  });
}

/**
 * Fast cleanup takes objects unused since before this moment. Every object a running backup
 * (or copy into this repository) inserted or touched was used after that job took its lock,
 * and a backup skips touching objects used within half the repository's grace period: so
 * while such jobs run, the cutoff is never after the oldest one's start nor inside the
 * repository's grace period, whatever `graceSeconds` asks. Runs inside the marking
 * transaction, which orders it with jobs taking their locks.
 */
function fastCutoff(repo: Repository, graceSeconds: number): number {
  const now = Date.now();
  const writers = versionWriters(repo);
  if (writers.length === 0) return now - graceSeconds * 1000;
  const graceMs = Math.max(graceSeconds, repo.settings.cleanupGraceSeconds) * 1000;
  return Math.min(now - graceMs, ...writers.map((writer) => writer.since));
}

export async function cleanup(repo: Repository, options: CleanupOptions = {}): Promise<CleanupResult> {
  const meta = repo.meta;
  const full = options.full ?? false;
  const graceSeconds = options.graceSeconds ?? repo.settings.cleanupGraceSeconds;
  if (!(graceSeconds >= 0)) throw new EngineError('INVALID_ARGUMENT', 'grace period must be zero or more seconds');
  const tracker = new ProgressTracker(full ? 'full cleanup' : 'cleanup', options.onProgress, options.progressIntervalMs);
  const lockName = full ? 'repository' : `cleanup:${process.pid}`;
  const retries = new RunRetries(repo.store, options.retries);
  meta.acquireLock(lockName, full ? 'exclusive' : 'shared', full ? 'full cleanup' : 'cleanup');
  let storeLock: HeldStoreLock | null = null;
  const result: CleanupResult = { full, objectsDeleted: 0, bytesFreed: 0, temporaryFilesDeleted: 0, incompleteVersionsRemoved: [], objectsWaiting: 0, bytesWaiting: 0 };
  try {
    // Never while another machine writes a version into a shared store (store-locks.ts).
    storeLock = await takeCleanupLock(repo, full ? 'full cleanup' : 'cleanup', options.signal);
    // An S3 repository's cache first learns what other machines added or removed: an object
    // only their versions use is referenced here too.
    await repo.syncWithStore(options.signal);
    result.incompleteVersionsRemoved = removeAbandonedVersions(repo);
    // A backup killed between its manifest and its valid mark leaves a manifest: it goes too.
    for (const uid of result.incompleteVersionsRemoved) await repo.store.delete(manifestKeyOf(uid));
    if (!full) result.bytesFreed += await completeRemovals(repo, options.signal);
    const unreferenced = `NOT EXISTS (SELECT 1 FROM blocks b WHERE b.object_id = o.id)`;

    // Mark: candidates become `deleting` in one transaction, so no backup can pick them now.
    let cutoff = Number.MAX_SAFE_INTEGER;
    const candidates = meta.transaction(() => {
      if (!full) cutoff = fastCutoff(repo, graceSeconds);
      const rows = meta.sql(`SELECT o.id, o.digest, o.stored_size FROM objects o WHERE o.state != ${ObjectState.deleting} AND o.last_used < ? AND ${unreferenced}`).all(cutoff) as Candidate[];
      const mark = meta.sql(`UPDATE objects SET state = ${ObjectState.deleting} WHERE id = ?`);
      for (const row of rows) mark.run(row.id);
      // Left over by an interrupted cleanup: still unreferenced, finish deleting them. Marks
      // of another cleanup that is still running are its own to delete and to report.
      const othersRunning = meta.liveCleanupLocks().some((lock) => lock.name !== lockName);
      const interrupted = othersRunning ? [] : meta.sql(`SELECT o.id, o.digest, o.stored_size FROM objects o WHERE o.state = ${ObjectState.deleting} AND ${unreferenced}`).all() as Candidate[];
      const seen = new Set(rows.map((row) => row.id));
      return rows.concat(interrupted.filter((row) => !seen.has(row.id)));
    });
    tracker.counters.blocksTotal = candidates.length;
    if (!full) {
      const waiting = meta.sql(`SELECT count(*) AS n, coalesce(sum(stored_size), 0) AS bytes FROM objects o WHERE o.state != ${ObjectState.deleting} AND o.last_used >= ? AND ${unreferenced}`).get(cutoff) as { n: number; bytes: number };
      result.objectsWaiting = waiting.n;
      result.bytesWaiting = waiting.bytes;
      // Objects a failed or killed backup wrote but never marked live have no stored size in
      // their rows: what they take is read from the store, so the space shows.
      const unsized = meta.sql(`SELECT o.digest FROM objects o WHERE o.state != ${ObjectState.deleting} AND o.stored_size = 0 AND o.last_used >= ? AND ${unreferenced}`).all(cutoff) as Array<{ digest: Buffer }>;
      await runBounded(unsized, 16, undefined, async (row) => {
        const size = await repo.store.size(objectKey(row.digest.toString('hex')));
        result.bytesWaiting += size ?? 0;
      });
    }

    // Sweep: files first, then rows.
    for (let i = 0; i < candidates.length; i += DELETE_BATCH) {
      throwIfAborted(options.signal, 'cleanup');
      const batch = candidates.slice(i, i + DELETE_BATCH);
      // What a row does not know (an object never marked live) is read from the store first.
      await runBounded(batch, 16, undefined, async (row) => {
        const key = objectKey(row.digest.toString('hex'));
        if (row.stored_size === 0) row.stored_size = (await repo.store.size(key)) ?? 0;
        await repo.store.delete(key);
      });
      // Counted only when this cleanup removed the row: a row another cleanup removed first
      // is that one's to report.
      const removed = meta.transaction(() => {
        const remove = meta.sql(`DELETE FROM objects WHERE id = ? AND state = ${ObjectState.deleting}`);
        return batch.filter((row) => remove.run(row.id).changes === 1);
      });
      for (const row of removed) {
        result.objectsDeleted++;
        result.bytesFreed += row.stored_size;
      }
      tracker.counters.blocksDone = result.objectsDeleted;
      tracker.counters.bytesDone = result.bytesFreed;
    }

    if (full) await sweepStore(repo, result);
    tracker.finish('done');
    return result;
  } catch (error) {
    tracker.finish(options.signal?.aborted ? 'canceled' : 'failed');
    throw toEngineError(error);
  } finally {
    await retries.finish();
    await storeLock?.release();
    meta.releaseLock(lockName);
  }
}

/**
 * Fast cleanup: the removals cut short here (an rm or prune killed between the version's rows
 * and its manifest, or this step above) are completed: their manifests go, before the
 * version's objects do, so `recover` or another machine's cache never brings back a version
 * whose data is deleted. The listing comes before the rows are read: every writer creates a
 * version's row before its manifest, so a manifest listed then that has no row had its version
 * removed. In an S3 repository another machine's new version has no row here yet: only a
 * manifest this cache has seen as a version (its listing stamp unchanged since) goes; one it
 * has not seen is a version the next sync adds (the removal undone). Returns the bytes freed.
 */
async function completeRemovals(repo: Repository, signal?: AbortSignal): Promise<number> {
  const listed: StoreEntry[] = [];
  for await (const entry of repo.store.list(MANIFEST_PREFIX, signal)) if (!entry.temporary) listed.push(entry);
  const versions = new Set(repo.meta.listVersions().map((version) => manifestKeyOf(version.uid)));
  const seen = repo.store.kind === 'folder' ? null : repo.meta.manifestStamps();
  let freed = 0;
  for (const entry of listed) {
    if (versions.has(entry.key)) continue;
    if (seen && (entry.stamp === undefined || seen.get(entry.key) !== entry.stamp)) continue;
    const size = entry.size ?? (await repo.store.size(entry.key)) ?? 0;
    await repo.store.delete(entry.key);
    if (seen) repo.meta.forgetManifestStamp(entry.key);
    freed += size;
  }
  return freed;
}

/**
 * Full cleanup only: objects in the store that no object row names, manifests of no version
 * (an rm or prune killed between the version's rows and its manifest), and leftovers of
 * interrupted writes. Under the exclusive lock nothing writes a new version meanwhile.
 */
async function sweepStore(repo: Repository, result: CleanupResult): Promise<void> {
  const versions = new Set(repo.meta.listVersions().map((version) => manifestKeyOf(version.uid)));
  for await (const entry of repo.store.list(MANIFEST_PREFIX)) {
    if (!entry.temporary && versions.has(entry.key)) continue;
    const size = entry.size ?? (await repo.store.size(entry.key)) ?? 0;
    await repo.store.delete(entry.key);
    result.bytesFreed += size;
    if (entry.temporary) result.temporaryFilesDeleted++;
  }
  const known = repo.meta.sql('SELECT 1 FROM objects WHERE digest = ?');
  for await (const entry of repo.store.list(OBJECT_PREFIX)) {
    if (!entry.temporary && known.get(Buffer.from(objectDigest(entry.key)!, 'hex'))) continue;
    const size = entry.size ?? (await repo.store.size(entry.key)) ?? 0;
    await repo.store.delete(entry.key);
    result.bytesFreed += size;
    if (entry.temporary) result.temporaryFilesDeleted++;
    else result.objectsDeleted++;
  }
}
