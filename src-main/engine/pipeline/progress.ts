// Progress: counters a pipeline updates as it goes, and a ticker that reports a copy of
// them at most every `intervalMs` (default 200 ms, 5 per second). `finish` always reports.
import type { Progress } from '../../../src-shared/model';

export type ProgressListener = (progress: Progress) => void;

export interface RunOptions {
  signal?: AbortSignal;
  onProgress?: ProgressListener;
  progressIntervalMs?: number;
}

export class ProgressTracker {
  readonly counters: Progress;
  private readonly started = Date.now();
  private lastReport = 0;

  constructor(
    phase: string,
    private readonly listener: ProgressListener | undefined,
    private readonly intervalMs = 200,
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
  }

  /** Reports if the interval has passed since the last report. */
  tick(): void {
    const now = Date.now();
    if (now - this.lastReport >= this.intervalMs) this.report(now);
  }

  phase(name: string): void {
    this.counters.phase = name;
    this.report(Date.now());
  }

  finish(phase = 'done'): Progress {
    this.counters.phase = phase;
    this.report(Date.now());
    return { ...this.counters };
  }

  private report(now: number): void {
    this.lastReport = now;
    const c = this.counters;
    c.elapsedMs = now - this.started;
    c.rate = c.elapsedMs > 0 ? Math.round((c.bytesDone * 1000) / c.elapsedMs) : 0;
    c.eta = c.rate > 0 && c.bytesTotal >= c.bytesDone ? Math.round((c.bytesTotal - c.bytesDone) / c.rate) : null;
    this.listener?.({ ...c });
  }
}
