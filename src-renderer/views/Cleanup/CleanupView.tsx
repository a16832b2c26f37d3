// Delete and cleanup. Deleting explains the rules first (protected versions never; versions
// younger than the minimum age only when forced) and checks each selected version against
// them; cleanup shows what it would reclaim before it runs (fast, or full mark-and-sweep).
import { useCallback, useEffect, useMemo, useState } from 'react';
import { humanBytes, plural, shortUid } from '../../../src-shared/api/format';
import type { CleanupEstimate, Job } from '../../../src-shared/api/types';
import { EmptyState, formatDate, humanAge, JobProgress, Stat } from '../../components/common';
import { ConfirmDialog } from '../../components/ConfirmDialog';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';

function DeleteSection() {
  const api = useApi();
  const versions = useApp((s) => s.versions);
  const selected = useApp((s) => s.selected);
  const setSelected = useApp((s) => s.setSelected);
  const minAgeDays = useApp((s) => s.repository?.settings.minAgeDays ?? 0);
  const reportError = useApp((s) => s.reportError);
  const notify = useApp((s) => s.notify);
  const [force, setForce] = useState(false);
  const [confirming, setConfirming] = useState(false);
  const chosen = versions.filter((v) => selected.includes(v.uid));
  const rows = chosen.map((v) => {
    const ageDays = (Date.now() - Date.parse(v.date)) / 86_400_000;
    const verdict = v.protected ? 'protected: never removed (unprotect it first)' : ageDays < minAgeDays ? (force ? 'younger than the minimum age: removed because forced' : `younger than ${minAgeDays} days: needs force`) : 'can be removed';
    const allowed = !v.protected && (ageDays >= minAgeDays || force);
    return { v, ageDays, verdict, allowed };
  });
  const allAllowed = rows.length > 0 && rows.every((r) => r.allowed);
  const remove = async (): Promise<void> => {
    try {
      const result = await api.removeVersions({ uids: selected, force: force || undefined });
      notify('success', `Removed ${plural(result.removed.length, 'version')}; run a cleanup to free their data`);
      setSelected([]);
      setConfirming(false);
    } catch (error) {
      reportError(error, 'Deleting versions');
    }
  };
  return (
    <section className="card" aria-labelledby="delete-title">
      <h2 id="delete-title">Delete versions</h2>
      <ul className="rules">
        <li><strong>Protected</strong> versions are never deleted; unprotect them first.</li>
        <li>Versions younger than the repository's <strong>minimum age of {minAgeDays} days</strong> are kept unless you force it.</li>
        <li>Deleting removes a version's metadata at once; its data is freed by the next <strong>cleanup</strong>, and only where no other version shares it.</li>
      </ul>
      {rows.length === 0 ? (
        <EmptyState title="No versions selected">
          <p>Select the versions to delete in the versions browser.</p>
          <button type="button" onClick={() => navigate({ view: 'versions' })}>Choose versions</button>
        </EmptyState>
      ) : (
        <>
          <table className="table compact">
            <thead><tr><th>Version</th><th>Date</th><th>Age</th><th>Size</th><th>Verdict</th></tr></thead>
            <tbody>
              {rows.map(({ v, ageDays, verdict, allowed }) => (
                <tr key={v.uid}>
                  <td>{v.name} <span className="mono">{shortUid(v.uid)}</span></td><td>{formatDate(v.date)}</td>
                  <td>{humanAge(ageDays * 86_400_000)}</td><td className="num">{humanBytes(v.size)}</td>
                  <td className={allowed ? 'good' : 'bad'}>{verdict}</td>
                </tr>
              ))}
            </tbody>
          </table>
          <label className="checkbox"><input type="checkbox" checked={force} onChange={(e) => setForce(e.target.checked)} /> Force: also delete versions younger than the minimum age</label>
          {!confirming ? (
            <div className="wizard-nav"><button type="button" className="danger" disabled={!allAllowed} onClick={() => setConfirming(true)}>Delete {rows.length} version{rows.length === 1 ? '' : 's'}…</button></div>
          ) : (
            <div className="danger-zone">
              <p>Delete {rows.length} version{rows.length === 1 ? '' : 's'} for good?</p>
              <button type="button" className="danger" onClick={() => void remove()} autoFocus>Yes, delete</button> <button type="button" onClick={() => setConfirming(false)}>No</button>
            </div>
          )}
        </>
      )}
    </section>
  );
}

