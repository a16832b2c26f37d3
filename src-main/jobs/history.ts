// Job history: jobs persist in the repository's metadata (table `jobs`, migration 2), so the
// GUI, the web mode and `blockvault jobs` all see past runs. A job row names the process that
// runs it; a queued or running row whose process is gone was interrupted and reads as failed.
import { hostname } from 'node:os';
import type { Job, JobLogLine, JobResult } from '../../src-shared/api/types';
import type { SerializedError } from '../../src-shared/api/errors';
import type { Progress } from '../../src-shared/model';
import { processAlive, type Metadata } from '../engine/meta/database';

interface JobRow {
  id: string;
  kind: Job['kind'];
  state: Job['state'];
  title: string;
  params: string;
  progress: string | null;
  result: string | null;
  error: string | null;
  logs: string;
  created: number;
  started: number | null;
  ended: number | null;
  pid: number;
  host: string;
}


const iso = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const ms = (text: string | null): number | null => (text === null ? null : Date.parse(text));

export const INTERRUPTED: SerializedError = { code: 'INTERNAL', message: 'interrupted: the process that ran this job exited before it finished' };

export class JobHistory {
  private readonly host = hostname();

  constructor(private readonly meta: Metadata) {}

  /** Inserts or replaces a job's row. */
  save(job: Job): void {
    this.meta.sql(
      `INSERT INTO jobs(id, kind, state, title, params, progress, result, error, logs, created, started, ended, pid, host)
       VALUES (@id, @kind, @state, @title, @params, @progress, @result, @error, @logs, @created, @started, @ended, @pid, @host)
       ON CONFLICT(id) DO UPDATE SET state = excluded.state, progress = excluded.progress, result = excluded.result,
         error = excluded.error, logs = excluded.logs, started = excluded.started, ended = excluded.ended`,
    ).run({
      id: job.id,
      kind: job.kind,
      state: job.state,
      title: job.title,
      params: JSON.stringify(job.params),
      progress: job.progress ? JSON.stringify(job.progress) : null,
      result: job.result ? JSON.stringify(job.result) : null,
      error: job.error ? JSON.stringify(job.error) : null,
      logs: JSON.stringify(job.logs),
      created: ms(job.created),
      started: ms(job.started),
      ended: ms(job.ended),
      pid: process.pid,
      host: this.host,
    });
  }

  /** Newest first. `logLines` keeps the last lines of each job's log (all when undefined). */
  list(limit = 200, logLines?: number): Job[] {
    const rows = this.meta.sql('SELECT * FROM jobs ORDER BY created DESC, id DESC LIMIT ?').all(limit) as JobRow[];
    return rows.map((row) => this.toJob(row, logLines));
  }

  get(id: string): Job | undefined {
    const row = this.meta.sql('SELECT * FROM jobs WHERE id = ?').get(id) as JobRow | undefined;
    return row ? this.toJob(row) : undefined;
  }

  /** Marks this host's unfinished jobs of dead processes as failed; returns how many. */
  markInterrupted(): number {
    const rows = this.meta.sql(`SELECT * FROM jobs WHERE state IN ('queued', 'running', 'canceling')`).all() as JobRow[];
    let count = 0;
    for (const row of rows) {
      if (!this.interrupted(row)) continue;
      this.meta.sql('UPDATE jobs SET state = ?, error = ?, ended = ? WHERE id = ?').run('failed', JSON.stringify(INTERRUPTED), Date.now(), row.id);
      count++;
    }
    return count;
  }

  private interrupted(row: JobRow): boolean {
    return row.host === this.host && row.pid !== process.pid && !processAlive(row.pid);
  }

  private toJob(row: JobRow, logLines?: number): Job {
    const logs = JSON.parse(row.logs) as JobLogLine[];
    const job: Job = {
      id: row.id,
      kind: row.kind,
      state: row.state,
      title: row.title,
      params: JSON.parse(row.params) as Job['params'],
      progress: row.progress ? (JSON.parse(row.progress) as Progress) : null,
      created: iso(row.created)!,
      started: iso(row.started),
      ended: iso(row.ended),
      result: row.result ? (JSON.parse(row.result) as JobResult) : null,
      error: row.error ? (JSON.parse(row.error) as SerializedError) : null,
      logs: logLines === undefined ? logs : logs.slice(-logLines),
      foreign: row.pid !== process.pid || row.host !== this.host,
    };
    if ((job.state === 'queued' || job.state === 'running' || job.state === 'canceling') && this.interrupted(row)) {
      job.state = 'failed';
      job.error = INTERRUPTED;
    }
    return job;
  }
}
