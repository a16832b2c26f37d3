// Pure derivations of the store's state: filtered, sorted and grouped versions, job lists.
// Components call them inside useMemo; tests call them directly.
import type { Job } from '../../src-shared/api/types';
import { isFinished } from '../../src-shared/api/types';
import type { Version } from '../../src-shared/model';
import type { SortKey, VersionFilter } from './slices';

export interface VersionGroup {
  name: string;
  versions: Version[];
  totalSize: number;
  latest: string;
  invalid: number;
}

export function matchesFilter(version: Version, filter: VersionFilter): boolean {
  const text = filter.text.trim().toLowerCase();
  if (text && ![version.name, version.snapshot, version.uid, ...version.tags, version.note ?? ''].some((field) => field.toLowerCase().includes(text))) return false;
  if (filter.status !== 'all' && version.status !== filter.status) return false;
  if (filter.protection === 'protected' && !version.protected) return false;
  if (filter.protection === 'unprotected' && version.protected) return false;
  if (filter.tag && !version.tags.includes(filter.tag)) return false;
  const day = version.date.slice(0, 10);
  if (filter.from && day < filter.from) return false;
  if (filter.to && day > filter.to) return false;
  return true;
}

function compare(a: Version, b: Version, key: SortKey): number {
  switch (key) {
    case 'size':
      return a.size - b.size;
    case 'name':
      return a.name.localeCompare(b.name);
    case 'snapshot':
      return a.snapshot.localeCompare(b.snapshot);
    case 'status':
      return a.status.localeCompare(b.status);
    default:
      return a.date < b.date ? -1 : a.date > b.date ? 1 : 0;
  }
}

/** Versions that pass the filter, grouped by name (disk), each group sorted by the key. */
export function groupVersions(versions: Version[], filter: VersionFilter, sort: { key: SortKey; descending: boolean }): VersionGroup[] {
  const groups = new Map<string, Version[]>();
  for (const version of versions) {
    if (!matchesFilter(version, filter)) continue;
    const list = groups.get(version.name);
    if (list) list.push(version);
    else groups.set(version.name, [version]);
  }
  const sign = sort.descending ? -1 : 1;
  const result: VersionGroup[] = [...groups.entries()].map(([name, list]) => {
    list.sort((a, b) => sign * compare(a, b, sort.key) || sign * compare(a, b, 'date'));
    return {
      name,
      versions: list,
      totalSize: list.reduce((sum, v) => sum + v.size, 0),
      latest: list.reduce((max, v) => (v.date > max ? v.date : max), ''),
      invalid: list.filter((v) => v.status === 'invalid').length,
    };
  });
  const groupSign = sort.key === 'name' ? sign : 1;
  result.sort((a, b) => (sort.key === 'date' ? sign * (a.latest < b.latest ? -1 : a.latest > b.latest ? 1 : 0) : groupSign * a.name.localeCompare(b.name)));
  return result;
}

export function allTags(versions: Version[]): string[] {
  return [...new Set(versions.flatMap((v) => v.tags))].sort();
}

/** Active jobs first (oldest first), then finished ones (newest first). */
export function orderJobs(jobs: Record<string, Job>): { active: Job[]; finished: Job[] } {
  const list = Object.values(jobs);
  const active = list.filter((job) => !isFinished(job.state)).sort((a, b) => a.created.localeCompare(b.created));
  const finished = list.filter((job) => isFinished(job.state)).sort((a, b) => b.created.localeCompare(a.created));
  return { active, finished };
}
