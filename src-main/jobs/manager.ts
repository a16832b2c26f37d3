// Job manager: long work (backup, restore, scrub, cleanup, import, export) runs as a *job*.
// `submit` returns the job at once in state `queued`; a queue starts up to `maxConcurrent`
// jobs (an *exclusive* job, such as a full cleanup, runs alone). Progress reaches listeners
// at most every `progressIntervalMs` (5 per second by default); every state change and the
// final state are always sent at once. Cancel is cooperative: the job's AbortSignal fires,
// the job reads `canceling` until its work stops, then `canceled`. Jobs persist in the
// repository's history (see history.ts) on every state change and every few seconds.
import { randomUUID } from 'node:crypto';
import type { Job, JobKind, JobLogLine, JobParams, JobResult } from '../../src-shared/api/types';
import { isFinished } from '../../src-shared/api/types';
import type { Progress } from '../../src-shared/model';
import { EngineError, serializeError } from '../engine/errors';
import type { JobHistory } from './history';

export interface JobContext {
  signal: AbortSignal;
  onProgress(progress: Progress): void;
  log(message: string, level?: JobLogLine['level']): void;
}

export interface JobSpec {
  kind: JobKind;
  title: string;
  params: JobParams;
  /** runs alone: waits for running jobs to end, and later jobs wait for it */
  exclusive?: boolean;
  run(context: JobContext): Promise<JobResult>;
}

export interface JobManagerOptions {
  maxConcurrent?: number;
  progressIntervalMs?: number;
  persistIntervalMs?: number;
  maxLogLines?: number;
  history?: JobHistory | null;
  onChange?: (job: Job) => void;
}

interface Entry {
  job: Job;
  spec: JobSpec;
  controller: AbortController;
  lastEmit: number;
  emitTimer: ReturnType<typeof setTimeout> | null;
  lastPersist: number;
  done: Promise<void>;
  resolveDone: () => void;
}

/** A copy safe to hand out: later updates do not change it. */
function snapshot(job: Job, logLines?: number): Job {
  return { ...job, params: { ...job.params }, progress: job.progress ? { ...job.progress } : null, logs: logLines === undefined ? [...job.logs] : job.logs.slice(-logLines) };
}

export class JobManager {
  private readonly entries = new Map<string, Entry>();
  private readonly queue: Entry[] = [];
  private readonly running = new Set<Entry>();
  private maxConcurrent: number;
  private readonly progressIntervalMs: number;
  private readonly persistIntervalMs: number;
  private readonly maxLogLines: number;
  private history: JobHistory | null;
  private readonly onChange: (job: Job) => void;

  constructor(options: JobManagerOptions = {}) {
    this.maxConcurrent = options.maxConcurrent ?? 2;
    this.progressIntervalMs = options.progressIntervalMs ?? 200;
    this.persistIntervalMs = options.persistIntervalMs ?? 2000;
    this.maxLogLines = options.maxLogLines ?? 1000;
    this.history = options.history ?? null;
    this.onChange = options.onChange ?? (() => {});
  }

  /** Jobs queued, running or canceling in this process. */
  get activeCount(): number {
    return this.queue.length + this.running.size;
  }

  get maxConcurrentJobs(): number {
    return this.maxConcurrent;
  }

  setMaxConcurrent(value: number): void {
    this.maxConcurrent = value;
    this.pump();
  }

  /** Switches the history store (a repository was opened); only while no job is active. */
  setHistory(history: JobHistory | null): void {
    if (this.activeCount > 0) throw new EngineError('LOCKED', 'jobs are still running; wait for them or cancel them first');
    this.history = history;
    for (const [id, entry] of this.entries) if (isFinished(entry.job.state)) this.entries.delete(id);
    history?.markInterrupted();
  }

  submit(spec: JobSpec): Job {
    const job: Job = {
      id: randomUUID(),
      kind: spec.kind,
      state: 'queued',
      title: spec.title,
      params: spec.params,
      progress: null,
      created: new Date().toISOString(),
      started: null,
      ended: null,
      result: null,
      error: null,
      logs: [],
      foreign: false,
    };
    let resolveDone!: () => void;
    const done = new Promise<void>((resolve) => { resolveDone = resolve; });
    const entry: Entry = { job, spec, controller: new AbortController(), lastEmit: 0, emitTimer: null, lastPersist: 0, done, resolveDone };
    this.entries.set(job.id, entry);
    this.appendLog(entry, `queued: ${spec.title}`);
    this.queue.push(entry);
    this.changed(entry);
    this.pump();
    return snapshot(job);
  }

  get(id: string): Job {
    const entry = this.entries.get(id);
    if (entry) return snapshot(entry.job);
    const stored = this.history?.get(id);
    if (!stored) throw new EngineError('NOT_FOUND', `job ${id} not found`);
    return stored;
  }

  /** Newest first: this process's jobs merged with the persisted history. */
  list(limit = 200, logLines = 20): Job[] {
    const byId = new Map<string, Job>();
    for (const job of this.history?.list(limit, logLines) ?? []) byId.set(job.id, job);
    for (const entry of this.entries.values()) byId.set(entry.job.id, snapshot(entry.job, logLines));
    return [...byId.values()].sort((a, b) => (a.created < b.created ? 1 : a.created > b.created ? -1 : 0)).slice(0, limit);
  }

