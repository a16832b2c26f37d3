// What the GUI charts and lists besides the engine's own reports: the store's bytes over
// time (from the job history, so canceled and failed backups count: their objects stay until
// a cleanup) and per-version space and last verification.
import type { Api } from '../../src-shared/api/contract';
import type { Job, LastVerified, StoragePoint, VersionFacts } from '../../src-shared/api/types';
import type { ScrubRow } from '../engine/meta/database';
import { ObjectState } from '../engine/meta/schema';
import { reportFromRow } from '../engine/pipeline/scrub';
import type { ServiceContext } from './context';
import { storedBytes } from './repository';

type HistoryApi = Pick<Api, 'getStorageHistory' | 'listVersionFacts'>;

/** How a finished job changed the store's bytes, or null when it did not. */
function delta(job: Job): { bytes: number; cause: string } | null {
  if (job.kind === 'backup' || job.kind === 'import') {
    const written = job.progress?.bytesWritten ?? 0;
    if (written === 0 && job.state !== 'succeeded') return null;
    return { bytes: written, cause: job.state === 'succeeded' ? job.kind : `${job.kind} (${job.state})` };
  }
  if (job.kind === 'cleanup' && job.result?.kind === 'cleanup') return { bytes: -job.result.value.bytesFreed, cause: 'cleanup' };
  return null;
}

/**
 * The store's bytes after each job that changed them, oldest first, then `now` at `current`
 * (what the store holds). Bytes stored before the job history began lift the whole line so
 * that it ends at `current`.
 */
export function storageHistory(jobs: Job[], current: number, now: string): StoragePoint[] {
  const finished = jobs.filter((job) => job.ended && (job.state === 'succeeded' || job.state === 'canceled' || job.state === 'failed'));
  finished.sort((a, b) => a.ended!.localeCompare(b.ended!));
  const points: StoragePoint[] = [];
  let total = 0;
  for (const job of finished) {
    const change = delta(job);
    if (!change) continue;
    total += change.bytes;
    points.push({ date: job.ended!, storedBytes: total, cause: change.cause });
  }
  const lift = current - total;
  for (const point of points) point.storedBytes += lift;
  points.push({ date: now, storedBytes: current, cause: 'now' });
  return points;
}

export function historyServices(ctx: ServiceContext): HistoryApi {
  return {
    async getStorageHistory() {
      const repo = ctx.requireRepo();
      return storageHistory(ctx.jobs.list(100_000, 0), storedBytes(repo), new Date().toISOString());
    },
    async listVersionFacts() {
      const repo = ctx.requireRepo();
      const space = repo.meta.sql(
        `WITH vo AS (SELECT DISTINCT version_id, object_id FROM blocks WHERE object_id IS NOT NULL),
              oc AS (SELECT object_id, count(*) AS n FROM vo GROUP BY object_id)
         SELECT v.uid AS uid,
                coalesce(sum(o.stored_size), 0) AS stored,
                coalesce(sum(CASE WHEN oc.n = 1 THEN o.stored_size ELSE 0 END), 0) AS exclusive
         FROM versions v
         LEFT JOIN vo ON vo.version_id = v.id
         LEFT JOIN objects o ON o.id = vo.object_id AND o.state != ${ObjectState.deleting}
         LEFT JOIN oc ON oc.object_id = vo.object_id
         GROUP BY v.id`,
      ).all() as Array<{ uid: string; stored: number; exclusive: number }>;
      const verified = new Map<string, LastVerified>();
      for (const row of repo.meta.sql('SELECT s.* FROM scrubs s JOIN (SELECT version_uid, max(id) AS id FROM scrubs GROUP BY version_uid) last ON last.id = s.id').all() as ScrubRow[]) {
        const report = reportFromRow(row);
        verified.set(report.uid, { date: report.date, ok: report.problems.length === 0, differs: report.problems.length > 0 && report.problems.every((p) => p.kind === 'mismatch'), mode: report.mode, percent: report.percent });
      }
      return space.map((row): VersionFacts => ({ uid: row.uid, storedBytes: row.stored, exclusiveBytes: row.exclusive, lastVerified: verified.get(row.uid) ?? null }));
    },
  };
}
