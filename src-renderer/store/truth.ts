// What the screens say about outcomes, derived in one place so that words match numbers:
// a job's outcome (a scrub that found problems is not a plain "succeeded"), scrub headlines,
// the scrub picture's counts, progress lines, Settings fields checked with the contract's
// schema, and distinct chart labels. Pure functions; tests call them directly.
import { humanBytes, humanDuration, localTime, plural } from '../../src-shared/api/format';
import { SCHEMAS } from '../../src-shared/api/schemas';
import type { Progress, ScrubReport } from '../../src-shared/model';

export { jobOutcome, type JobOutcome, type Tone } from '../../src-shared/api/outcome';

/** The headline of a scrub report, by kind of problem, matching its counts. */
export function scrubHeadline(report: ScrubReport): string {
  if (report.problems.length === 0) return 'No problems found';
  const of = (kind: 'invalid' | 'missing' | 'mismatch'): number => report.problems.filter((p) => p.kind === kind).length;
  const damaged: string[] = [];
  if (of('invalid')) damaged.push(plural(of('invalid'), 'invalid block'));
  if (of('missing')) damaged.push(plural(of('missing'), 'missing block'));
  const parts: string[] = [];
  if (damaged.length) parts.push(`${damaged.join(' and ')} found`);
  if (of('mismatch')) parts.push(`${plural(of('mismatch'), 'block')} ${of('mismatch') === 1 ? 'differs' : 'differ'} from the source`);
  return parts.join('; ');
}

/** Counts of a scrub picture's codes (SCRUB_CODES): OK data blocks apart from sparse ones. */
export function pictureCounts(states: number[]): { sparse: number; ok: number; invalid: number; missing: number; mismatch: number } {
  const counts = [0, 0, 0, 0, 0];
  for (const code of states) counts[code]++;
  return { sparse: counts[0], ok: counts[1], invalid: counts[2], missing: counts[3], mismatch: counts[4] };
}

/** "1.87 MiB of 2.00 GiB · 35.0 MiB/s · 0:09 left · reading"; without a total, just the bytes. */
export function progressLine(progress: Progress | null, finished = false): string {
  if (!progress) return finished ? '' : 'waiting';
  const parts = [progress.bytesTotal > 0 ? `${humanBytes(progress.bytesDone)} of ${humanBytes(progress.bytesTotal)}` : humanBytes(progress.bytesDone)];
  if (progress.rate > 0) parts.push(`${humanBytes(progress.rate)}/s`);
  if (!finished && progress.eta !== null && progress.phase !== 'done') parts.push(`${humanDuration(progress.eta)} left`);
  if (!finished && progress.phase && progress.phase !== 'done') parts.push(progress.phase);
  return parts.join(' · ');
}

export interface SettingsFields {
  minAgeDays: string;
  cleanupGraceSeconds: string;
  maxConcurrentJobs: string;
}

/** Parses the Settings fields and checks each with the contract's schema of updateSettings. */
export function settingsForm(fields: SettingsFields): { values: { minAgeDays: number; cleanupGraceSeconds: number; maxConcurrentJobs: number } | null; errors: Partial<Record<keyof SettingsFields, string>> } {
  const errors: Partial<Record<keyof SettingsFields, string>> = {};
  const values: Record<string, number> = {};
  for (const key of Object.keys(fields) as Array<keyof SettingsFields>) {
    const text = fields[key].trim();
    if (text === '') {
      errors[key] = 'required: enter a number';
      continue;
    }
    const value = Number(text);
    const parsed = SCHEMAS.updateSettings.safeParse({ [key]: Number.isFinite(value) ? value : text });
    if (parsed.success) values[key] = value;
    else errors[key] = parsed.error.issues[0]?.message ?? 'invalid';
  }
  if (Object.keys(errors).length > 0) return { values: null, errors };
  return { values: values as { minAgeDays: number; cleanupGraceSeconds: number; maxConcurrentJobs: number }, errors };
}

/**
 * Axis labels for points in time, each one distinct: the day when days differ, else day and
 * minute, else with seconds; points that still share a label are numbered.
 */
export function chartLabels(dates: string[]): string[] {
  const distinct = (labels: string[]): boolean => new Set(labels).size === labels.length;
  const day = dates.map((d) => localTime(d, 'minutes').slice(5, 10));
  if (distinct(day)) return day;
  const minute = dates.map((d) => localTime(d, 'minutes').slice(5, 16));
  if (distinct(minute)) return minute;
  const second = dates.map((d) => localTime(d).slice(5, 19));
  const seen = new Map<string, number>();
  return second.map((label) => {
    const n = (seen.get(label) ?? 0) + 1;
    seen.set(label, n);
    return n === 1 ? label : `${label} #${n}`;
  });
}
