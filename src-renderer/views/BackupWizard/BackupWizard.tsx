// Backup wizard: 1 source (a file path, or a block device from the list with size and
// model), 2 name, snapshot, tags, base version for an incremental (the latest valid version
// of the same name is offered) and a hints file, 3 summary, then live progress.
import { useEffect, useState } from 'react';
import type { BlockDevice, Job, PathInfo } from '../../../src-shared/api/types';
import { humanBytes, shortUid } from '../../../src-shared/api/format';
import type { Version } from '../../../src-shared/model';
import { JobProgress, KeyValue, formatDate } from '../../components/common';
import { PathField } from '../../components/PathField';
import { Steps } from '../../components/Steps';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';

const STEPS = ['Source', 'Details', 'Summary', 'Progress'];

function basename(path: string): string {
  return path.split('/').filter(Boolean).pop() ?? '';
}

export function BackupWizard() {
  const api = useApi();
  const reportError = useApp((s) => s.reportError);
  const upsertJob = useApp((s) => s.upsertJob);
  const [step, setStep] = useState(0);
  const [kind, setKind] = useState<'file' | 'device'>('file');
  const [source, setSource] = useState('');
  const [sourceInfo, setSourceInfo] = useState<PathInfo | null>(null);
  const [devices, setDevices] = useState<BlockDevice[] | null>(null);
  const [name, setName] = useState('');
  const [snapshot, setSnapshot] = useState('');
  const [tags, setTags] = useState('');
  const [incremental, setIncremental] = useState(false);
  const [base, setBase] = useState<Version | null>(null);
  const [hints, setHints] = useState('');
  const [jobId, setJobId] = useState<string | null>(null);
  const [starting, setStarting] = useState(false);
  const job: Job | undefined = useApp((s) => (jobId ? s.jobs[jobId] : undefined));

  useEffect(() => {
    if (kind === 'device' && devices === null) api.listBlockDevices().then(setDevices, (e) => { setDevices([]); reportError(e, 'Listing block devices'); });
  }, [kind, devices, api, reportError]);

  const versions = useApp((s) => s.versions);
  useEffect(() => {
    if (!name) {
      setBase(null);
      return;
    }
    const timer = setTimeout(() => api.suggestBase({ name }).then(setBase, () => setBase(null)), 200);
    return () => clearTimeout(timer);
  }, [name, api, versions]);

  const sourceSize = kind === 'device' ? devices?.find((d) => d.path === source)?.size ?? 0 : sourceInfo?.size ?? 0;
  const sourceOk = kind === 'device' ? Boolean(devices?.some((d) => d.path === source)) : sourceInfo?.kind === 'file' || sourceInfo?.kind === 'device';
  const tagList = tags.split(',').map((t) => t.trim()).filter(Boolean);

  const start = async (): Promise<void> => {
    setStarting(true);
    try {
      const started = await api.startBackup({
        source,
        name,
        snapshot: snapshot || undefined,
        tags: tagList.length ? tagList : undefined,
        from: incremental && base ? base.uid : undefined,
        hints: incremental && base && hints ? hints : undefined,
      });
      upsertJob(started);
      setJobId(started.id);
      setStep(3);
    } catch (error) {
      reportError(error, 'Starting the backup');
    } finally {
      setStarting(false);
    }
  };

  return (
    <div className="view">
      <h1>Back up</h1>
      <Steps steps={STEPS} current={step} />
      {step === 0 && (
        <section className="card">
          <h2>Source</h2>
          <div className="row" role="radiogroup" aria-label="Source kind">
            <label className="radio"><input type="radio" name="kind" checked={kind === 'file'} onChange={() => { setKind('file'); setSource(''); }} /> Image file</label>
            <label className="radio"><input type="radio" name="kind" checked={kind === 'device'} onChange={() => { setKind('device'); setSource(''); }} /> Block device</label>
          </div>
          {kind === 'file' ? (
            <PathField label="Image file (raw)" value={source} onChange={setSource} purpose="source" placeholder="/var/lib/images/disk.raw" onInfo={setSourceInfo} autoFocus />
          ) : devices === null ? <p className="muted">Reading block devices…</p> : devices.length === 0 ? (
            <p className="muted">No block devices are visible on this machine.</p>
          ) : (
            <table className="table compact">
              <thead><tr><th /><th>Device</th><th>Size</th><th>Model</th><th /></tr></thead>
              <tbody>
                {devices.map((d) => (
                  <tr key={d.path}>
                    <td><input type="radio" name="device" aria-label={d.path} checked={source === d.path} onChange={() => setSource(d.path)} /></td>
                    <td className="mono">{d.path}</td>
                    <td className="num">{humanBytes(d.size)}</td>
                    <td>{d.model || <span className="muted">—</span>}</td>
                    <td className="muted">{d.readOnly ? 'read-only' : ''}{d.removable ? ' removable' : ''}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
          <div className="wizard-nav">
            <button type="button" className="primary" disabled={!sourceOk} onClick={() => { if (!name) setName(basename(source).replace(/\.(raw|img|qcow2)$/, '')); setStep(1); }}>Next</button>
          </div>
        </section>
      )}
      {step === 1 && (
        <section className="card">
          <h2>Details</h2>
          <div className="field">
            <label htmlFor="backup-name">Name (the disk or VM)</label>
            <input id="backup-name" value={name} onChange={(e) => setName(e.target.value)} autoFocus />
          </div>
          <div className="row wrap">
            <div className="field grow">
              <label htmlFor="backup-snapshot">Snapshot name (optional)</label>
              <input id="backup-snapshot" value={snapshot} onChange={(e) => setSnapshot(e.target.value)} placeholder="e.g. nightly-2024-05-01" />
            </div>
            <div className="field grow">
              <label htmlFor="backup-tags">Tags (comma separated)</label>
              <input id="backup-tags" value={tags} onChange={(e) => setTags(e.target.value)} placeholder="daily, prod" />
            </div>
          </div>
          <fieldset>
            <legend>Base version</legend>
            <label className="radio"><input type="radio" checked={!incremental} onChange={() => setIncremental(false)} /> Full backup: read every block (only new data is written either way)</label>
            <label className="radio">
              <input type="radio" checked={incremental} disabled={!base} onChange={() => setIncremental(true)} /> Incremental from the latest valid version of “{name}”
              {base ? <span className="muted"> ({formatDate(base.date)}, {shortUid(base.uid)})</span> : <span className="muted"> (none exists)</span>}
            </label>
            {incremental && base && (
              <PathField label="Hints file (optional: rbd diff JSON of changed extents; without it every block is read)" value={hints} onChange={setHints} purpose="hints" placeholder="/tmp/changes.json" />
            )}
          </fieldset>
          <div className="wizard-nav">
            <button type="button" onClick={() => setStep(0)}>Back</button>
            <button type="button" className="primary" disabled={!name.trim()} onClick={() => setStep(2)}>Next</button>
          </div>
        </section>
      )}
      {step === 2 && (
        <section className="card">
          <h2>Summary</h2>
          <KeyValue rows={[
            ['Source', <span className="mono" key="s">{source}</span>],
            ['Size', `${humanBytes(sourceSize)} (${sourceSize.toLocaleString()} bytes)`],
            ['Name', name],
            ['Snapshot', snapshot || '—'],
            ['Tags', tagList.join(', ') || '—'],
            ['Kind', incremental && base ? `incremental from ${shortUid(base.uid)}${hints ? ' with hints' : ', every block reread'}` : 'full'],
          ]} />
          <p className="muted">The source is opened read-only. The version becomes valid only after all its data is stored durably.</p>
          <div className="wizard-nav">
            <button type="button" onClick={() => setStep(1)}>Back</button>
            <button type="button" className="primary" disabled={starting} onClick={() => void start()}>Start backup</button>
          </div>
        </section>
      )}
      {step === 3 && (
        <section className="card">
          <h2>Progress</h2>
          {!job ? <p className="muted">Starting…</p> : <JobProgress job={job} cancel={{ label: 'Cancel backup', onCancel: () => void api.cancelJob({ id: job.id }) }} />}
          {job?.state === 'succeeded' && job.result?.kind === 'backup' && (
            <div className="notice success" role="status" data-testid="backup-result">
              Backup done: version <a className="mono" href={`#/version/${job.result.value.uid}`}>{job.result.value.uid}</a>.{' '}
              {job.result.value.stats.blocksWritten} new blocks, {job.result.value.stats.blocksDedup} deduplicated, {job.result.value.stats.blocksSparse} sparse; {humanBytes(job.result.value.stats.bytesStored)} stored.
            </div>
          )}
          {job?.state === 'canceled' && <p className="muted">Data the canceled backup wrote is reclaimed by the next cleanup.</p>}
          <div className="wizard-nav">
            <button type="button" onClick={() => { setJobId(null); setStep(0); setSource(''); }}>Another backup</button>
            <button type="button" onClick={() => navigate({ view: 'versions' })}>Versions</button>
          </div>
        </section>
      )}
    </div>
  );
}
