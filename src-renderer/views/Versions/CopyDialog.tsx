// "Copy to...": copies versions into another repository (a folder, or an S3 bucket and prefix
// through the shared S3LocationFields) as a job. The dialog says what will be copied, asks for
// the destination (and its passphrase when it is encrypted),
// shows a refusal (not a repository, other block size, encrypted into plain) with its reason,
// then the job's progress and what it did: objects sent and already there, retries, failure.
import { useEffect, useRef, useState } from 'react';
import { humanBytes, plural, shortUid } from '../../../src-shared/api/format';
import { copyWords, retryWords } from '../../../src-shared/api/outcome';
import type { CopyArgs } from '../../../src-shared/api/contract';
import type { Job, PathInfo, VersionFacts } from '../../../src-shared/api/types';
import { isFinished } from '../../../src-shared/api/types';
import type { Version } from '../../../src-shared/model';
import { toApiError } from '../../api/client';
import { ErrorBox, formatDate, JobProgress, StatusBadge } from '../../components/common';
import { PathField } from '../../components/PathField';
import { EMPTY_S3_LOCATION, S3LocationFields, s3ConnectionOf, s3LocationOf, s3LocationReady, S3TestConnection, StoreKindSwitch, type S3LocationValue } from '../../components/S3LocationFields';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';

