// Scheduler: runs the policies of the open repositories at their slots, on a clock it is
// given (tests move a fake one). Rules: a slot missed while nothing ran (sleep, daemon down)
// runs once on start; two runs of one policy never overlap (a slot that comes while the last
// run still runs is skipped); a failed run is not retried until the next slot. Each run's
// work is jobs of the repository's job manager (so in the job history); a backup policy's run
// is the backup (its pre and post commands inside the job), then the policy's prune, then a
// fast cleanup. One scheduler serves a repository: it claims it in the metadata, and a
// second process (the desktop app beside a daemon) is told who serves it and stays idle.
import { randomUUID } from 'node:crypto';
import { hasRules, type Policy } from '../../src-shared/api/policy';
import { nextSlot, previousSlot } from '../../src-shared/api/schedule';
import type { Job } from '../../src-shared/api/types';
import { serializeError } from '../engine/errors';
import { claimScheduler, getPolicy, listPolicies, policyRun, recordPolicyRun, releaseScheduler, type StoredPolicy } from '../engine/meta/policies';
import { VersionState } from '../engine/meta/schema';
import type { ServiceContext } from './context';
import { jobServices } from './jobs';
import { submitPolicyBackup } from './policy-backup';
import { submitPrune } from './policies';
import { runCommand } from './shell';

export interface Clock {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** A timer wakes the scheduler at least this often, so clock jumps and sleep are noticed. */
const MAX_SLEEP_MS = 15 * 60_000;

interface Served {
  path: string;
  timers: Map<string, unknown>;
  running: Map<string, Promise<void>>;
}

export interface SchedulerOptions {
  clock?: Clock;
  /** who serves (recorded for the status and for other processes): daemon, electron, web */
  mode: string;
  /** a line for the operator (the daemon prints these) */
  note?: (line: string) => void;
}

export class Scheduler {
  private readonly clock: Clock;
  private readonly id = randomUUID();
  private readonly served = new Map<string, Served>();
  private stopped = false;

  constructor(
    private readonly ctx: ServiceContext,
    private readonly options: SchedulerOptions,
  ) {
    this.clock = options.clock ?? systemClock;
  }

  /** Serves an open repository's policies; LOCKED when another process serves them. */
  attach(path: string): void {
    if (this.served.has(path) || this.stopped) return;
    const repo = this.ctx.bind(path).requireRepo();
    claimScheduler(repo.meta, this.id, this.options.mode);
    this.served.set(path, { path, timers: new Map(), running: new Map() });
    this.plan(path);
  }

  /** Stops serving a repository (its running runs go on; their jobs are the job manager's). */
  detach(path: string): void {
    const served = this.served.get(path);
    if (!served) return;
    for (const timer of served.timers.values()) this.clock.clearTimeout(timer);
    this.served.delete(path);
    const repo = this.ctx.bind(path).repo;
    if (repo) releaseScheduler(repo.meta, this.id);
  }

  serves(path: string): boolean {
    return this.served.has(path);
  }

  /** Plans again after policies changed. */
  refresh(path: string): void {
    if (this.served.has(path)) this.plan(path);
  }

  /** Resolves when no run is in flight. */
  async idle(): Promise<void> {
    for (;;) {
      const running = [...this.served.values()].flatMap((s) => [...s.running.values()]);
      if (running.length === 0) return;
      await Promise.all(running);
    }
  }

  /** Stops planning; runs in flight go on (close the services to cancel them). */
  stop(): void {
    this.stopped = true;
    for (const path of [...this.served.keys()]) this.detach(path);
  }

  private plan(path: string): void {
    const served = this.served.get(path)!;
    const repo = this.ctx.bind(path).requireRepo();
    for (const timer of served.timers.values()) this.clock.clearTimeout(timer);
    served.timers.clear();
    for (const stored of listPolicies(repo.meta)) this.planPolicy(served, stored);
  }

  private planPolicy(served: Served, stored: StoredPolicy): void {
    const { policy } = stored;
    if (!policy.enabled || !policy.schedule || this.stopped) return;
    const repo = this.ctx.bind(served.path).requireRepo();
    const now = this.clock.now();
    const last = policyRun(repo.meta, policy.name).lastSlot ?? stored.created;
    const due = nextSlot(policy.schedule, last);
    if (due === null) return;
    if (due <= now) {
      // Missed (or due this very moment): one run now for the latest slot that passed.
      this.trigger(served, policy.name, previousSlot(policy.schedule, now) ?? due);
      return;
    }
    const wait = Math.min(due - now, MAX_SLEEP_MS);
    const timer = this.clock.setTimeout(() => {
      served.timers.delete(policy.name);
      const current = getPolicy(this.ctx.bind(served.path).requireRepo().meta, policy.name);
      if (current) this.planPolicy(served, current);
    }, wait);
    served.timers.set(policy.name, timer);
  }

