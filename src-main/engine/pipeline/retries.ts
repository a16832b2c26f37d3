// Retries of one run (backup, restore, scrub, cleanup), for its job log and --json output: the
// main thread's store, read as a difference (other runs of the process share it, and may add
// to it meanwhile), plus the run's worker pool, whose stores count for this run alone while it
// holds the pool (its counts are zeroed when the run takes it).
import type { ObjectStore } from '../store/port';
import { addRetryCounts, retryCountsOf, retryCountsSince, type RetryCounts } from '../store/retry';
import type { WorkerPool } from '../workers/pool';

export class RunRetries {
  private readonly start: RetryCounts;

  constructor(
    private readonly store: ObjectStore,
    /** where the counts go; nothing is counted without it */
    private readonly into: RetryCounts | undefined,
  ) {
    this.start = retryCountsOf(store);
  }

  /** Zeroes a pool's counts as the run takes it (a parked pool may hold an earlier run's). */
  async takePool(pool: WorkerPool): Promise<void> {
    if (this.into) await pool.takeRetryCounts().catch(() => undefined);
  }

  /** Adds the run's counts to `into` (call once, as the run ends, before the pool is released). */
  async finish(pool?: WorkerPool): Promise<void> {
    if (!this.into) return;
    addRetryCounts(this.into, retryCountsSince(retryCountsOf(this.store), this.start));
    if (pool) addRetryCounts(this.into, await pool.takeRetryCounts().catch(() => ({ retries: 0, exhausted: 0, causes: {} })));
  }
}
