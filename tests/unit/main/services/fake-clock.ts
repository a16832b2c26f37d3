// A clock for the scheduler whose timers fire only when a test moves it (no test waits for
// real minutes).
import type { Clock } from '../../../../src-main/services/scheduler';

/** Timers fire only when the test moves the clock. */
export class FakeClock implements Clock {
  private timers: Array<{ at: number; fn: () => void; id: number }> = [];
  private ids = 0;
  constructor(public time: number) {}
  now(): number { return this.time; }
  setTimeout(fn: () => void, ms: number): unknown {
    const id = ++this.ids;
    this.timers.push({ at: this.time + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.timers = this.timers.filter((t) => t.id !== handle);
  }
  /** Moves to `iso`, firing due timers in order; `settle` runs between them (awaits the runs). */
  async moveTo(iso: string, settle: () => Promise<void>): Promise<void> {
    const target = Date.parse(iso);
    for (;;) {
      const next = this.timers.filter((t) => t.at <= target).sort((a, b) => a.at - b.at)[0];
      if (!next) break;
      this.timers = this.timers.filter((t) => t !== next);
      this.time = Math.max(this.time, next.at);
      next.fn();
      await settle();
    }
    this.time = target;
  }
}
