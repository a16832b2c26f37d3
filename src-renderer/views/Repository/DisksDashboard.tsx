// The repository home's dashboard of disks: per disk the last backup (time, outcome, duration,
// bytes written), the last verify, the next run, the number of versions and the bytes only it
// holds, failures first; the store's used and free space, and who runs the schedules.
import { useEffect, useState } from 'react';
import { humanBytes, humanDuration } from '../../../src-shared/api/format';
import { schedulerName, type RepositoryStatus } from '../../../src-shared/api/policy';
import { toApiError } from '../../api/client';
import { ErrorBox, formatDate, humanAge, Stat } from '../../components/common';
import { useApi, useApp } from '../../store';

const LEVEL = ['ok', 'warning', 'failing'] as const;

export function DisksDashboard() {
  const api = useApi();
  // Reload when versions or jobs change (a backup ended, a prune removed versions).
  const tick = useApp((s) => Object.values(s.jobs).filter((j) => j.ended).length);
  const [status, setStatus] = useState<RepositoryStatus | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  useEffect(() => {
    api.getStatus({}).then((s) => { setStatus(s); setError(null); }, (e: unknown) => setError(toApiError(e)));
  }, [api, tick]);
  if (error) return <ErrorBox title="Disks" code={error.code} message={error.message} />;
  if (!status) return <p className="muted">Loading disks…</p>;
  const now = Date.now();
  return (
    <section className="card disks-dashboard" aria-label="Disks">
      <div className="row">
        <h2 className="grow">Disks</h2>
        <span className="muted small-text">
          {status.scheduler ? `schedules run by ${status.scheduler.mode === 'web' ? '' : 'the '}${schedulerName(status.scheduler.mode)} (pid ${status.scheduler.pid} on ${status.scheduler.host})` : 'no scheduler serves this repository'}
        </span>
      </div>
      <div className="stats">
        <Stat label="Store used" value={humanBytes(status.store.usedBytes)} />
        <Stat label="Free" value={status.store.freeBytes === null ? '—' : humanBytes(status.store.freeBytes)} />
        <Stat label="Disks" value={status.disks.length} hint={`${status.disks.filter((d) => d.level === 2).length} failing, ${status.disks.filter((d) => d.level === 1).length} with warnings`} tone={status.level === 2 ? 'bad' : status.level === 1 ? 'warn' : 'good'} />
      </div>
      {status.disks.length === 0 ? (
        <p className="muted">No disks yet: back one up, or add a backup policy.</p>
      ) : (
        <table className="table">
          <thead>
            <tr><th>Disk</th><th>Status</th><th>Last backup</th><th>Last verify</th><th>Next run</th><th>Versions</th><th>Only it holds</th></tr>
          </thead>
          <tbody>
            {status.disks.map((d) => (
              <tr key={d.name} className={`level-${LEVEL[d.level]}`}>
                <td className="mono"><a href="#/versions">{d.name}</a>{d.policy ? '' : <span className="muted small-text"> (no policy)</span>}</td>
                <td>
                  <span className={`badge level-${LEVEL[d.level]}`}>{LEVEL[d.level]}</span>
                  {d.problems.length > 0 && <div className="small-text">{d.problems.join('; ')}</div>}
                </td>
                <td>
                  {d.lastBackup ? `${humanAge(now - Date.parse(d.lastBackup.date))} ago` : 'never'}
                  {d.lastBackup && (
                    <div className="small-text muted">
                      {d.lastBackupJob?.state ?? d.lastBackup.state}
                      {d.lastBackup.durationMs !== null ? ` · ${humanDuration(d.lastBackup.durationMs / 1000)}` : ''}
                      {d.lastBackup.bytesWritten !== null ? ` · ${humanBytes(d.lastBackup.bytesWritten)} written` : ''}
                    </div>
                  )}
                </td>
                <td>{d.lastVerify ? `${formatDate(d.lastVerify.date)} ${d.lastVerify.ok ? 'ok' : 'INVALID'}` : 'never'}</td>
                <td>{d.nextRun ? formatDate(d.nextRun) : '—'}</td>
                <td>{d.versions}</td>
                <td>{humanBytes(d.exclusiveBytes)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
