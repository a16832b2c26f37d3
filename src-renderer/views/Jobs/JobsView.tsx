// Jobs: running jobs with progress and cancel, then past jobs (from the repository's
// history, including those of other processes); selecting one shows its full log.
import { useEffect, useMemo, useState } from 'react';
import { humanDuration } from '../../../src-shared/api/format';
import type { Job } from '../../../src-shared/api/types';
import { isFinished } from '../../../src-shared/api/types';
import { toApiError } from '../../api/client';
import { EmptyState, ErrorBox, formatDate, JobProgress, JobStateBadge } from '../../components/common';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';
import { orderJobs } from '../../store/selectors';

function duration(job: Job): string {
  if (!job.started) return '—';
  const end = job.ended ? Date.parse(job.ended) : Date.now();
  return humanDuration((end - Date.parse(job.started)) / 1000);
}

function resultLink(job: Job) {
  if (job.result?.kind === 'backup') return <a href={`#/version/${job.result.value.uid}`}>version</a>;
  if (job.result?.kind === 'scrub') return <a href={`#/scrub?report=${job.result.value.reports[0]?.uid ?? ''}`}>report</a>;
  return null;
}

function Detail({ id }: { id: string }) {
  const api = useApi();
  const live = useApp((s) => s.jobs[id]);
  const [job, setJob] = useState<Job | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  useEffect(() => {
    api.getJob({ id }).then(setJob, (e) => setError(toApiError(e)));
  }, [api, id, live?.state, live?.logs.length]);
  if (error) return <ErrorBox code={error.code} message={error.message} />;
  if (!job) return <p className="muted">Loading…</p>;
  return (
    <section className="card" aria-labelledby="job-detail">
      <h2 id="job-detail">{job.title}</h2>
      <JobProgress job={live && !isFinished(job.state) ? { ...live, logs: job.logs } : job} />
      <p className="muted small-text">
        {job.kind} · created {formatDate(job.created)} · started {formatDate(job.started)} · ended {formatDate(job.ended)} · id <span className="mono">{job.id}</span>
        {job.foreign ? ' · run by another process' : ''}
      </p>
      <h3>Log</h3>
      <pre className="log" tabIndex={0} aria-label="Job log">
        {job.logs.map((line) => `${line.time.slice(11, 19)} ${line.level.padEnd(5)} ${line.message}`).join('\n')}
      </pre>
    </section>
  );
}

export function JobsView({ selected }: { selected?: string }) {
  const jobs = useApp((s) => s.jobs);
  const loaded = useApp((s) => s.jobsLoaded);
  const loadJobs = useApp((s) => s.loadJobs);
  const online = useApp((s) => s.connection === 'open');
  const cancelJob = useApp((s) => s.cancelJob);
  const { active, finished } = useMemo(() => orderJobs(jobs), [jobs]);
  const [, tick] = useState(0);
  useEffect(() => {
    void loadJobs();
  }, [loadJobs]);
  useEffect(() => {
    if (active.length === 0) return;
    const timer = setInterval(() => tick((n) => n + 1), 1000);
    return () => clearInterval(timer);
  }, [active.length]);

  return (
    <div className="view">
      <h1>Jobs</h1>
      <div className="columns jobs-layout">
        <div>
          <section className="card" aria-labelledby="running-title">
            <h2 id="running-title">Running</h2>
            {active.length === 0 ? <p className="muted">No job is running.</p> : active.map((job) => (
              <div key={job.id} className="job-row">
                <JobProgress job={job} />
                <div className="row">
                  <button type="button" className="small" onClick={() => navigate({ view: 'jobs', job: job.id })}>Log</button>
                  {!job.foreign && online && (job.state === 'running' || job.state === 'queued') && (
                    <button type="button" className="small danger" onClick={() => void cancelJob(job.id)}>Cancel</button>
                  )}
                </div>
              </div>
            ))}
          </section>
          <section className="card" aria-labelledby="history-title">
            <h2 id="history-title">History</h2>
            {loaded && finished.length === 0 ? (
              <EmptyState title="No past jobs"><p>Backups, restores, scrubs and cleanups you start appear here with their logs.</p></EmptyState>
            ) : (
              <table className="table compact">
                <thead><tr><th>Started</th><th>Job</th><th>State</th><th>Duration</th><th>Result</th></tr></thead>
                <tbody>
                  {finished.map((job) => (
                    <tr key={job.id} className={job.id === selected ? 'selected' : ''}>
                      <td className="nowrap">{formatDate(job.started ?? job.created).slice(5, 16)}</td>
                      <td><a href={`#/jobs/${job.id}`}>{job.title}</a>{job.error && <div className="bad small-text"><code className="code">{job.error.code}</code> {job.error.message}</div>}</td>
                      <td><JobStateBadge state={job.state} /></td>
                      <td>{duration(job)}</td>
                      <td>{resultLink(job)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )}
          </section>
        </div>
        <div>{selected ? <Detail id={selected} /> : <p className="muted card">Choose a job to see its log.</p>}</div>
      </div>
    </div>
  );
}
