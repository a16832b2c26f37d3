// backy2's automatic tags, a per-repository setting (off unless turned on): a backup made
// without tags gets `b_daily` when the newest b_daily version of its name is from an earlier
// day, `b_weekly` when that of b_weekly is at least 7 days old, `b_monthly` when that of
// b_monthly is from at least one calendar month before (local dates, as backy2 computes them).
import type { Repository } from './repository';

export const AUTO_TAGS_SETTING = 'backy2_auto_tags';
export const AUTO_TAGS = ['b_daily', 'b_weekly', 'b_monthly'] as const;

function localDay(ms: number): Date {
  const date = new Date(ms);
  return new Date(date.getFullYear(), date.getMonth(), date.getDate());
}

/** Whole months from `from` to `to` (both local days), as dateutil's relativedelta counts them. */
function wholeMonths(from: Date, to: Date): number {
  let months = (to.getFullYear() - from.getFullYear()) * 12 + (to.getMonth() - from.getMonth());
  if (to.getDate() < from.getDate()) months--;
  return months;
}

/** The tags backy2 would give a new backup of `name` at `now` (ms), from the versions so far. */
export function autoTagsFor(versions: ReadonlyArray<{ name: string; date: number; tags: readonly string[] }>, name: string, now: number): string[] {
  const today = localDay(now);
  const last = (tag: string): Date | null => {
    let newest: number | null = null;
    for (const v of versions) if (v.name === name && v.tags.includes(tag) && (newest === null || v.date > newest)) newest = v.date;
    return newest === null ? null : localDay(newest);
  };
  const days = (from: Date): number => Math.round((today.getTime() - from.getTime()) / 86_400_000);
  const tags: string[] = [];
  const daily = last('b_daily');
  if (!daily || days(daily) > 0) tags.push('b_daily');
  const weekly = last('b_weekly');
  if (!weekly || Math.floor(days(weekly) / 7) > 0) tags.push('b_weekly');
  const monthly = last('b_monthly');
  if (!monthly || wholeMonths(monthly, today) > 0) tags.push('b_monthly');
  return tags;
}

/** The automatic tags of a new backup of `name`, or [] when the setting is off. */
export function autoTags(repo: Repository, name: string, now = Date.now()): string[] {
  if (!repo.settings.backy2AutoTags) return [];
  const versions = repo.meta.listVersions({ name }).map((row) => ({ name: row.name, date: row.date, tags: row.tags ? row.tags.split(',') : [] }));
  return autoTagsFor(versions, name, now);
}
