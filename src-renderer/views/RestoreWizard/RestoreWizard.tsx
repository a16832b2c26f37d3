// Restore wizard: 1 version, 2 target kind (new file, existing file, block device) and path
// with a size check (a target smaller than the version is refused) and the sparse option,
// 3 confirmation (overwriting needs the target's name typed), 4 live progress with rate and
// ETA; the result says how many blocks were verified against their digests.
import { useEffect, useMemo, useState } from 'react';
import type { BlockDevice, Job, PathInfo } from '../../../src-shared/api/types';
import { humanBytes, shortUid } from '../../../src-shared/api/format';
import { EmptyState, ErrorBox, JobProgress, KeyValue, formatDate } from '../../components/common';
import { PathField } from '../../components/PathField';
import { Steps } from '../../components/Steps';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';

const STEPS = ['Version', 'Target', 'Confirm', 'Progress'];
type TargetKind = 'new' | 'existing' | 'device';

function basename(path: string): string {
  return path.split('/').filter(Boolean).pop() ?? '';
}

export function RestoreWizard({ initialUid }: { initialUid?: string }) {
  const api = useApi();
  const versions = useApp((s) => s.versions);
  const reportError = useApp((s) => s.reportError);
  const upsertJob = useApp((s) => s.upsertJob);
  const restorable = useMemo(() => [...versions].filter((v) => v.status !== 'incomplete').sort((a, b) => b.date.localeCompare(a.date)), [versions]);
  const [step, setStep] = useState(initialUid ? 1 : 0);
  const [uid, setUid] = useState(initialUid ?? '');
  const [kind, setKind] = useState<TargetKind>('new');
  const [target, setTarget] = useState('');
  const [info, setInfo] = useState<PathInfo | null>(null);
  const [devices, setDevices] = useState<BlockDevice[] | null>(null);
  const [zeroed, setZeroed] = useState(false);
  const [confirm, setConfirm] = useState('');
  const [jobId, setJobId] = useState<string | null>(null);
  const job: Job | undefined = useApp((s) => (jobId ? s.jobs[jobId] : undefined));
  const version = versions.find((v) => v.uid === uid);

  useEffect(() => {
    if (kind === 'device' && devices === null) api.listBlockDevices().then(setDevices, (e) => { setDevices([]); reportError(e, 'Listing block devices'); });
  }, [kind, devices, api, reportError]);

  const device = devices?.find((d) => d.path === target);
  const targetSize = kind === 'device' ? device?.size ?? 0 : info?.size ?? 0;
  let problem: string | null = null;
  if (!target) problem = 'choose a target';
  else if (kind === 'new') {
    if (info && info.kind !== 'missing') problem = `${target} exists; choose “existing file” to overwrite it`;
    else if (info && !info.parentExists) problem = 'its folder does not exist';
    else if (!info) problem = 'checking…';
  } else if (kind === 'existing') {
    if (!info) problem = 'checking…';
    else if (info.kind !== 'file') problem = info.kind === 'missing' ? `${target} does not exist; choose “new file”` : `${target} is a ${info.kind}, not a file`;
  } else if (!device) problem = 'choose a device';
  if (!problem && kind !== 'new' && version && targetSize < version.size) {
    problem = `the target has ${humanBytes(targetSize)} (${targetSize.toLocaleString()} bytes) but the version needs ${humanBytes(version.size)} (${version.size.toLocaleString()} bytes): refused`;
  }
  const overwrite = kind !== 'new';
  const confirmed = !overwrite || confirm === basename(target);

  const start = async (): Promise<void> => {
    try {
      const started = await api.startRestore({ uid, target, force: overwrite || undefined, sparse: overwrite && zeroed ? true : undefined, confirm: overwrite ? confirm : undefined });
      upsertJob(started);
      setJobId(started.id);
      setStep(3);
    } catch (error) {
      reportError(error, 'Starting the restore');
    }
  };

  if (restorable.length === 0 && !initialUid) {
    return (
      <div className="view">
        <h1>Restore</h1>
        <EmptyState title="Nothing to restore"><p>There are no finished versions in this repository yet.</p></EmptyState>
      </div>
    );
  }
  const result = job?.state === 'succeeded' && job.result?.kind === 'restore' ? job.result.value : null;

  return (
    <div className="view">
      <h1>Restore</h1>
      <Steps steps={STEPS} current={step} />
      {step === 0 && (
        <section className="card">
          <h2>Version</h2>
          <table className="table compact">
            <thead><tr><th /><th>Date</th><th>Name</th><th>Snapshot</th><th>Size</th><th>Status</th><th>UID</th></tr></thead>
            <tbody>
              {restorable.map((v) => (
                <tr key={v.uid} className={uid === v.uid ? 'selected' : ''}>
                  <td><input type="radio" name="version" aria-label={`Version ${v.uid}`} checked={uid === v.uid} onChange={() => setUid(v.uid)} /></td>
                  <td>{formatDate(v.date)}</td><td>{v.name}</td><td>{v.snapshot}</td><td className="num">{humanBytes(v.size)}</td>
                  <td><span className={`badge ${v.status}`}>{v.status}</span></td><td className="mono">{shortUid(v.uid)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {version?.status === 'invalid' && <ErrorBox title="Warning" message="This version is invalid: a scrub found damaged or missing data. The restore stops at the first bad block." />}
          <div className="wizard-nav"><button type="button" className="primary" disabled={!version} onClick={() => setStep(1)}>Next</button></div>
        </section>
      )}
      {step === 1 && version && (
        <section className="card">
          <h2>Target for {version.name} <span className="muted">({humanBytes(version.size)}, {formatDate(version.date)})</span></h2>
          <div className="row" role="radiogroup" aria-label="Target kind">
            {(['new', 'existing', 'device'] as TargetKind[]).map((k) => (
              <label key={k} className="radio">
                <input type="radio" name="target-kind" checked={kind === k} onChange={() => { setKind(k); setTarget(''); setConfirm(''); }} />{' '}
                {k === 'new' ? 'New file' : k === 'existing' ? 'Existing file (overwrite)' : 'Block device (overwrite)'}
              </label>
            ))}
          </div>
          {kind === 'device' ? (
            devices === null ? <p className="muted">Reading block devices…</p> : devices.length === 0 ? <p className="muted">No block devices are visible on this machine.</p> : (
              <table className="table compact">
                <thead><tr><th /><th>Device</th><th>Size</th><th>Model</th></tr></thead>
                <tbody>
                  {devices.map((d) => (
                    <tr key={d.path}>
                      <td><input type="radio" name="device" aria-label={d.path} checked={target === d.path} disabled={d.readOnly} onChange={() => setTarget(d.path)} /></td>
                      <td className="mono">{d.path}</td><td className="num">{humanBytes(d.size)}</td><td>{d.model}{d.readOnly ? ' (read-only)' : ''}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            )
          ) : (
            <PathField label={kind === 'new' ? 'New file' : 'Existing file'} value={target} onChange={setTarget} purpose="target" onInfo={setInfo} autoFocus />
          )}
          {kind === 'new' ? (
            <p className="muted">A new file is written sparse: zero blocks stay holes.</p>
          ) : (
            <label className="checkbox"><input type="checkbox" checked={zeroed} onChange={(e) => setZeroed(e.target.checked)} /> The target is already zeroed: skip writing zero blocks (sparse)</label>
          )}
          {problem && target && <div className={`hint ${problem.includes('refused') || problem.includes('exists') || problem.includes('not') ? 'bad' : ''}`} role="status">{problem}</div>}
          {!problem && <div className="hint good" role="status">Size check passed{kind !== 'new' ? `: target ${humanBytes(targetSize)} ≥ version ${humanBytes(version.size)}` : ''}.</div>}
          <div className="wizard-nav">
            <button type="button" onClick={() => setStep(0)}>Back</button>
            <button type="button" className="primary" disabled={Boolean(problem)} onClick={() => setStep(2)}>Next</button>
          </div>
        </section>
      )}
      {step === 2 && version && (
        <section className="card">
          <h2>Confirm</h2>
          <KeyValue rows={[
            ['Version', `${version.name} ${version.snapshot} · ${formatDate(version.date)} · ${version.uid}`],
            ['Size', `${humanBytes(version.size)} (${version.blocks.toLocaleString()} blocks)`],
            ['Target', <span className="mono" key="t">{target}</span>],
            ['Writes', kind === 'new' ? 'a new sparse file' : zeroed ? 'data blocks only (target already zeroed)' : 'every block, zeros included'],
          ]} />
          {overwrite && (
            <div className="danger-zone">
              <p><strong>Everything on {target} will be overwritten.</strong> Type <code>{basename(target)}</code> to confirm.</p>
              <input aria-label="Type the target's name to confirm" value={confirm} onChange={(e) => setConfirm(e.target.value)} autoFocus className="mono" />
            </div>
          )}
          <div className="wizard-nav">
            <button type="button" onClick={() => setStep(1)}>Back</button>
            <button type="button" className={overwrite ? 'danger' : 'primary'} disabled={!confirmed} onClick={() => void start()}>{overwrite ? 'Overwrite and restore' : 'Start restore'}</button>
          </div>
        </section>
      )}
      {step === 3 && (
        <section className="card">
          <h2>Progress</h2>
          {!job ? <p className="muted">Starting…</p> : <JobProgress job={job} cancel={{ label: 'Cancel restore', onCancel: () => void api.cancelJob({ id: job.id }) }} />}
          {result && (
            <div className="notice success" role="status" data-testid="restore-result">
              Restored {humanBytes(result.bytes)} to <span className="mono">{result.target}</span>. Every block was verified: {result.blocksVerified.toLocaleString()} of {result.blocksVerified.toLocaleString()} data blocks matched their SHA-256 digests; {result.blocksSparse.toLocaleString()} blocks are sparse (zero).
            </div>
          )}
          <div className="wizard-nav">
            <button type="button" onClick={() => navigate({ view: 'versions' })}>Versions</button>
            <button type="button" onClick={() => navigate({ view: 'jobs', job: jobId ?? undefined })}>Job log</button>
          </div>
        </section>
      )}
    </div>
  );
}
