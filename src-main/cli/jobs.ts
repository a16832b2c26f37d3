// `blockvault jobs`: the job history of the repository (every job, whoever started it).
import { humanBytes, humanDuration, localTime } from '../../src-shared/api/format';
import type { Job } from '../../src-shared/api/types';
import { UsageError, type Command } from './commands';
import { table } from './format';

function progressText(job: Job): string {
  const p = job.progress;
  if (!p || p.bytesTotal <= 0) return job.state === 'succeeded' ? '100%' : '';
  return `${Math.floor((p.bytesDone / p.bytesTotal) * 100)}% of ${humanBytes(p.bytesTotal)}`;
}

function duration(job: Job): string {
  if (!job.started) return '';
  const end = job.ended ? Date.parse(job.ended) : Date.now();
  return humanDuration((end - Date.parse(job.started)) / 1000);
}

export const jobsCommand: Command = {
  usage: 'jobs [-l N] [--json]',
  summary: 'list running and past jobs (backups, restores, scrubs, cleanups ... started from the command line, the daemon, the GUI or web mode)',
  options: { limit: { type: 'string', short: 'l' }, json: { type: 'boolean' } },
  args: [0, 0],
  async run(ctx) {
    const limitText = typeof ctx.values.limit === 'string' ? ctx.values.limit : '50';
    const limit = Number(limitText);
    if (!Number.isInteger(limit) || limit < 1 || limit > 10_000) throw new UsageError(`--limit must be a whole number from 1 to 10000, got "${limitText}"`);
    const jobs = await (await ctx.api()).listJobs({ limit });
    if (ctx.values.json) {
      ctx.out(JSON.stringify(jobs, null, 2));
      return;
    }
    if (jobs.length === 0) {
      ctx.err('no jobs');
      return;
    }
    ctx.out(table(
      ['created', 'id', 'kind', 'state', 'progress', 'duration', 'title', 'error'],
      jobs.map((job) => [
        localTime(job.created),
        job.id.slice(0, 8),
        job.kind,
        job.state,
        progressText(job),
        duration(job),
        job.title,
        job.error ? `[${job.error.code}] ${job.error.message}` : '',
      ]),
    ));
  },
};
