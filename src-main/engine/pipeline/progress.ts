// Progress: counters a pipeline updates as it goes, and a ticker (a timer, so a stalled
// source still shows) that reports a copy of them every `intervalMs` (default 200 ms, 5 per
// second) while there is a listener. `finish` stops the ticker and always reports.
import type { Progress } from '../../../src-shared/model';
import type { RetryCounts } from '../store/retry';

export type ProgressListener = (progress: Progress) => void;

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  progressIntervalMs?: number;
  /** the store requests this run retried are added here, whether it succeeds or fails (see retries.ts) */
  retries?: RetryCounts;
}

export class ProgressTracker {
  readonly counters: Progress;
  private readonly started = Date.now();
  private timer: NodeJS.Timeout | null = null;

  constructor(
    phase: string,
    private readonly listener: ProgressListener | undefined,
    intervalMs = 200,
  ) {
    this.counters = {
      phase,
      bytesDone: 0,
      bytesTotal: 0,
      blocksDone: 0,
      blocksTotal: 0,
      blocksNew: 0,
      blocksDedup: 0,
      blocksSparse: 0,
      blocksFromBase: 0,
      blocksInvalid: 0,
      bytesWritten: 0,
      rate: 0,
      eta: null,
      elapsedMs: 0,
    };
    if (listener) {
      this.timer = setInterval(() => this.report(Date.now()), intervalMs);
      this.timer.unref();
    }
  }

  phase(name: string): void {
    this.counters.phase = name;
    this.report(Date.now());
  }

  finish(phase = 'done'): Progress {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.counters.phase = phase;
    this.report(Date.now());
    return { ...this.counters };
  }

  private report(now: number): void {
    const c = this.counters;
    c.elapsedMs = now - this.started;
    c.rate = c.elapsedMs > 0 ? Math.round((c.bytesDone * 1000) / c.elapsedMs) : 0;
    c.eta = c.rate > 0 && c.bytesTotal >= c.bytesDone ? Math.round((c.bytesTotal - c.bytesDone) / c.rate) : null;
    this.listener?.({ ...c });
  }
}
