// A job's outcome in words, the same for the GUI and the CLI: a scrub that found problems is
// not a plain "succeeded"; the words match the numbers and link to the report that holds them.
import { humanBytes, plural } from './format';
import type { CopyResult } from '../model';
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
  if (result?.kind === 'copy') return { tone: result.value.retries.exhausted > 0 ? 'warn' : 'good', label: copyWords(result.value) };
  if (result?.kind === 'cleanup') return { tone: 'good', label: `freed ${humanBytes(result.value.bytesFreed)}` };
  return { tone: 'good', label: 'succeeded' };
}

/** "3 store requests retried (2x SlowDown, 1x reset)"; empty when none was. */
export function retryWords(retries: CopyResult['retries']): string {
  if (retries.retries === 0 && retries.exhausted === 0) return '';
  const causes = Object.entries(retries.causes).sort((x, y) => y[1] - x[1]).map(([cause, n]) => `${n}x ${cause}`);
  const retried = `${plural(retries.retries, 'store request')} retried${causes.length ? ` (${causes.join(', ')})` : ''}`;
  return retries.exhausted > 0 ? `${retried}; ${plural(retries.exhausted, 'request')} failed after every attempt` : retried;
}

/**
 * What a copy did, in words that match its counts: "copied 2 versions: 37 objects sent
 * (12.0 MiB), 5 already there; 1 version already in the destination; 3 store requests retried".
 */
export function copyWords(result: CopyResult): string {
  const copied = result.versions.filter((v) => v.outcome === 'copied').length;
  const present = result.versions.length - copied;
  const parts: string[] = [];
  if (copied > 0) parts.push(`copied ${plural(copied, 'version')}: ${plural(result.objectsTransferred, 'object')} sent (${humanBytes(result.bytesTransferred)}), ${result.objectsPresent > 0 ? result.objectsPresent.toLocaleString('en-US') : 'none'} already there`);
  if (present > 0) parts.push(copied > 0 ? `${plural(present, 'version')} already in the destination` : `nothing to copy: ${present === 1 ? 'the version is' : `all ${present} versions are`} already in the destination`);
  const retries = retryWords(result.retries);
  if (retries) parts.push(retries);
  return parts.join('; ');
}
