// Scrub: start a fast, deep, percent or against-source scrub of one or many versions; read
// a report as a picture (the version's blocks with invalid, missing and differing blocks
// marked) with its counts, the affected versions and objects, and the version's history.
import { useEffect, useMemo, useState } from 'react';
import type { Job } from '../../../src-shared/api/types';
import { isFinished } from '../../../src-shared/api/types';
import { humanBytes, plural, shortUid } from '../../../src-shared/api/format';
import type { BlockMap as BlockMapData, ScrubMode, ScrubReport } from '../../../src-shared/model';
import { toApiError } from '../../api/client';
import { BlockMap } from '../../components/BlockMap';
import { EmptyState, ErrorBox, formatDate, JobProgress, Stat } from '../../components/common';
import { PathField } from '../../components/PathField';
import { SCRUB_CODES, SCRUB_LEGEND } from '../../components/palettes';
import { useApi, useApp } from '../../store';
import { pictureCounts, scrubHeadline } from '../../store/truth';

/** The report as block states: sparse, data ok, or the problem found. */
export function scrubPicture(map: BlockMapData, report: ScrubReport): number[] {
  const states: number[] = map.states.map((s) => (s === 0 ? SCRUB_CODES.sparse : SCRUB_CODES.ok));
  for (const problem of report.problems) {
    if (problem.idx < 0 || problem.idx >= states.length) continue;
    states[problem.idx] = problem.kind === 'missing' ? SCRUB_CODES.missing : problem.kind === 'mismatch' ? SCRUB_CODES.mismatch : SCRUB_CODES.invalid;
  }
  return states;
}

function StartForm({ initialUids, onStarted }: { initialUids?: string[]; onStarted(job: Job): void }) {
  const api = useApi();
  const versions = useApp((s) => s.versions);
  const reportError = useApp((s) => s.reportError);
  const candidates = useMemo(() => versions.filter((v) => v.status !== 'incomplete').sort((a, b) => b.date.localeCompare(a.date)), [versions]);
  const [uids, setUids] = useState<string[]>(initialUids ?? []);
  const [mode, setMode] = useState<ScrubMode>('deep');
  const [percent, setPercent] = useState(100);
  const [source, setSource] = useState('');
  const toggle = (uid: string): void => setUids(uids.includes(uid) ? uids.filter((u) => u !== uid) : [...uids, uid]);
  const valid = uids.length > 0 && percent >= 1 && percent <= 100 && (mode !== 'source' || (uids.length === 1 && source));
  const start = async (): Promise<void> => {
    try {
      onStarted(await api.startScrub({ uids, mode, percent: percent < 100 ? percent : undefined, source: mode === 'source' ? source : undefined }));
    } catch (error) {
      reportError(error, 'Starting the scrub');
    }
  };
  return (
    <section className="card">
      <h2>Start a scrub</h2>
      <div className="row wrap">
        <fieldset className="grow">
          <legend>Versions ({uids.length} selected)</legend>
          <div className="checklist">
            {candidates.map((v) => (
              <label key={v.uid} className="checkbox">
                <input type="checkbox" checked={uids.includes(v.uid)} onChange={() => toggle(v.uid)} />{' '}
                {v.name} {v.snapshot} · {formatDate(v.date)} · <span className="mono">{shortUid(v.uid)}</span> <span className={`badge ${v.status}`}>{v.status}</span>
              </label>
            ))}
          </div>
          <button type="button" className="small ghost" onClick={() => setUids(candidates.map((v) => v.uid))}>Select all</button>{' '}
          <button type="button" className="small ghost" onClick={() => setUids([])}>Select none</button>
        </fieldset>
        <fieldset>
          <legend>Mode</legend>
          <label className="radio"><input type="radio" name="mode" checked={mode === 'fast'} onChange={() => setMode('fast')} /> Fast: objects exist with the right size</label>
          <label className="radio"><input type="radio" name="mode" checked={mode === 'deep'} onChange={() => setMode('deep')} /> Deep: read, decompress and hash every object</label>
          <label className="radio"><input type="radio" name="mode" checked={mode === 'source'} onChange={() => setMode('source')} /> Against the source: compare with the original (one version)</label>
          <div className="field">
            <label htmlFor="scrub-percent">Blocks checked (%)</label>
            <input id="scrub-percent" type="number" min={1} max={100} value={percent} onChange={(e) => setPercent(Number(e.target.value))} className="narrow" />
            <div className="hint">Only a full (100%) deep scrub can mark a version valid again.</div>
          </div>
        </fieldset>
      </div>
      {mode === 'source' && <PathField label="Source to compare with" value={source} onChange={setSource} purpose="source" />}
      <div className="wizard-nav"><button type="button" className="primary" disabled={!valid} onClick={() => void start()}>Start scrub</button></div>
    </section>
  );
}