function Chosen({ versions, facts }: { versions: Version[]; facts: Map<string, VersionFacts> }) {
  const size = versions.reduce((n, v) => n + v.size, 0);
  const stored = versions.reduce((n, v) => n + (facts.get(v.uid)?.storedBytes ?? 0), 0);
  return (
    <div className="copy-what">
      <h3>What will be copied</h3>
      <div className="table-scroll copy-list">
        <table className="table compact">
          <thead><tr><th>Date</th><th>Name</th><th>Snapshot</th><th className="num">Size</th><th>Status</th><th>UID</th></tr></thead>
          <tbody>
            {versions.map((v) => (
              <tr key={v.uid}>
                <td className="nowrap">{formatDate(v.date, 'minutes', false)}</td>
                <td>{v.name}</td>
                <td>{v.snapshot || <span className="muted">—</span>}</td>
                <td className="num nowrap">{humanBytes(v.size)}</td>
                <td><StatusBadge version={v} /></td>
                <td className="mono" title={v.uid}>{shortUid(v.uid)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <p className="small-text">
        {plural(versions.length, 'version')}, {humanBytes(size)} of disk{facts.size > 0 && <>, at most {humanBytes(stored)} stored</>}. Each keeps its
        UID, name, snapshot, date, tags, note and protection. Only objects the destination lacks are sent, each checked against its digest on the way;
        a version becomes valid there once all its data is in.
      </p>
    </div>
  );
}

function Result({ job }: { job: Job }) {
  if (job.state === 'failed') {
    // The reason is shown with the job's progress above; what it means for the destination here.
    return <p className="small-text copy-failed" role="status">The copy failed (reason above). A version becomes valid in the destination only once all its data is there; copying again resumes an interrupted copy.</p>;
  }
  if (job.state === 'canceled') return <div className="notice info" role="status">Canceled. Versions not finished are not valid in the destination; copying again resumes where this stopped.</div>;
  if (job.result?.kind !== 'copy') return null;
  const result = job.result.value;
  const retries = retryWords(result.retries);
  return (
    <div className="copy-result" role="status">
      <div className={`notice ${result.retries.exhausted > 0 ? 'info' : 'success'}`}><strong>Done:</strong> {copyWords(result)}.</div>
      <table className="table compact">
        <thead><tr><th>Version</th><th>Outcome</th><th className="num">Objects sent</th><th className="num">Already there</th><th className="num">Bytes sent</th></tr></thead>
        <tbody>
          {result.versions.map((v) => (
            <tr key={v.uid} data-uid={v.uid}>
              <td className="mono" title={v.uid}>{shortUid(v.uid)}</td>
              <td>{v.outcome === 'copied' ? <span className="badge valid">copied</span> : <span className="badge">already there</span>}</td>
              <td className="num">{v.objectsTransferred.toLocaleString()}</td>
              <td className="num">{v.objectsPresent.toLocaleString()}</td>
              <td className="num nowrap">{humanBytes(v.bytesTransferred)}</td>
            </tr>
          ))}
        </tbody>
      </table>
      <p className="small-text muted">Into <span className="mono">{result.destination}</span>. {retries ? `Store requests: ${retries}.` : 'No store request needed a retry.'}</p>
    </div>
  );
}

export function CopyDialog({ uids, onClose }: { uids: string[]; onClose(): void }) {
  const api = useApi();
  const all = useApp((s) => s.versions);
  const repository = useApp((s) => s.repository);
  const upsertJob = useApp((s) => s.upsertJob);
  const cancelJob = useApp((s) => s.cancelJob);
  const [jobId, setJobId] = useState<string | null>(null);
  const job = useApp((s) => (jobId ? s.jobs[jobId] : undefined));
  const [kind, setKind] = useState<'folder' | 's3'>('folder');
  const [to, setTo] = useState('');
  const [s3, setS3] = useState<S3LocationValue>(EMPTY_S3_LOCATION);
  const [info, setInfo] = useState<PathInfo | null>(null);
  const [passphrase, setPassphrase] = useState('');
  const [busy, setBusy] = useState(false);
  const [refusal, setRefusal] = useState<{ code: string; message: string } | null>(null);
  const [facts, setFacts] = useState<Map<string, VersionFacts>>(new Map());
  const ref = useRef<HTMLDialogElement>(null);
  const versions = uids.map((uid) => all.find((v) => v.uid === uid)).filter((v): v is Version => v !== undefined);
  const notValid = versions.filter((v) => v.status !== 'valid');

  useEffect(() => {
    const dialog = ref.current;
    if (dialog && !dialog.open) dialog.showModal();
    api.listVersionFacts({}).then((list) => setFacts(new Map(list.map((f) => [f.uid, f]))), () => setFacts(new Map()));
  }, [api]);

  const start = async (): Promise<void> => {
    setBusy(true);
    setRefusal(null);
    const place = kind === 'folder' ? { to: to.trim() } : { to: s3LocationOf(s3), toS3: s3ConnectionOf(s3) };
    const args: CopyArgs = { uids: versions.map((v) => v.uid), ...place, ...(passphrase ? { toPassphrase: passphrase } : {}) };
    try {
      const started = await api.startCopy(args);
      upsertJob(started);
      setJobId(started.id);
      setPassphrase('');
    } catch (error) {
      const e = toApiError(error);
      setRefusal({ code: e.code, message: e.code === 'WRONG_KEY' ? `${e.message}. The destination is encrypted: enter its passphrase below.` : e.message });
    } finally {
      setBusy(false);
    }
  };

  const running = job !== undefined && !isFinished(job.state);
  const placeReady = kind === 'folder' ? to.trim() !== '' : s3LocationReady(s3);
  return (
    <dialog
      ref={ref}
      className="modal copy-dialog"
      aria-labelledby="copy-title"
      onCancel={(event) => {
        event.preventDefault();
        onClose();
      }}
    >
      <form
        onSubmit={(event) => {
          event.preventDefault();
          if (!jobId && !busy && placeReady) void start();
        }}
      >
        <h2 id="copy-title">Copy {versions.length === 1 ? 'version' : plural(versions.length, 'version')} to another repository</h2>
        <Chosen versions={versions} facts={facts} />
        {notValid.length > 0 && (
          <ErrorBox title="Not copyable" message={`only valid versions are copied; ${notValid.map((v) => `${shortUid(v.uid)} is ${v.status}`).join(', ')}. Leave ${notValid.length === 1 ? 'it' : 'them'} out of the selection.`} />
        )}
        {!jobId ? (
          <>
            <div className="row copy-kind">
              <span className="label-like">Destination repository</span>
              <StoreKindSwitch value={kind} onChange={(value) => { setKind(value); setRefusal(null); }} label="Where the destination repository is" />
            </div>
            {kind === 'folder' ? (
              <>
                <PathField
                  label="Destination repository (a folder)"
                  value={to}
                  onChange={(value) => { setTo(value); setRefusal(null); }}
                  purpose="openRepository"
                  placeholder="/mnt/offsite/repo"
                  onInfo={setInfo}
                  autoFocus
                />
                {info && !info.isRepository && (
                  <p className="hint bad not-repository" role="status">Not a Blockvault repository: create one there first (Repository screen, or <code>blockvault init</code>) with the same block size{repository ? ` (${humanBytes(repository.settings.blockSize)})` : ''}.</p>
                )}
              </>
            ) : (
              <>
                <S3LocationFields value={s3} onChange={(value) => { setS3(value); setRefusal(null); }} legend="S3 bucket and prefix of the destination repository" />
                <S3TestConnection value={s3} purpose="copy" />
              </>
            )}
            <div className="field">
              <label htmlFor="copy-passphrase">Destination passphrase <span className="muted">(only for an encrypted destination)</span></label>
              <input id="copy-passphrase" type="password" autoComplete="off" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} />
              <div className="hint">used once to unlock its key; objects are encrypted again under it. Never stored.</div>
            </div>
            {refusal && <ErrorBox title="Refused" code={refusal.code} message={`${refusal.message}${/[.!?]$/.test(refusal.message) ? '' : '.'} Nothing was copied.`} />}
            <div className="wizard-nav">
              <button type="button" onClick={onClose}>Cancel</button>
              <button type="submit" className="primary" disabled={busy || !placeReady || notValid.length > 0 || versions.length === 0}>{busy ? 'Checking…' : `Copy ${plural(versions.length, 'version')}`}</button>
            </div>
          </>
        ) : (
          <>
            {job ? <JobProgress job={job} /> : <p className="muted">Starting…</p>}
            {job && isFinished(job.state) && <Result job={job} />}
            <div className="wizard-nav">
              {running && <button type="button" className="danger" onClick={() => void cancelJob(jobId)}>Cancel copy</button>}
              <button type="button" onClick={() => { onClose(); navigate({ view: 'jobs', job: jobId }); }}>Job log</button>
              <button type="button" className="primary" onClick={onClose}>{running ? 'Close (the copy goes on)' : 'Close'}</button>
            </div>
          </>
        )}
      </form>
    </dialog>
  );
}