  private trigger(served: Served, name: string, slot: number): void {
    const bound = this.ctx.bind(served.path);
    const repo = bound.requireRepo();
    const stored = getPolicy(repo.meta, name);
    if (!stored) return;
    const previous = policyRun(repo.meta, name);
    if (served.running.has(name)) {
      this.options.note?.(`${served.path}: policy ${name}: slot ${new Date(slot).toISOString()} skipped, the last run still runs`);
      recordPolicyRun(repo.meta, name, { ...previous, lastSlot: slot });
    } else {
      recordPolicyRun(repo.meta, name, { ...previous, lastSlot: slot, lastState: 'running', lastError: null });
      const run = this.run(bound, stored.policy, slot).finally(() => {
        served.running.delete(name);
      });
      served.running.set(name, run);
    }
    const after = nextSlot(stored.policy.schedule!, Math.max(slot, this.clock.now()));
    if (after !== null && this.served.has(served.path)) {
      const timer = this.clock.setTimeout(() => {
        served.timers.delete(name);
        const current = getPolicy(this.ctx.bind(served.path).requireRepo().meta, name);
        if (current) this.planPolicy(served, current);
      }, Math.min(Math.max(0, after - this.clock.now()), MAX_SLEEP_MS));
      served.timers.set(name, timer);
    }
  }

  /** One run of a policy: its jobs one after the other; the first that fails ends the run. */
  private async run(ctx: ServiceContext, policy: Policy, slot: number): Promise<void> {
    const repo = ctx.requireRepo();
    this.options.note?.(`${repo.path}: policy ${policy.name}: run for ${new Date(slot).toISOString()}`);
    const jobs: Job[] = [];
    let failure: Job | null = null;
    let error: string | null = null;
    const step = async (start: () => Job | Promise<Job>): Promise<boolean> => {
      const job = await ctx.jobs.wait((await start()).id);
      jobs.push(job);
      if (job.state !== 'succeeded') failure = job;
      return job.state === 'succeeded';
    };
    try {
      if (policy.kind === 'backup') {
        const ok = await step(() => submitPolicyBackup(ctx, policy, this.clock.now()));
        if (ok && policy.retention && hasRules(policy.retention)) {
          if (await step(() => submitPrune(ctx, { name: policy.name }))) await step(() => this.cleanupJob(ctx, false));
        }
      } else if (policy.kind === 'verify') {
        const uids = repo.meta.listVersions().filter((v) => v.state !== VersionState.incomplete).map((v) => v.uid);
        if (uids.length) await step(() => jobServices(ctx).startScrub({ uids, mode: policy.mode ?? 'deep', percent: policy.percent }));
      } else {
        await step(() => this.cleanupJob(ctx, Boolean(policy.full)));
      }
    } catch (thrown) {
      error = `[${serializeError(thrown).code}] ${serializeError(thrown).message}`;
    }
    const failed = failure as Job | null;
    const last = failed ?? jobs[jobs.length - 1] ?? null;
    const state = error ? 'failed' : failed ? failed.state : 'succeeded';
    if (!error && failed?.error) error = `[${failed.error.code}] ${failed.error.message}`;
    try {
      recordPolicyRun(repo.meta, policy.name, { lastSlot: slot, lastJob: last?.id ?? null, lastState: state, lastEnded: new Date(this.clock.now()).toISOString(), lastError: error });
    } catch {
      // The repository closed meanwhile (shutdown): its job history has the outcome.
    }
    this.options.note?.(`${repo.path}: policy ${policy.name}: ${state}${error ? `: ${error}` : ''}`);
    const command = state === 'succeeded' ? policy.notify?.onSuccess : policy.notify?.onFailure;
    if (command) {
      const report = { repository: repo.path, policy: policy.name, kind: policy.kind, slot: new Date(slot).toISOString(), state, error, job: last, jobs };
      try {
        await runCommand(command, { BLOCKVAULT_POLICY: policy.name, BLOCKVAULT_REPO: repo.path, BLOCKVAULT_STATE: state }, `${JSON.stringify(report, null, 2)}\n`);
      } catch (notifyError) {
        this.options.note?.(`${repo.path}: policy ${policy.name}: notification failed: ${(notifyError as Error).message}`);
      }
    }
  }

  private cleanupJob(ctx: ServiceContext, full: boolean): Promise<Job> {
    return jobServices(ctx).startCleanup({ full });
  }
}
