// Version detail: metadata, statistics, space, tags, the protect toggle, the block map
// (hover or arrow keys show a block's index, offset and object) and a compare view that
// paints which blocks differ from another version of the same disk. "Copy to…" and "Serve over
// NBD…" open their dialogs (views/Versions); this version's NBD servings are listed with Stop.
import { useCallback, useEffect, useRef, useState } from 'react';
import type { BlockInfo, Comparison, VersionDetail } from '../../../src-shared/api/types';
import { humanBytes, humanDuration, shortUid } from '../../../src-shared/api/format';
import type { BlockMap as BlockMapData, DiffRange } from '../../../src-shared/model';
import { toApiError } from '../../api/client';
import { BlockMap } from '../../components/BlockMap';
import { EmptyState, ErrorBox, formatDate, KeyValue, Stat, StatusBadge } from '../../components/common';
import { COMPARE_LEGEND, STATE_NAMES, VERSION_LEGEND } from '../../components/palettes';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';
import { OriginSection } from './Origin';
import { CopyDialog } from '../Versions/CopyDialog';
import { ServeNbdDialog, ServingsList } from '../Versions/NbdServing';

function useBlockInfo(uid: string): [BlockInfo | null, (idx: number | null) => void] {
  const api = useApi();
  const [info, setInfo] = useState<BlockInfo | null>(null);
  const cache = useRef(new Map<number, BlockInfo>());
  const timer = useRef<ReturnType<typeof setTimeout> | null>(null);
  const inspect = useCallback(
    (idx: number | null) => {
      if (timer.current) clearTimeout(timer.current);
      if (idx === null) return;
      const cached = cache.current.get(idx);
      if (cached) {
        setInfo(cached);
        return;
      }
      timer.current = setTimeout(() => {
        api.getBlockInfo({ uid, idx }).then((result) => {
          cache.current.set(idx, result);
          setInfo(result);
        }, () => setInfo(null));
      }, 80);
    },
    [api, uid],
  );
  return [info, inspect];
}

function Tags({ detail, reload }: { detail: VersionDetail; reload(): void }) {
  const api = useApi();
  const reportError = useApp((s) => s.reportError);
  const [tag, setTag] = useState('');
  const uid = detail.version.uid;
  return (
    <div className="row wrap">
      {detail.version.tags.length === 0 && <span className="muted">no tags</span>}
      {detail.version.tags.map((t) => (
        <span key={t} className="tag">
          {t}{' '}
          <button type="button" className="small ghost" aria-label={`Remove tag ${t}`} onClick={() => api.removeTag({ uids: [uid], tag: t }).then(reload, (e) => reportError(e, 'Removing the tag'))}>✕</button>
        </span>
      ))}
      <form
        className="row"
        onSubmit={(event) => {
          event.preventDefault();
          if (tag) api.addTag({ uids: [uid], tag }).then(() => { setTag(''); reload(); }, (e) => reportError(e, 'Adding the tag'));
        }}
      >
        <input aria-label="New tag" placeholder="new tag" value={tag} onChange={(e) => setTag(e.target.value)} className="narrow" />
        <button type="submit" disabled={!tag}>Add tag</button>
      </form>
    </div>
  );
}

/** The version's note: free text for the admin (why it exists, what it holds), saved with Save or Ctrl+Enter. */
function Note({ detail, reload }: { detail: VersionDetail; reload(): void }) {
  const api = useApi();
  const reportError = useApp((s) => s.reportError);
  const notify = useApp((s) => s.notify);
  const saved = detail.version.note ?? '';
  const [text, setText] = useState(saved);
  useEffect(() => setText(saved), [saved]);
  const save = (): void => {
    api.setVersionNote({ uid: detail.version.uid, note: text }).then(() => { notify('success', text.trim() ? 'Note saved' : 'Note removed'); reload(); }, (e) => reportError(e, 'Saving the note'));
  };
  return (
    <form
      className="note-form"
      onSubmit={(event) => {
        event.preventDefault();
        save();
      }}
    >
      <label htmlFor="version-note" className="visually-hidden">Note</label>
      <textarea
        id="version-note"
        rows={2}
        maxLength={4096}
        placeholder="why this version matters, what changed, a ticket…"
        value={text}
        onChange={(e) => setText(e.target.value)}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && (e.ctrlKey || e.metaKey)) {
            e.preventDefault();
            save();
          }
        }}
      />
      <button type="submit" className="small" disabled={text === saved}>Save note</button>
    </form>
  );
}