function CleanupSection() {
  const api = useApi();
  const reportError = useApp((s) => s.reportError);
  const upsertJob = useApp((s) => s.upsertJob);
  const versions = useApp((s) => s.versions);
  const [estimate, setEstimate] = useState<CleanupEstimate | null>(null);
  const [jobId, setJobId] = useState<string | null>(null);
  const [confirmFull, setConfirmFull] = useState(false);
  const job: Job | undefined = useApp((s) => (jobId ? s.jobs[jobId] : undefined));
  const load = useCallback(() => {
    api.estimateCleanup().then(setEstimate, (e) => reportError(e, 'Estimating the cleanup'));
  }, [api, reportError]);
  useEffect(load, [load, versions, job?.state]);
  const start = async (full: boolean): Promise<void> => {
    try {
      const started = await api.startCleanup({ full });
      upsertJob(started);
      setJobId(started.id);
    } catch (error) {
      reportError(error, 'Starting the cleanup');
    }
  };
  const grace = estimate ? humanAge(estimate.graceSeconds * 1000) : '';
  return (
    <section className="card" aria-labelledby="cleanup-title">
      <h2 id="cleanup-title">Cleanup</h2>
      {!estimate ? <p className="muted">Estimating…</p> : (
        <div className="stats">
          <Stat label="Reclaimable now (fast)" value={humanBytes(estimate.bytes)} hint={`${plural(estimate.objects, 'unreferenced object')} older than the grace period`} tone="good" />
          <Stat label="Within the grace period" value={humanBytes(estimate.waitingBytes)} hint={`${plural(estimate.waitingObjects, 'object')}; only a full cleanup takes them now`} />
          <Stat label="Incomplete versions" value={estimate.incompleteVersions} hint="left by interrupted backups; removed by cleanup" />
        </div>
      )}
      <ul className="rules">
        <li><strong>Fast cleanup</strong> deletes objects no version has referenced for longer than the grace period ({grace}). It is safe while backups run.</li>
        <li><strong>Full cleanup</strong> is a mark-and-sweep of the whole store under an exclusive lock: it also takes objects within the grace period and stray files. Backups started meanwhile wait or fail.</li>
        <li>No object referenced by any version, valid or not, is ever deleted.</li>
      </ul>
      <div className="wizard-nav">
        <button type="button" className="primary" onClick={() => void start(false)} disabled={job?.state === 'running'}>Fast cleanup</button>
        <button type="button" onClick={() => setConfirmFull(true)} disabled={job?.state === 'running'}>Full cleanup…</button>
      </div>
      <ConfirmDialog
        open={confirmFull}
        title="Run a full cleanup?"
        confirmLabel="Lock and clean up"
        danger
        onCancel={() => setConfirmFull(false)}
        onConfirm={() => {
          setConfirmFull(false);
          void start(true);
        }}
      >
        <p>A full cleanup takes an <strong>exclusive lock on the whole repository</strong> while it marks and sweeps the store:</p>
        <ul className="rules">
          <li>no backup, restore, scrub, import or export can run until it ends: those started meanwhile wait or fail with <code className="code">LOCKED</code>, in this window, the command line and other processes;</li>
          <li>it also deletes unreferenced objects still inside the grace period{estimate ? ` (${plural(estimate.waitingObjects, 'object')}, ${humanBytes(estimate.waitingBytes)})` : ''} and stray temporary files;</li>
          <li>it frees about {estimate ? humanBytes(estimate.bytes + estimate.waitingBytes) : '…'}; no object a version references is deleted.</li>
        </ul>
      </ConfirmDialog>
      {job && <JobProgress job={job} />}
      {job?.result?.kind === 'cleanup' && (
        <div className="notice success" role="status">
          Deleted {plural(job.result.value.objectsDeleted, 'object')} and freed {humanBytes(job.result.value.bytesFreed)}
          {job.result.value.incompleteVersionsRemoved.length ? `; removed ${plural(job.result.value.incompleteVersionsRemoved.length, 'incomplete version')}` : ''}.
        </div>
      )}
    </section>
  );
}

export function CleanupView() {
  const versionsLoaded = useApp((s) => s.versionsLoaded);
  const hint = useMemo(() => (versionsLoaded ? null : <p className="muted">Loading…</p>), [versionsLoaded]);
  return (
    <div className="view">
      <h1>Delete &amp; cleanup</h1>
      {hint}
      <DeleteSection />
      <CleanupSection />
    </div>
  );
}
