// A job's outcome in words, the same for the GUI and the CLI: a scrub that found problems is
// not a plain "succeeded"; the words match the numbers and link to the report that holds them.
import { humanBytes, plural } from './format';
import type { Job, ScrubSummary } from './types';

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