function CompareSection({ detail, compare }: { detail: VersionDetail; compare?: string }) {
  const api = useApi();
  const uid = detail.version.uid;
  const [other, setOther] = useState(compare ?? detail.siblings[0]?.uid ?? '');
  const [comparison, setComparison] = useState<Comparison | null>(null);
  const [ranges, setRanges] = useState<DiffRange[]>([]);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const run = (target: string): void => {
    setError(null);
    Promise.all([api.compareVersions({ left: uid, right: target }), api.diffVersions({ left: uid, right: target })]).then(
      ([result, diff]) => {
        setComparison(result);
        setRanges(diff);
      },
      (e) => setError(toApiError(e)),
    );
  };
  useEffect(() => {
    if (compare) run(compare);
    // eslint-disable-next-line react-hooks/exhaustive-deps
  }, [compare]);
  if (detail.siblings.length === 0) return <p className="muted">No other version of {detail.version.name} to compare with.</p>;
  const otherVersion = detail.siblings.find((v) => v.uid === comparison?.right);
  return (
    <div>
      <div className="row">
        <label htmlFor="compare-with">Compare with</label>
        <select id="compare-with" value={other} onChange={(e) => setOther(e.target.value)}>
          {detail.siblings.map((v) => <option key={v.uid} value={v.uid}>{formatDate(v.date)} {v.snapshot} ({shortUid(v.uid)}, {v.status})</option>)}
        </select>
        <button type="button" onClick={() => run(other)} disabled={!other}>Compare</button>
      </div>
      {error && <ErrorBox code={error.code} message={error.message} />}
      {comparison && (
        <>
          <p>
            <strong>{comparison.differingBlocks.toLocaleString()}</strong> of {comparison.states.length.toLocaleString()} blocks differ ({humanBytes(comparison.differingBytes)}) between this version and {otherVersion ? formatDate(otherVersion.date) : shortUid(comparison.right)}.
          </p>
          <BlockMap
            states={comparison.states}
            legend={COMPARE_LEGEND}
            label="Comparison map"
            maxHeight={200}
            describe={(idx) => <span>block {idx.toLocaleString()} · offset {(idx * comparison.blockSize).toLocaleString()} · {COMPARE_LEGEND[comparison.states[idx]]?.label}</span>}
          />
          {ranges.length > 0 && (
            <details>
              <summary>{ranges.length} differing range{ranges.length === 1 ? '' : 's'}</summary>
              <table className="table compact">
                <thead><tr><th>Blocks</th><th>Offset</th><th>Length</th><th>Kind</th></tr></thead>
                <tbody>
                  {ranges.slice(0, 200).map((r) => (
                    <tr key={r.first}><td>{r.first}–{r.last}</td><td className="num">{r.offset.toLocaleString()}</td><td className="num">{humanBytes(r.length)}</td><td>{r.kind}</td></tr>
                  ))}
                </tbody>
              </table>
            </details>
          )}
        </>
      )}
    </div>
  );
}

