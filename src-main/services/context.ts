// Service context: what every service shares: the open repositories (each a *session*: the
// repository and its own job manager, whose history lives in that repository), which one is
// current for the GUI, the event hub, the user's config and the shell's capabilities (native
// dialogs). Switching the current repository never stops the jobs of another; `bind` gives a
// view pinned to one session, for callers that work on a repository regardless of which one
// the GUI shows (the scheduler, the daemon).
import { relative, resolve } from 'node:path';
import type { PickPurpose } from '../../src-shared/api/types';
import { EngineError } from '../engine/errors';
import type { Repository } from '../engine/repository';
import { JobHistory } from '../jobs/history';
import { JobManager } from '../jobs/manager';
import type { AppConfig } from './config';
import type { EventHub } from './events';
import type { Clock } from './scheduler';

export interface Dialogs {
  pick(purpose: PickPurpose, defaultPath?: string): Promise<string | null>;
}

export interface ServiceOptions {
  mode: 'electron' | 'web' | 'cli' | 'daemon';
  /** folder of the user's settings (recent repositories) */
  configDir?: string;
  /** native dialogs, when the shell has them */
  dialogs?: Dialogs;
  maxConcurrentJobs?: number;
  progressIntervalMs?: number;
  /** add opened repositories to the recent list (default true; the CLI and daemon do not) */
  rememberRecent?: boolean;
  /** run the policies of open repositories (services/scheduler.ts) */
  schedule?: boolean;
  /** the scheduler's clock (tests move a fake one) */
  clock?: Clock;
  /** lines for the operator: scheduler runs, a repository another process serves */
  note?: (line: string) => void;
}

export interface Session {
  repository: Repository;
  jobs: JobManager;
}

export class ServiceContext {
  private readonly sessions = new Map<string, Session>();
  private currentPath: string | null = null;
  /** set on a view made by `bind`: that session, whatever is current */
  private pinned: Session | null = null;
  /** called with a repository's path before it closes */
  readonly closing = new Set<(path: string) => void>();
  /** jobs of no repository (none are submitted; lists read empty) */
  private readonly idleJobs: JobManager;

  constructor(
    readonly options: ServiceOptions,
    readonly events: EventHub,
    readonly config: AppConfig,
  ) {
    this.idleJobs = this.newJobManager();
  }

  private newJobManager(): JobManager {
    return new JobManager({
      maxConcurrent: this.options.maxConcurrentJobs ?? this.config.maxConcurrentJobs(),
      progressIntervalMs: this.options.progressIntervalMs,
      onChange: (job) => this.events.emit('jobChanged', job),
    });
  }

  private get session(): Session | null {
    if (this.pinned) return this.pinned;
    return this.currentPath === null ? null : (this.sessions.get(this.currentPath) ?? null);
  }

  get repo(): Repository | null {
    return this.session?.repository ?? null;
  }

  /** The job manager of the current repository. */
  get jobs(): JobManager {
    return this.session?.jobs ?? this.idleJobs;
  }

  requireRepo(): Repository {
    const repo = this.repo;
    if (!repo) throw new EngineError('NOT_A_REPOSITORY', 'no repository is open; open or create one first');
    return repo;
  }

  /** Jobs running at once in each open repository: applied to every job manager and kept in the user's settings. */
  setMaxConcurrentJobs(value: number): void {
    for (const session of this.sessions.values()) session.jobs.setMaxConcurrent(value);
    this.idleJobs.setMaxConcurrent(value);
    this.config.setMaxConcurrentJobs(value);
  }

  /** Every open repository, with how many jobs each has queued or running. */
  openRepositories(): Array<{ path: string; current: boolean; activeJobs: number }> {
    return [...this.sessions.entries()].map(([path, s]) => ({ path, current: path === this.currentPath, activeJobs: s.jobs.activeCount }));
  }

  /** Adds an opened repository (or, already open, keeps the first one) and makes it current. */
  addRepository(repository: Repository): Repository {
    const existing = this.sessions.get(repository.path);
    if (existing) {
      if (existing.repository !== repository) repository.close();
    } else {
      const jobs = this.newJobManager();
      jobs.setHistory(new JobHistory(repository.meta));
      this.sessions.set(repository.path, { repository, jobs });
    }
    this.currentPath = repository.path;
    return this.sessions.get(repository.path)!.repository;
  }

  /** Makes an open repository current; false when it is not open. */
  switchTo(path: string): boolean {
    if (!this.sessions.has(path)) return false;
    this.currentPath = path;
    return true;
  }

  /** Closes a repository (the current one by default); refused while its jobs are active. */
  closeRepository(path = this.currentPath): void {
    if (path === null) return;
    const session = this.sessions.get(path);
    if (!session) return;
    if (session.jobs.activeCount > 0) throw new EngineError('LOCKED', 'jobs are still running in this repository; wait for them or cancel them first');
    for (const listener of this.closing) listener(path);
    this.sessions.delete(path);
    session.repository.close();
    if (this.currentPath === path) this.currentPath = null;
  }

  /** A view of this context pinned to one open repository. */
  bind(path: string): ServiceContext {
    const session = this.sessions.get(path);
    if (!session) throw new EngineError('NOT_A_REPOSITORY', `${path} is not open`);
    const view = Object.create(this) as ServiceContext;
    view.pinned = session;
    return view;
  }

  /** Refuses paths inside the repository: backing it up into itself or restoring over it. */
  checkOutsideRepository(path: string, what: string): void {
    const repo = this.repo;
    if (!repo) return;
    const rel = relative(repo.path, resolve(path));
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))) {
      throw new EngineError('INVALID_ARGUMENT', `${what} ${path} is inside the repository ${repo.path}; choose a path outside it`);
    }
  }

  /** run first by close(): services that hold resources of their own (NBD servings) stop them */
  readonly closers: Array<() => Promise<void>> = [];

  async close(): Promise<void> {
    await Promise.all(this.closers.map((closer) => closer()));
    await Promise.all([...this.sessions.values()].map((s) => s.jobs.shutdown()));
    for (const path of this.sessions.keys()) for (const listener of this.closing) listener(path);
    for (const session of this.sessions.values()) session.repository.close();
    this.sessions.clear();
    this.currentPath = null;
  }
}
