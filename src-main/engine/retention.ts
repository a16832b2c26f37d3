// Retention: which versions of a disk the keep rules keep, and why. Nouns: a *period* is the
// hour, day, ISO week, month or year a version falls in, on the wall clock of a time zone.
// The counting is Proxmox Backup Server's: rules apply in the order last, hourly, daily,
// weekly, monthly, yearly; going from the newest version to the oldest, a rule keeps the
// newest version of each period it has not seen yet, until it has kept N, and marks the older
// versions of a period it kept for removal. A version already decided is skipped, and a period
// that holds a version kept by an earlier rule is not counted again. Protected versions and versions
// carrying a keep-tagged tag are kept first and counted by no rule; a version younger than
// the repository's minimum age is kept whatever the rules say; an incomplete or invalid
// version is never removed by rules (a running backup; data to look at) and never counted.
import type { PruneDecision, Retention, RetentionRule } from '../../src-shared/api/policy';
import { RETENTION_RULES } from '../../src-shared/api/policy';
import { wallClock } from '../../src-shared/api/schedule';
import type { Version } from '../../src-shared/model';

const RULE_WORD: Record<RetentionRule, string> = { keepLast: 'last', keepHourly: 'hourly', keepDaily: 'daily', keepWeekly: 'weekly', keepMonthly: 'monthly', keepYearly: 'yearly' };
const PERIOD_WORD: Record<RetentionRule, string> = { keepLast: 'version', keepHourly: 'hour', keepDaily: 'day', keepWeekly: 'week', keepMonthly: 'month', keepYearly: 'year' };
const RULE_OPTION: Record<RetentionRule, string> = { keepLast: 'keep-last', keepHourly: 'keep-hourly', keepDaily: 'keep-daily', keepWeekly: 'keep-weekly', keepMonthly: 'keep-monthly', keepYearly: 'keep-yearly' };

/** ISO 8601 week-numbering year and week of a calendar date. */
function isoWeek(year: number, month: number, day: number): string {
  const date = new Date(Date.UTC(year, month - 1, day));
  const weekday = date.getUTCDay() || 7;
  date.setUTCDate(date.getUTCDate() + 4 - weekday);
  const weekYear = date.getUTCFullYear();
  const week = Math.ceil(((date.getTime() - Date.UTC(weekYear, 0, 1)) / 86_400_000 + 1) / 7);
  return `${weekYear}/${String(week).padStart(2, '0')}`;
}

function periodOf(rule: RetentionRule, time: number, zone: string, uid: string): string {
  if (rule === 'keepLast') return uid;
  const w = wallClock(time, zone);
  const pad = (n: number): string => String(n).padStart(2, '0');
  switch (rule) {
    case 'keepHourly': return `${w.year}-${pad(w.month)}-${pad(w.day)} ${pad(w.hour)}`;
    case 'keepDaily': return `${w.year}-${pad(w.month)}-${pad(w.day)}`;
    case 'keepWeekly': return isoWeek(w.year, w.month, w.day);
    case 'keepMonthly': return `${w.year}-${pad(w.month)}`;
    default: return String(w.year);
  }
}

export interface RetentionOptions {
  now: number;
  minAgeDays: number;
  /** wall clock of the periods; default UTC */
  timeZone?: string;
}

/**
 * Decides every version's fate (versions of any names: each name is counted on its own).
 * Returns the decisions newest first.
 */
export function planRetention(versions: Version[], retention: Retention, options: RetentionOptions): PruneDecision[] {
  const zone = options.timeZone ?? 'UTC';
  const byName = new Map<string, Version[]>();
  for (const v of versions) byName.set(v.name, [...(byName.get(v.name) ?? []), v]);
  const decisions: PruneDecision[] = [];
  const tagged = new Set(retention.keepTagged ?? []);
  const rules = RETENTION_RULES.filter((rule) => (retention[rule] ?? 0) > 0);
  for (const list of byName.values()) {
    const sorted = [...list].sort((a, b) => Date.parse(b.date) - Date.parse(a.date) || (a.uid < b.uid ? 1 : -1));
    /** versions decided: kept or removed, with the reason */
    const marks = new Map<string, { keep: boolean; reason: string; byRule: RetentionRule | null }>();
    for (const v of sorted) {
      const pin = (reason: string): void => { marks.set(v.uid, { keep: true, reason, byRule: null }); };
      const tag = v.tags.find((t) => tagged.has(t));
      if (v.protected) pin('kept: protected');
      else if (v.status === 'incomplete') pin('kept: incomplete (a backup running or interrupted; cleanup handles it)');
      else if (v.status === 'invalid') pin('kept: invalid (counted by no rule; scrub it or remove it by hand)');
      else if (tag !== undefined) pin(`kept: tagged ${tag}`);
    }
    /** for versions no rule decided: the last rule whose count ran out before reaching them */
    const beyond = new Map<string, string>();
    for (const rule of rules) {
      const limit = retention[rule]!;
      const period = (v: Version): string => periodOf(rule, Date.parse(v.date), zone, v.uid);
      // Periods that versions kept by earlier rules already hold count for nothing here.
      const held = new Set(sorted.filter((v) => marks.get(v.uid)?.byRule).map(period));
      const kept = new Set<string>();
      for (let i = 0; i < sorted.length; i++) {
        const v = sorted[i];
        if (marks.has(v.uid)) continue;
        const p = period(v);
        if (held.has(p)) continue;
        if (kept.has(p)) {
          marks.set(v.uid, { keep: false, reason: `removed: a newer version is the ${RULE_OPTION[rule]} of its ${PERIOD_WORD[rule]}`, byRule: null });
          continue;
        }
        if (kept.size >= limit) {
          for (const rest of sorted.slice(i)) if (!marks.has(rest.uid)) beyond.set(rest.uid, `removed: beyond ${RULE_OPTION[rule]} ${limit}`);
          break;
        }
        kept.add(p);
        marks.set(v.uid, { keep: true, reason: `kept: ${RULE_WORD[rule]} #${kept.size}`, byRule: rule });
      }
    }
    const youngest = options.now - options.minAgeDays * 86_400_000;
    for (const v of sorted) {
      const mark = marks.get(v.uid);
      let keep = mark?.keep ?? false;
      let reason = mark?.reason ?? beyond.get(v.uid) ?? 'removed: no rule keeps it';
      if (!keep && Date.parse(v.date) > youngest) {
        keep = true;
        reason = `kept: younger than the minimum age of ${options.minAgeDays} days`;
      }
      decisions.push({ uid: v.uid, name: v.name, date: v.date, keep, reason });
    }
  }
  return decisions.sort((a, b) => Date.parse(b.date) - Date.parse(a.date));
}
