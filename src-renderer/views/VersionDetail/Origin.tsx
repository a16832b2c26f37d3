// A version's chain of origin (its base, that base's base, ...), the hints file or NBD dirty
// bitmap its backup used, and what changed compared with its base: bytes and a map.
import { useEffect, useState, type ReactNode } from 'react';
import { humanBytes, plural, shortUid } from '../../../src-shared/api/format';
import type { Comparison, VersionDetail } from '../../../src-shared/api/types';
import { toApiError } from '../../api/client';
import { BlockMap } from '../../components/BlockMap';
import { ErrorBox, formatDate, KeyValue } from '../../components/common';
import { COMPARE_LEGEND } from '../../components/palettes';
import { useApi } from '../../store';

export function OriginSection({ detail }: { detail: VersionDetail }) {
  const api = useApi();
  const v = detail.version;
  const origin = detail.origin;
  const base = origin.chain[0];
  const [changes, setChanges] = useState<Comparison | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  useEffect(() => {
    setChanges(null);
    setError(null);
    if (!base || base.status === 'deleted') return;
    api.compareVersions({ left: base.uid, right: v.uid }).then(setChanges, (e) => setError(toApiError(e)));
  }, [api, base, v.uid]);
  const changedBytes = changes ? changes.states.reduce((sum, code, idx) => (code === 0 ? sum : sum + Math.min(changes.blockSize, Math.max(0, v.size - idx * changes.blockSize))), 0) : 0;
  return (
    <section className="card" aria-labelledby="origin-title">
      <h2 id="origin-title">Origin</h2>
      <KeyValue rows={[
        ['Kind', base ? 'incremental: unchanged blocks taken from the base' : 'full backup: every block read from the source'],
        ['Chain', base ? (
          <ol className="chain" key="chain">
            <li><strong>this version</strong> <span className="mono">{shortUid(v.uid)}</span> · {formatDate(v.date, 'minutes')}</li>
            {origin.chain.map((step) => (
              <li key={step.uid}>
                {step.status === 'deleted' ? <><span className="mono">{shortUid(step.uid)}</span> <span className="badge invalid">deleted</span></> : (
                  <><a className="mono" href={`#/version/${step.uid}`}>{shortUid(step.uid)}</a> {step.snapshot} · {formatDate(step.date, 'minutes')} <span className={`badge ${step.status}`}>{step.status}</span></>
                )}
              </li>
            ))}
          </ol>
        ) : 'none'],
        ['Change hints', origin.hints ? <span className="mono" key="hints">{origin.hints}</span> : origin.bitmap ? `NBD dirty bitmap ${origin.bitmap}` : base ? (origin.job ? 'none: every block was read and compared' : 'not recorded (backed up outside the job history)') : 'none'],
        ['Source', <span className="mono" key="src">{v.source}</span>],
        ...(origin.job ? [['Backup job', <a key="job" href={`#/jobs/${origin.job}`}>{shortUid(origin.job)}</a>] as [string, ReactNode]] : []),
      ]} />
      {base && base.status !== 'deleted' && (
        <>
          <h3>Changed since its base</h3>
          {error && <ErrorBox code={error.code} message={error.message} />}
          {!changes ? !error && <p className="muted">Comparing…</p> : (
            <>
              <p data-testid="changed-since-base">
                <strong>{plural(changes.differingBlocks, 'block')}</strong> ({humanBytes(changedBytes)}) of {changes.states.length.toLocaleString()} changed since <a className="mono" href={`#/version/${base.uid}`}>{shortUid(base.uid)}</a>.
              </p>
              <BlockMap
                states={changes.states}
                legend={COMPARE_LEGEND.map((entry) => (entry.code === 1 ? { ...entry, label: 'changed since the base' } : entry.code === 0 ? { ...entry, label: 'unchanged' } : entry))}
                label="Blocks changed since the base"
                maxHeight={160}
                describe={(idx) => <span>block {idx.toLocaleString()} · offset {(idx * changes.blockSize).toLocaleString()} · {changes.states[idx] === 0 ? 'unchanged' : 'changed'}</span>}
              />
            </>
          )}
        </>
      )}
    </section>
  );
}