  cancel(id: string): Job {
    const entry = this.entries.get(id);
    if (!entry) {
      const stored = this.history?.get(id);
      if (!stored) throw new EngineError('NOT_FOUND', `job ${id} not found`);
      if (isFinished(stored.state)) return stored;
      throw new EngineError('LOCKED', `job ${id} runs in another process (${stored.title}); cancel it there`);
    }
    const job = entry.job;
    if (job.state === 'queued') {
      this.queue.splice(this.queue.indexOf(entry), 1);
      job.state = 'canceled';
      job.ended = new Date().toISOString();
      job.error = { code: 'CANCELED', message: 'canceled before it started' };
      this.appendLog(entry, 'canceled before it started', 'warn');
      this.changed(entry);
      entry.resolveDone();
    } else if (job.state === 'running') {
      job.state = 'canceling';
      this.appendLog(entry, 'cancel requested; stopping', 'warn');
      entry.controller.abort();
      this.changed(entry);
    }
    return snapshot(job);
  }

  /** Resolves when the job has ended. */
  wait(id: string): Promise<Job> {
    const entry = this.entries.get(id);
    if (!entry) return Promise.resolve(this.get(id));
    return entry.done.then(() => snapshot(entry.job));
  }

  /** Cancels everything and waits until every job has ended (shutdown). */
  async shutdown(): Promise<void> {
    const active = [...this.queue, ...this.running];
    for (const entry of active) this.cancel(entry.job.id);
    await Promise.all(active.map((entry) => entry.done));
  }

  private pump(): void {
    while (this.queue.length > 0) {
      const next = this.queue[0];
      const exclusiveRunning = [...this.running].some((entry) => entry.spec.exclusive);
      if (exclusiveRunning || this.running.size >= this.maxConcurrent) return;
      if (next.spec.exclusive && this.running.size > 0) return;
      this.queue.shift();
      this.start(next);
    }
  }

  private start(entry: Entry): void {
    const job = entry.job;
    job.state = 'running';
    job.started = new Date().toISOString();
    this.running.add(entry);
    this.appendLog(entry, 'started');
    this.changed(entry);
    const context: JobContext = {
      signal: entry.controller.signal,
      onProgress: (progress) => {
        job.progress = progress;
        this.progressed(entry);
      },
      log: (message, level = 'info') => this.appendLog(entry, message, level),
    };
    let run: Promise<JobResult>;
    try {
      run = entry.spec.run(context);
    } catch (error) {
      run = Promise.reject(error);
    }
    run.then(
      (result) => {
        job.state = 'succeeded';
        job.result = result;
        this.appendLog(entry, 'succeeded');
      },
      (error: unknown) => {
        const serialized = serializeError(error);
        if (serialized.code === 'CANCELED' || entry.controller.signal.aborted) {
          job.state = 'canceled';
          job.error = { code: 'CANCELED', message: serialized.code === 'CANCELED' ? serialized.message : `canceled (${serialized.message})` };
          this.appendLog(entry, job.error.message, 'warn');
        } else {
          job.state = 'failed';
          job.error = serialized;
          this.appendLog(entry, `failed [${serialized.code}]: ${serialized.message}`, 'error');
        }
      },
    ).finally(() => {
      job.ended = new Date().toISOString();
      this.running.delete(entry);
      this.changed(entry);
      entry.resolveDone();
      this.pump();
    });
  }

  private appendLog(entry: Entry, message: string, level: JobLogLine['level'] = 'info'): void {
    const logs = entry.job.logs;
    logs.push({ time: new Date().toISOString(), level, message });
    if (logs.length > this.maxLogLines) logs.splice(0, logs.length - this.maxLogLines);
  }

  /** A state change: sent and persisted at once. */
  private changed(entry: Entry): void {
    if (entry.emitTimer) clearTimeout(entry.emitTimer);
    entry.emitTimer = null;
    this.persist(entry);
    this.emit(entry);
  }

  /** Progress only: throttled, with a trailing send so the latest counters always arrive. */
  private progressed(entry: Entry): void {
    const now = Date.now();
    if (now - entry.lastPersist >= this.persistIntervalMs) this.persist(entry);
    if (entry.emitTimer) return;
    const wait = entry.lastEmit + this.progressIntervalMs - now;
    if (wait <= 0) {
      this.emit(entry);
      return;
    }
    entry.emitTimer = setTimeout(() => {
      entry.emitTimer = null;
      if (!isFinished(entry.job.state)) this.emit(entry);
    }, wait);
  }

  private emit(entry: Entry): void {
    entry.lastEmit = Date.now();
    this.onChange(snapshot(entry.job, 20));
  }

  private persist(entry: Entry): void {
    entry.lastPersist = Date.now();
    try {
      this.history?.save(entry.job);
    } catch (error) {
      // History is a record, not the work: a busy or read-only database must not fail the job.
      const message = `could not save job history: ${(error as Error).message}`;
      if (entry.job.logs[entry.job.logs.length - 1]?.message !== message) this.appendLog(entry, message, 'warn');
    }
  }
}
