// Small shared presentational pieces: notices, empty states, badges, progress bars, stats.
import type { ReactNode } from 'react';
import { localTime, percent } from '../../src-shared/api/format';
import type { Job } from '../../src-shared/api/types';
import { isFinished } from '../../src-shared/api/types';
import type { Version } from '../../src-shared/model';
import { useApp } from '../store';
import { jobOutcome, progressLine } from '../store/truth';

export function ErrorBox({ code, message, title }: { code?: string; message: string; title?: string }) {
  return (
    <div className="notice error" role="alert">
      {title && <strong>{title}: </strong>}
      {code && <code className="code">{code}</code>} {message}
    </div>
  );
}

export function EmptyState({ title, children }: { title: string; children?: ReactNode }) {
  return (
    <div className="empty">
      <h3>{title}</h3>
      {children}
    </div>
  );
}

export function StatusBadge({ version }: { version: Pick<Version, 'status' | 'protected'> }) {
  return (
    <>
      <span className={`badge ${version.status}`}>{version.status}</span>
      {version.protected && <span className="badge protected" title="protected: cannot be removed">protected</span>}
    </>
  );
}

export function JobStateBadge({ state }: { state: Job['state'] }) {
  return <span className={`badge job-${state}`}>{state}</span>;
}

export function ProgressBar({ value, label }: { value: number; label: string }) {
  const clamped = Math.max(0, Math.min(100, value));
  return (
    <div className="progress" role="progressbar" aria-label={label} aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(clamped)}>
      <div className="progress-fill" style={{ width: `${clamped}%` }} />
    </div>
  );
}

/**
 * Progress of one job: bar, bytes, rate, ETA and block counters, and with `cancel` a button
 * that cancels it while it runs.
 */
export function JobProgress({ job, cancel }: { job: Job; cancel?: { label: string; onCancel: () => void } }) {
  const p = job.progress;
  const value = job.state === 'succeeded' ? 100 : p ? percent(p.bytesDone, p.bytesTotal) : 0;
  const outcome = jobOutcome(job);
  const found = job.state === 'succeeded' && outcome.tone !== 'good';
  // Disconnected: an unfinished job's state is unknown, and nothing can cancel it from here.
  const stale = useApp((s) => s.connectionLost) && !isFinished(job.state);
  return (
    <>
      <div className="job-progress" data-job-state={job.state} data-outcome={outcome.tone}>
        <div className="row">
          {found ? <span className={`badge outcome-${outcome.tone}`}>problems found</span> : <JobStateBadge state={job.state} />}
          <span className="grow">{job.title}</span>
          <span className="muted">{Math.floor(value)}%</span>
        </div>
        {stale && <div className="job-stale">State unknown while disconnected: last seen {job.state}.</div>}
        <ProgressBar value={value} label={`${job.title}: progress`} />
        <div className="muted small-text">{progressLine(p, isFinished(job.state))}</div>
        {p && (job.kind === 'backup' || job.kind === 'scrub' || job.kind === 'restore' || job.kind === 'copy') && (
          <div className="counters small-text">
            {job.kind === 'backup' && (
              <>
                <span>new {p.blocksNew.toLocaleString()}</span>
                <span>deduplicated {p.blocksDedup.toLocaleString()}</span>
                <span>sparse {p.blocksSparse.toLocaleString()}</span>
                {p.blocksFromBase > 0 && <span>from base {p.blocksFromBase.toLocaleString()}</span>}
              </>
            )}
            {job.kind === 'restore' && <span>sparse {p.blocksSparse.toLocaleString()}</span>}
            {job.kind === 'copy' && (
              <>
                <span title="blocks whose objects were sent to the destination">sent {p.blocksNew.toLocaleString()}</span>
                <span title="blocks whose objects the destination already had">already there {p.blocksDedup.toLocaleString()}</span>
                <span>sparse {p.blocksSparse.toLocaleString()}</span>
              </>
            )}
            {job.kind === 'scrub' && <span className={p.blocksInvalid ? 'bad' : ''}>invalid {p.blocksInvalid.toLocaleString()}</span>}
            <span>blocks {p.blocksDone.toLocaleString()} / {p.blocksTotal.toLocaleString()}</span>
          </div>
        )}
        {found && <div className={`outcome-text outcome-text-${outcome.tone}`} role="status">{outcome.label}{outcome.href && <> · <a href={outcome.href}>{outcome.linkText}</a></>}</div>}
        {job.error && <ErrorBox code={job.error.code} message={job.error.message} />}
      </div>
      {cancel && job.state === 'running' && !stale && <button type="button" className="danger" onClick={cancel.onCancel}>{cancel.label}</button>}
    </>
  );
}

export function Stat({ label, value, hint, tone }: { label: string; value: ReactNode; hint?: ReactNode; tone?: 'good' | 'bad' | 'warn' }) {
  return (
    <div className={`stat ${tone ?? ''}`}>
      <div className="stat-label">{label}</div>
      <div className="stat-value">{value}</div>
      {hint && <div className="stat-hint">{hint}</div>}
    </div>
  );
}

/** Local time with its zone ("2026-01-15 11:20:30 UTC+01:00"); `minutes` drops the seconds. */
export function formatDate(iso: string | null | undefined, precision: 'seconds' | 'minutes' = 'seconds', withZone = true): string {
  return localTime(iso, precision, withZone);
}

export function KeyValue({ rows }: { rows: Array<[string, ReactNode]> }) {
  return (
    <dl className="kv">
      {rows.map(([key, value]) => (
        <div key={key}>
          <dt>{key}</dt>
          <dd>{value}</dd>
        </div>
      ))}
    </dl>
  );
}

/** A short age: "42 s", "17 min", "5 h", "3.2 days". */
export function humanAge(ms: number): string {
  const seconds = Math.max(0, ms / 1000);
  if (seconds < 60) return `${Math.round(seconds)} s`;
  if (seconds < 3600) return `${Math.round(seconds / 60)} min`;
  if (seconds < 86_400) return `${Math.round(seconds / 3600)} h`;
  return `${(seconds / 86_400).toFixed(1)} days`;
}

/** A padlock drawn inline (no emoji: not every system has a font for it). */
export function LockIcon() {
  return (
    <svg className="icon" viewBox="0 0 16 16" width="12" height="12" aria-hidden="true" focusable="false">
      <path fill="currentColor" d="M8 1a3.5 3.5 0 0 0-3.5 3.5V7H4a1 1 0 0 0-1 1v6a1 1 0 0 0 1 1h8a1 1 0 0 0 1-1V8a1 1 0 0 0-1-1h-.5V4.5A3.5 3.5 0 0 0 8 1Zm-2 3.5a2 2 0 1 1 4 0V7H6V4.5Z" />
    </svg>
  );
}