export function VersionDetailView({ uid, compare }: { uid: string; compare?: string }) {
  const api = useApi();
  const reportError = useApp((s) => s.reportError);
  const versions = useApp((s) => s.versions);
  const [detail, setDetail] = useState<VersionDetail | null>(null);
  const [map, setMap] = useState<BlockMapData | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const [info, inspect] = useBlockInfo(uid);
  const [dialog, setDialog] = useState<'copy' | 'serve' | null>(null);

  const reload = useCallback(() => {
    api.getVersionDetail({ uid }).then(setDetail, (e) => setError(toApiError(e)));
    api.getBlockMap({ uid }).then(setMap, (e) => setError(toApiError(e)));
  }, [api, uid]);
  useEffect(reload, [reload, versions]);

  if (error && !detail) {
    return (
      <div className="view">
        <h1>Version</h1>
        <ErrorBox code={error.code} message={error.message} />
        <button type="button" onClick={() => navigate({ view: 'versions' })}>Back to versions</button>
      </div>
    );
  }
  if (!detail) return <div className="view"><p className="muted">Loading version…</p></div>;
  const v = detail.version;
  const s = detail.stats;
  const toggleProtect = (): void => {
    api.setProtected({ uids: [uid], value: !v.protected }).then(reload, (e) => reportError(e, v.protected ? 'Unprotecting' : 'Protecting'));
  };
  return (
    <div className="view">
      <div className="row">
        <h1 className="grow">{v.name} {v.snapshot && <span className="muted">/ {v.snapshot}</span>} <StatusBadge version={v} /></h1>
        <button type="button" className="primary" disabled={v.status === 'incomplete'} onClick={() => navigate({ view: 'restore', uid })}>Restore…</button>
        <button type="button" disabled={v.status === 'incomplete'} onClick={() => navigate({ view: 'scrub', uids: [uid] })}>Scrub…</button>
        <button type="button" disabled={v.status !== 'valid'} title={v.status !== 'valid' ? 'only valid versions are copied' : undefined} onClick={() => setDialog('copy')}>Copy to…</button>
        <button type="button" disabled={v.status === 'incomplete'} onClick={() => setDialog('serve')}>Serve over NBD…</button>
        <button type="button" onClick={toggleProtect} aria-pressed={v.protected}>{v.protected ? 'Unprotect' : 'Protect'}</button>
      </div>
      {dialog === 'copy' && <CopyDialog uids={[uid]} onClose={() => setDialog(null)} />}
      {dialog === 'serve' && <ServeNbdDialog version={v} onClose={() => setDialog(null)} />}
      <ServingsList uid={uid} title="Served over NBD" />
      <div className="columns">
        <section className="card">
          <h2>Version</h2>
          <KeyValue rows={[
            ['UID', <span className="mono" key="uid">{v.uid}</span>],
            ['Date', formatDate(v.date)],
            ['Size', `${humanBytes(v.size)} (${v.size.toLocaleString()} bytes)`],
            ['Blocks', `${v.blocks.toLocaleString()} × ${humanBytes(v.blockSize)}`],
            ['Base version', v.baseUid ? <a key="base" href={`#/version/${v.baseUid}`} className="mono">{shortUid(v.baseUid)}</a> : 'none (full backup)'],
            ['Source', <span className="mono" key="src">{v.source}</span>],
            ['Tags', <Tags key="tags" detail={detail} reload={reload} />],
            ['Note', <Note key="note" detail={detail} reload={reload} />],
          ]} />
        </section>
        <section className="card">
          <h2>Statistics</h2>
          {s ? (
            <div className="stats">
              <Stat label="Read" value={humanBytes(s.bytesRead)} hint={`${s.blocksRead.toLocaleString()} blocks`} />
              <Stat label="Written" value={humanBytes(s.bytesWritten)} hint={`${humanBytes(s.bytesStored)} stored`} />
              <Stat label="Deduplicated" value={humanBytes(s.bytesDedup)} hint={`${s.blocksDedup.toLocaleString()} blocks`} />
              <Stat label="Sparse" value={humanBytes(s.bytesSparse)} hint={`${s.blocksSparse.toLocaleString()} blocks`} />
              <Stat label="From base" value={s.blocksFromBase.toLocaleString()} hint="blocks not read" />
              <Stat label="Duration" value={humanDuration(s.durationMs / 1000)} hint={s.durationMs > 0 ? `${humanBytes((s.sizeBytes * 1000) / s.durationMs)}/s` : ''} />
            </div>
          ) : <p className="muted">No statistics (imported or unfinished version).</p>}
          <h3>Space</h3>
          <KeyValue rows={[
            ['Shared with other versions', humanBytes(detail.du.sharedBytes)],
            ['Only in this version', humanBytes(detail.du.exclusiveBytes)],
            ['Freed by delete + cleanup', humanBytes(detail.du.reclaimableBytes)],
            ['Stored bytes referenced', humanBytes(detail.du.storedBytes)],
          ]} />
        </section>
      </div>
      <section className="card" aria-labelledby="map-title">
        <h2 id="map-title">Block map</h2>
        {!map ? <p className="muted">Loading block map…</p> : map.states.length === 0 ? <EmptyState title="This version is empty (0 bytes)" /> : (
          <BlockMap
            states={map.states}
            legend={VERSION_LEGEND}
            label={`Block map of version ${uid}`}
            onInspect={inspect}
            describe={(idx) => (
              <span>
                block <strong>{idx.toLocaleString()}</strong> · offset {(idx * map.blockSize).toLocaleString()} · {STATE_NAMES[map.states[idx]]}
                {info && info.idx === idx ? <> · object <span className="mono">{info.object ? `${info.object.slice(0, 16)}…` : 'none (sparse)'}</span>{info.storedSize ? ` · ${humanBytes(info.storedSize)} stored` : ''}</> : null}
              </span>
            )}
          />
        )}
      </section>
      <OriginSection detail={detail} />
      <section className="card" aria-labelledby="compare-title">
        <h2 id="compare-title">Compare</h2>
        <CompareSection detail={detail} compare={compare} />
      </section>
      <section className="card" aria-labelledby="scrubs-title">
        <h2 id="scrubs-title">Scrub history</h2>
        {detail.scrubs.length === 0 ? <p className="muted">Never scrubbed.</p> : (
          <table className="table compact">
            <thead><tr><th>Date</th><th>Mode</th><th>Checked</th><th>Invalid</th><th>Missing</th><th>Result</th></tr></thead>
            <tbody>
              {detail.scrubs.map((r) => (
                <tr key={r.id}>
                  <td><a href={`#/scrub?uids=${uid}&report=${uid}`}>{formatDate(r.date)}</a></td>
                  <td>{r.mode}{r.percent < 100 ? ` ${r.percent}%` : ''}</td>
                  <td className="num">{r.blocksChecked.toLocaleString()}</td>
                  <td className="num">{r.blocksInvalid}</td>
                  <td className="num">{r.blocksMissing}</td>
                  <td>{r.ok ? <span className="badge valid">ok</span> : <span className="badge invalid">problems</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </section>
    </div>
  );
}
