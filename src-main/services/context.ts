// Service context: what every service shares: the open repository (at most one), the job
// manager, the event hub, the user's config and the shell's capabilities (native dialogs).
import { relative, resolve } from 'node:path';
import type { PickPurpose } from '../../src-shared/api/types';
import { EngineError } from '../engine/errors';
import type { Repository } from '../engine/repository';
import { JobHistory } from '../jobs/history';
import { JobManager } from '../jobs/manager';
import type { AppConfig } from './config';
import type { EventHub } from './events';

export interface Dialogs {
  pick(purpose: PickPurpose, defaultPath?: string): Promise<string | null>;
}

export interface ServiceOptions {
  mode: 'electron' | 'web' | 'cli';
  /** folder of the user's settings (recent repositories) */
  configDir?: string;
  /** native dialogs, when the shell has them */
  dialogs?: Dialogs;
  maxConcurrentJobs?: number;
  progressIntervalMs?: number;
}

export class ServiceContext {
  private repository: Repository | null = null;
  readonly jobs: JobManager;

  constructor(
    readonly options: ServiceOptions,
    readonly events: EventHub,
    readonly config: AppConfig,
  ) {
    this.jobs = new JobManager({
      maxConcurrent: options.maxConcurrentJobs ?? config.maxConcurrentJobs(),
      progressIntervalMs: options.progressIntervalMs,
      onChange: (job) => events.emit('jobChanged', job),
    });
  }

  get repo(): Repository | null {
    return this.repository;
  }

  requireRepo(): Repository {
    if (!this.repository) throw new EngineError('NOT_A_REPOSITORY', 'no repository is open; open or create one first');
    return this.repository;
  }

  /** Replaces the open repository; refused while jobs are active. */
  setRepository(repository: Repository | null): void {
    if (this.jobs.activeCount > 0) {
      repository?.close();
      throw new EngineError('LOCKED', 'jobs are still running in this repository; wait for them or cancel them first');
    }
    this.jobs.setHistory(repository ? new JobHistory(repository.meta) : null);
    this.repository?.close();
    this.repository = repository;
  }

  /** Refuses paths inside the open repository: backing it up into itself or restoring over it. */
  checkOutsideRepository(path: string, what: string): void {
    if (!this.repository) return;
    const rel = relative(this.repository.path, resolve(path));
    if (rel === '' || (!rel.startsWith('..') && !rel.startsWith('/'))) {
      throw new EngineError('INVALID_ARGUMENT', `${what} ${path} is inside the repository ${this.repository.path}; choose a path outside it`);
    }
  }

  async close(): Promise<void> {
    await this.jobs.shutdown();
    this.repository?.close();
    this.repository = null;
  }
}
