// What the screens say about outcomes, derived in one place so that words match numbers:
// a job's outcome (a scrub that found problems is not a plain "succeeded"), scrub headlines,
// the scrub picture's counts, progress lines, Settings fields checked with the contract's
// schema, and distinct chart labels. Pure functions; tests call them directly.
import { humanBytes, humanDuration, localTime, plural } from '../../src-shared/api/format';
import { SCHEMAS } from '../../src-shared/api/schemas';
import type { Job, ScrubSummary } from '../../src-shared/api/types';
import type { Progress, ScrubReport } from '../../src-shared/model';

export type Tone = 'good' | 'warn' | 'bad' | 'neutral';

export interface JobOutcome {
  tone: Tone;
  /** what the job found, in words: "all good", "found problems: 2 invalid blocks in 1 version" */
  label: string;
  /** where its result is shown */
  href?: string;
  linkText?: string;
}

/** "2 invalid blocks", "7 blocks differ from the source", "4 invalid or missing blocks". */
function problemWords(reports: ScrubSummary[]): string {
  const damaged = reports.reduce((n, r) => n + r.blocksInvalid + r.blocksMissing, 0);
  const differ = reports.reduce((n, r) => n + r.blocksMismatch, 0);
  const invalidOnly = reports.every((r) => r.blocksMissing === 0);
  const missingOnly = reports.every((r) => r.blocksInvalid === 0);
  const parts: string[] = [];
  if (damaged > 0) parts.push(plural(damaged, invalidOnly ? 'invalid block' : missingOnly ? 'missing block' : 'invalid or missing block', invalidOnly ? 'invalid blocks' : missingOnly ? 'missing blocks' : 'invalid or missing blocks'));
  if (differ > 0) parts.push(`${plural(differ, 'block')} ${differ === 1 ? 'differs' : 'differ'} from the source`);
  if (parts.length === 0) parts.push('problems in the version\'s block list');
  return parts.join(' and ');
}

export function jobOutcome(job: Job): JobOutcome {
  if (job.state === 'failed') return { tone: 'bad', label: job.error ? `failed: ${job.error.code}` : 'failed' };
  if (job.state === 'canceled') return { tone: 'warn', label: 'canceled' };
  if (job.state !== 'succeeded') return { tone: 'neutral', label: job.state };
  const result = job.result;
  if (result?.kind === 'scrub') {
    const bad = result.value.reports.filter((r) => !r.ok);
    if (bad.length === 0) return { tone: 'good', label: 'all good', href: result.value.reports.length > 1 ? `#/scrub?job=${job.id}` : `#/scrub?report=${result.value.reports[0]?.uid ?? ''}`, linkText: result.value.reports.length > 1 ? 'reports' : 'report' };
    const damaged = bad.some((r) => r.blocksInvalid + r.blocksMissing > 0 || r.blocksMismatch === 0);
    const inVersions = result.value.reports.length > 1 || bad.some((r) => r.blocksMismatch === 0) ? ` in ${plural(bad.length, 'version')}` : '';
    return {
      tone: damaged ? 'bad' : 'warn',
      label: `found problems: ${problemWords(bad)}${damaged ? inVersions : ''}`,
      href: bad.length === 1 ? `#/scrub?report=${bad[0].uid}` : `#/scrub?job=${job.id}`,
      linkText: bad.length === 1 ? 'report' : `${bad.length} reports`,
    };
  }
  if (result?.kind === 'backup') return { tone: 'good', label: 'version created', href: `#/version/${result.value.uid}`, linkText: 'version' };
  if (result?.kind === 'import' && result.value.incompleteData.length > 0) {
    return { tone: 'warn', label: `imported; ${plural(result.value.incompleteData.length, 'version')} without all data` };
  }
  if (result?.kind === 'cleanup') return { tone: 'good', label: `freed ${humanBytes(result.value.bytesFreed)}` };
  return { tone: 'good', label: 'succeeded' };
}

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