function Report({ uid, refreshKey }: { uid: string; refreshKey: string }) {
  const api = useApi();
  const [reports, setReports] = useState<ScrubReport[] | null>(null);
  const [map, setMap] = useState<BlockMapData | null>(null);
  const [chosen, setChosen] = useState<number | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  useEffect(() => {
    setError(null);
    Promise.all([api.listScrubReports({ uid }), api.getBlockMap({ uid })]).then(
      ([list, blockMap]) => {
        setReports(list);
        setMap(blockMap);
        setChosen(list[0]?.id ?? null);
      },
      (e) => setError(toApiError(e)),
    );
  }, [api, uid, refreshKey]);
  const report = reports?.find((r) => r.id === chosen) ?? null;
  const picture = useMemo(() => (map && report ? scrubPicture(map, report) : null), [map, report]);
  if (error) return <ErrorBox code={error.code} message={error.message} />;
  if (!reports || !map) return <p className="muted">Loading…</p>;
  if (reports.length === 0) return <EmptyState title="Never scrubbed"><p>Start a scrub of this version above.</p></EmptyState>;
  if (!report || !picture) return null;
  const objects = [...new Set(report.problems.map((p) => p.object).filter((o): o is string => Boolean(o)))];
  const ok = report.problems.length === 0;
  const counts = pictureCounts(picture);
  const onlyDiffers = !ok && report.problems.every((p) => p.kind === 'mismatch');
  return (
    <div className="scrub-report" data-report-ok={ok}>
      <div className={`health health-${ok ? 'ok' : onlyDiffers ? 'warning' : 'error'}`} role="status">
        <strong>{scrubHeadline(report)}</strong>
        {' '}— {report.mode} scrub{report.percent < 100 ? ` of ${report.percent}% of the blocks` : ''} on {formatDate(report.date)}
        {report.revalidated && ' · the version is valid again'}
      </div>
      <div className="stats">
        <Stat label="Blocks" value={report.blocksTotal.toLocaleString()} hint={`${report.blocksChecked.toLocaleString()} checked`} />
        <Stat label="OK (data)" value={counts.ok.toLocaleString()} hint="data blocks with no problem found" tone="good" />
        <Stat label="Sparse" value={counts.sparse.toLocaleString()} hint="zero blocks: nothing stored to check" />
        <Stat label="Invalid" value={report.blocksInvalid.toLocaleString()} tone={report.blocksInvalid ? 'bad' : undefined} />
        <Stat label="Missing" value={report.blocksMissing.toLocaleString()} tone={report.blocksMissing ? 'bad' : undefined} />
        {report.mode === 'source' && <Stat label="Differ from source" value={report.blocksMismatch.toLocaleString()} tone={report.blocksMismatch ? 'warn' : undefined} />}
      </div>
      <BlockMap
        states={picture}
        legend={SCRUB_LEGEND}
        label={`Scrub report of version ${uid}`}
        maxHeight={260}
        describe={(idx) => {
          const problem = report.problems.find((p) => p.idx === idx);
          return (
            <span>
              block <strong>{idx.toLocaleString()}</strong> · offset {(idx * map.blockSize).toLocaleString()} · {problem ? <><strong className="bad">{problem.kind}</strong>: {problem.detail}</> : SCRUB_LEGEND[picture[idx]].label}
            </span>
          );
        }}
      />
      {report.invalidatedVersions.length > 0 && (
        <p>
          <strong>Versions marked invalid:</strong>{' '}
          {report.invalidatedVersions.map((u) => <a key={u} className="mono tag" href={`#/version/${u}`}>{shortUid(u)}</a>)}
        </p>
      )}
      {objects.length > 0 && (
        <details open={objects.length <= 10}>
          <summary>{plural(objects.length, 'affected object')}</summary>
          <ul className="mono small-text">{objects.slice(0, 100).map((o) => <li key={o}>{o}</li>)}</ul>
        </details>
      )}
      {report.problems.length > 0 && (
        <table className="table compact problems">
          <thead><tr><th>Block</th><th>Offset</th><th>Kind</th><th>Object</th><th>Detail</th></tr></thead>
          <tbody>
            {report.problems.slice(0, 200).map((p) => (
              <tr key={`${p.idx}-${p.kind}`}>
                <td className="num">{p.idx < 0 ? '—' : p.idx}</td><td className="num">{p.offset < 0 ? '—' : p.offset.toLocaleString()}</td>
                <td><span className="badge invalid">{p.kind}</span></td><td className="mono">{p.object ? `${p.object.slice(0, 16)}…` : '—'}</td><td>{p.detail}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <h3>Scrub history of this version</h3>
      <table className="table compact">
        <thead><tr><th>Date</th><th>Mode</th><th>Checked</th><th>Problems</th><th><span className="visually-hidden">Show</span></th></tr></thead>
        <tbody>
          {reports.map((r) => (
            <tr key={r.id} className={r.id === chosen ? 'selected' : ''}>
              <td>{formatDate(r.date)}</td><td>{r.mode}{r.percent < 100 ? ` ${r.percent}%` : ''}</td><td className="num">{r.blocksChecked.toLocaleString()}</td>
              <td>{r.problems.length ? <span className="badge invalid">{plural(r.problems.length, 'problem')}</span> : <span className="badge valid">none</span>}</td>
              <td><button type="button" className="small" onClick={() => setChosen(r.id)} disabled={r.id === chosen}>Show</button></td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The reports of one scrub job: those with problems first, each a button that shows it. */
function JobReports({ job, current, onShow }: { job: Job; current: string; onShow(uid: string): void }) {
  if (job.result?.kind !== 'scrub') return null;
  const reports = [...job.result.value.reports].sort((a, b) => Number(a.ok) - Number(b.ok));
  const bad = reports.filter((r) => !r.ok);
  return (
    <div className="job-reports" data-testid="scrub-job-reports">
      <p>
        <strong>{bad.length === 0 ? `All ${plural(reports.length, 'version')} checked: no problems found.` : `${plural(bad.length, 'version')} of ${reports.length} with problems:`}</strong>
      </p>
      <ul className="report-list">
        {reports.map((r) => {
          const problems = r.blocksInvalid + r.blocksMissing + r.blocksMismatch;
          return (
            <li key={r.id}>
              <button type="button" className={`small ${r.ok ? '' : 'danger'}`} aria-pressed={r.uid === current} onClick={() => onShow(r.uid)}>
                <span className="mono">{shortUid(r.uid)}</span>: {r.ok ? 'no problems' : plural(problems, 'problem')}
              </button>
            </li>
          );
        })}
      </ul>
    </div>
  );
}

/** The first version of a finished scrub job whose report holds problems (else the first). */
function reportToShow(job: Job | undefined): string | null {
  if (job?.result?.kind !== 'scrub') return null;
  const reports = job.result.value.reports;
  return (reports.find((r) => !r.ok) ?? reports[0])?.uid ?? null;
}

export function ScrubView({ initialUids, report, job: jobParam }: { initialUids?: string[]; report?: string; job?: string }) {
  const api = useApi();
  const versions = useApp((s) => s.versions);
  const upsertJob = useApp((s) => s.upsertJob);
  const [jobId, setJobId] = useState<string | null>(jobParam ?? null);
  const job = useApp((s) => (jobId ? s.jobs[jobId] : undefined));
  const [reportUid, setReportUid] = useState(report ?? initialUids?.[0] ?? '');
  const candidates = versions.filter((v) => v.status !== 'incomplete');
  useEffect(() => {
    if (!reportUid && candidates[0]) setReportUid(candidates[candidates.length - 1].uid);
  }, [reportUid, candidates]);
  // Opened from a job (#/scrub?job=ID): fetch it when the store does not hold it yet.
  useEffect(() => {
    if (jobParam && !job) api.getJob({ id: jobParam }).then(upsertJob, () => {});
  }, [api, jobParam, job, upsertJob]);
  // When the scrub ends, show a report that holds problems rather than the first version's.
  const finishedReport = reportToShow(job);
  useEffect(() => {
    if (finishedReport && !report) setReportUid(finishedReport);
  }, [finishedReport, report]);
  return (
    <div className="view">
      <h1>Scrub</h1>
      {candidates.length === 0 ? (
        <EmptyState title="Nothing to scrub"><p>Back up something first.</p></EmptyState>
      ) : (
        <>
          <StartForm
            initialUids={initialUids}
            onStarted={(started) => {
              upsertJob(started);
              setJobId(started.id);
              const first = started.params.uids;
              if (Array.isArray(first) && first[0]) setReportUid(first[0]);
            }}
          />
          {job && (
            <section className="card" aria-labelledby="scrub-job-title">
              <h2 id="scrub-job-title">{isFinished(job.state) ? 'Scrub job' : 'Running scrub'}</h2>
              <JobProgress job={job} cancel={{ label: 'Cancel', onCancel: () => void api.cancelJob({ id: job.id }) }} />
              <JobReports job={job} current={reportUid} onShow={setReportUid} />
            </section>
          )}
          <section className="card" aria-labelledby="report-title">
            <div className="row wrap">
              <h2 id="report-title" className="grow">Report</h2>
              <div className="field inline">
                <label htmlFor="report-version">Version</label>
                <select id="report-version" value={reportUid} onChange={(e) => setReportUid(e.target.value)}>
                  {candidates.map((v) => <option key={v.uid} value={v.uid}>{v.name} {v.snapshot} · {formatDate(v.date, 'minutes')} · {shortUid(v.uid)} ({v.status}, {humanBytes(v.size)})</option>)}
                </select>
              </div>
            </div>
            {reportUid && <Report uid={reportUid} refreshKey={`${job?.state ?? ''}`} />}
          </section>
        </>
      )}
    </div>
  );
}
