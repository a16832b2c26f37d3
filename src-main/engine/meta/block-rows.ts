// What every writer of a version shares (backup, copy into a repository, import of a legacy
// repository): claiming the object row a block will point at, and writing block rows and
// newly stored objects in batched transactions.
//
// The object states (schema.ts) decide what a claim does:
//   none      -> a new `pending` row; the caller writes the object, then marks it live
//   live      -> used as it is (touched, so a cleanup that starts now keeps it)
//   pending   -> being written by another job, or left by a killed one: written again (same
//                name, same bytes), which makes this version independent of the other job
//   invalid   -> scrub found the stored copy damaged: written again, which heals it
//   deleting  -> a cleanup is deleting it: a stale mark of a killed cleanup is taken back at
//                once (the row becomes pending and is written again); a live cleanup is waited
//                for at most DELETING_WAIT_MS and then reported, never waited on forever.
import { EngineError } from '../errors';
import type { Metadata } from './database';
import { ObjectState } from './schema';

/** How long a writer waits for a live cleanup to finish deleting an object it needs. */
export const DELETING_WAIT_MS = 20_000;
const DELETING_POLL_MS = 50;

export interface ObjectClaim {
  /** the object row the block rows point at */
  id: number;
  /** the caller must store the object (then report it with BlockRowWriter.live) */
  write: boolean;
  /** the row was `invalid`: whatever the store holds under that name is damaged */
  damaged: boolean;
}

export interface ClaimOptions {
  /** the version being written (owner of a new pending row) */
  versionId: number;
  /**
   * A live object used within half of the cleanup grace period is not touched again (a
   * cleanup keeps objects used within the grace period); 0 touches every time.
   */
  graceMs: number;
  signal?: AbortSignal;
}

/** The object row for a block of `length` plaintext bytes named `key`, claimed for writing if needed. */
export async function claimObject(meta: Metadata, key: Buffer, length: number, options: ClaimOptions): Promise<ObjectClaim> {
  let waitingSince: number | undefined;
  for (;;) {
    const now = Date.now();
    const row = meta.objectByDigest(key);
    if (!row) {
      const id = meta.insertObject(key, length, ObjectState.pending, options.versionId, now);
      if (id !== null) return { id, write: true, damaged: false };
    } else if (row.state === ObjectState.live) {
      if (row.last_used >= now - options.graceMs / 2 || meta.touchObject(row.id, now)) return { id: row.id, write: false, damaged: false };
    } else if (row.state === ObjectState.pending) {
      if (meta.touchObject(row.id, now)) return { id: row.id, write: true, damaged: false };
    } else if (row.state === ObjectState.invalid) {
      if (meta.transitionObject(row.id, [ObjectState.invalid], ObjectState.pending, now)) return { id: row.id, write: true, damaged: true };
    } else {
      const cleanups = meta.reclaimDeletingObject(row.id, now);
      if (cleanups.length > 0) {
        waitingSince ??= now;
        if (now - waitingSince > DELETING_WAIT_MS) {
          const holder = cleanups[0];
          throw new EngineError('LOCKED', `object ${key.toString('hex').slice(0, 12)}.. is being deleted by a cleanup that has not finished in ${DELETING_WAIT_MS / 1000} s (pid ${holder.pid} on ${holder.host} since ${new Date(holder.since).toISOString()}); stop it or wait for it, then run again`);
        }
        if (options.signal?.aborted) throw new EngineError('CANCELED', 'canceled while waiting for a cleanup');
        await new Promise((resolve) => setTimeout(resolve, DELETING_POLL_MS));
      }
    }
    // Any other case lost a race with another writer or a cleanup: look at the row again.
  }
}

/**
 * Block rows and newly stored objects of one version, written in one transaction every
 * `batch` rows or `flushMs` milliseconds (one transaction per block would cost more than the
 * block's hashing). An object is marked live in the same transaction as the first rows that
 * point at it, or earlier: never a row pointing at an object still pending after a flush.
 */
export class BlockRowWriter {
  private rows: Array<[number, number | null]> = [];
  private objects: Array<{ id: number; storedSize: number }> = [];
  private lastFlush = Date.now();

  constructor(
    private readonly meta: Metadata,
    private readonly versionId: number,
    private readonly batch = 2048,
    private readonly flushMs = 500,
  ) {}

  /** Block `idx` points at object `objectId` (null: a sparse, all-zero block). */
  add(idx: number, objectId: number | null): void {
    this.rows.push([idx, objectId]);
    if (this.rows.length >= this.batch || Date.now() - this.lastFlush >= this.flushMs) this.flush();
  }

  /** The object `id` was stored (durable once the store's barrier has run) with this size. */
  live(id: number, storedSize: number): void {
    this.objects.push({ id, storedSize });
  }

  flush(): void {
    if (this.rows.length === 0 && this.objects.length === 0) return;
    const now = Date.now();
    this.meta.transaction(() => {
      if (this.objects.length) this.meta.markObjectsLive(this.objects, now);
      if (this.rows.length) this.meta.insertBlocks(this.versionId, this.rows);
    });
    this.rows = [];
    this.objects = [];
    this.lastFlush = now;
  }
}
