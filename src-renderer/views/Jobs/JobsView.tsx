// Jobs: running jobs with progress and cancel, then past jobs (from the repository's
// history, including those of other processes); selecting one shows its full log.
import { useEffect, useMemo, useState } from 'react';
import { humanDuration } from '../../../src-shared/api/format';
import type { Job } from '../../../src-shared/api/types';
import { isFinished } from '../../../src-shared/api/types';
import { toApiError } from '../../api/client';
import { EmptyState, ErrorBox, formatDate, JobProgress } from '../../components/common';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';
import { orderJobs } from '../../store/selectors';
import { jobOutcome } from '../../store/truth';

function duration(job: Job): string {
  if (!job.started) return '—';
  const end = job.ended ? Date.parse(job.ended) : Date.now();
  return humanDuration((end - Date.parse(job.started)) / 1000);
}

/** The job's state and what it found: a scrub that found problems is amber or red, with the count. */
export function JobOutcomeCell({ job }: { job: Job }) {
  const outcome = jobOutcome(job);
  const found = job.state === 'succeeded' && outcome.tone !== 'good';
  return (
    <div className="outcome" data-outcome={outcome.tone}>
      <span className={`badge ${found ? `outcome-${outcome.tone}` : `job-${job.state}`}`}>{found ? 'problems found' : job.state}</span>{' '}
      {outcome.label !== job.state && <span className={`outcome-text outcome-text-${outcome.tone}`}>{outcome.label}</span>}
      {outcome.href && <> · <a href={outcome.href}>{outcome.linkText}</a></>}
    </div>
  );
}

function logText(job: Job): string {
  return job.logs.map((line) => `${formatDate(line.time)} ${line.level.padEnd(5)} ${line.message}`).join('\n');
}

/** Saves the job's whole log as a text file (a Blob link: nothing leaves the machine). */
function downloadLog(job: Job): void {
  const header = `${job.title}\n${job.kind} · ${job.state} · id ${job.id}\ncreated ${formatDate(job.created)} · started ${formatDate(job.started)} · ended ${formatDate(job.ended)}\n\n`;
  const url = URL.createObjectURL(new Blob([header, logText(job), '\n'], { type: 'text/plain' }));
  const link = document.createElement('a');
  link.href = url;
  link.download = `blockvault-${job.kind}-${job.id.slice(0, 8)}.log`;
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
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
      {isFinished(job.state) && <JobOutcomeCell job={job} />}
      <p className="muted small-text">
        {job.kind} · created {formatDate(job.created)} · started {formatDate(job.started)} · ended {formatDate(job.ended)} · id <span className="mono">{job.id}</span>
        {job.foreign ? ' · run by another process' : ''}
      </p>
      <div className="row">
        <h3 className="grow">Log</h3>
        <button type="button" className="small" onClick={() => downloadLog(job)}>Download log</button>
      </div>
      <pre className="log" tabIndex={0} aria-label="Job log">
        {logText(job)}
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
              <table className="table compact jobs-history">
                <thead><tr><th>Started</th><th>Job</th><th>Outcome</th><th>Duration</th></tr></thead>
                <tbody>
                  {finished.map((job) => (
                    <tr key={job.id} className={job.id === selected ? 'selected' : ''}>
                      <td className="nowrap">{formatDate(job.started ?? job.created, 'minutes')}</td>
                      <td><a href={`#/jobs/${job.id}`}>{job.title}</a>{job.error && <div className="bad small-text"><code className="code">{job.error.code}</code> {job.error.message}</div>}</td>
                      <td><JobOutcomeCell job={job} /></td>
                      <td className="nowrap">{duration(job)}</td>
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
