// The repository's health, derived on the server from every version's state (valid,
// invalid, incomplete, never verified, verified long ago): the verdict, the reasons naming
// the versions that cause them, and a verification stat that cannot contradict the verdict.
import type { RepositorySummary } from '../../../src-shared/api/types';
import { formatDate, humanAge, Stat } from '../../components/common';

export function HealthVerdict({ summary }: { summary: RepositorySummary }) {
  return (
    <div className={`health health-${summary.health}`} role="status" data-testid="health">
      <strong>Health: {summary.health === 'ok' ? 'good' : summary.health}</strong>
      {summary.health === 'ok' && summary.versions > 0 && <span> · every version verified by a full deep scrub within {summary.verification.staleDays} days</span>}
      {summary.healthReasons.length > 0 && (
        <ul>{summary.healthReasons.map((reason) => <li key={reason}>{reason}</li>)}</ul>
      )}
    </div>
  );
}

/** How many versions a full deep scrub has verified, and when the newest scrub ran. */
export function VerificationStat({ summary }: { summary: RepositorySummary }) {
  const v = summary.verification;
  const checkable = v.verified + v.neverVerified + v.failed;
  const parts = [`${v.failed} failed`, `${v.neverVerified} never verified`];
  if (v.stale) parts.push(`${v.stale} verified over ${v.staleDays} days ago`);
  const last = summary.lastScrub ? `last scrub ${humanAge(Date.now() - Date.parse(summary.lastScrub.date))} ago (${summary.lastScrub.mode}, ${formatDate(summary.lastScrub.date, 'minutes')})` : 'never scrubbed';
  return (
    <Stat
      label="Verified versions"
      value={`${v.verified - v.stale} of ${checkable}`}
      hint={<>{parts.join(' · ')}<br />{last}</>}
      tone={v.failed ? 'bad' : v.neverVerified || v.stale ? 'warn' : 'good'}
    />
  );
}
