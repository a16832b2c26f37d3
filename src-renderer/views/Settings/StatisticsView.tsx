// Statistics: per backup, bytes read, written, deduplicated and sparse over time, and what
// the store really holds over time (its bytes after every backup, canceled and failed ones
// included, and every cleanup). Rows of deleted versions do not link anywhere.
import { useEffect, useMemo, useState } from 'react';
import { humanBytes, humanDuration, shortUid, zoneOf } from '../../../src-shared/api/format';
import type { StoragePoint } from '../../../src-shared/api/types';
import type { BackupStats } from '../../../src-shared/model';
import { GroupedBars, LineChart } from '../../components/Charts';
import { EmptyState, formatDate } from '../../components/common';
import { useApi, useApp } from '../../store';
import { chartLabels } from '../../store/truth';

export function StatisticsView() {
  const api = useApi();
  const versions = useApp((s) => s.versions);
  const reportError = useApp((s) => s.reportError);
  const [stats, setStats] = useState<BackupStats[] | null>(null);
  const [storage, setStorage] = useState<StoragePoint[]>([]);
  const [name, setName] = useState('');
  useEffect(() => {
    api.listStats({ limit: 500 }).then(setStats, (e) => reportError(e, 'Loading statistics'));
    api.getStorageHistory({}).then(setStorage, (e) => reportError(e, 'Loading the storage history'));
  }, [api, versions, reportError]);
  const existing = useMemo(() => new Set(versions.map((v) => v.uid)), [versions]);
  const names = useMemo(() => [...new Set((stats ?? []).map((s) => s.name))].sort(), [stats]);
  const shown = useMemo(() => (stats ?? []).filter((s) => !name || s.name === name).slice(-60), [stats, name]);
  if (!stats) return <div className="view"><h1>Statistics</h1><p className="muted">Loading…</p></div>;
  if (stats.length === 0) return <div className="view"><h1>Statistics</h1><EmptyState title="No backups yet"><p>Statistics appear after the first backup.</p></EmptyState></div>;
  const labels = chartLabels(shown.map((s) => s.date));
  const storageLabels = chartLabels(storage.map((p) => p.date));
  const now = storage[storage.length - 1];
  return (
    <div className="view">
      <div className="row">
        <h1 className="grow">Statistics</h1>
        <label htmlFor="stats-name">Disk</label>
        <select id="stats-name" value={name} onChange={(e) => setName(e.target.value)}>
          <option value="">all</option>
          {names.map((n) => <option key={n} value={n}>{n}</option>)}
        </select>
      </div>
      <section className="card">
        <GroupedBars
          title={`Bytes per backup (last ${shown.length})`}
          labels={labels}
          series={[
            { label: 'read', color: '#64748b', values: shown.map((s) => s.bytesRead) },
            { label: 'written (new data)', color: '#2563eb', values: shown.map((s) => s.bytesWritten) },
            { label: 'deduplicated', color: '#14b8a6', values: shown.map((s) => s.bytesDedup) },
            { label: 'sparse', color: '#cbd5e1', values: shown.map((s) => s.bytesSparse) },
          ]}
        />
      </section>
      <section className="card">
        <LineChart
          title={`Bytes in the store over time (now ${humanBytes(now?.storedBytes ?? 0)})`}
          labels={storageLabels}
          notes={storage.map((p) => p.cause)}
          series={[{ label: 'stored in the object store (after each backup, canceled ones included, and cleanup)', color: '#7c3aed', values: storage.map((p) => p.storedBytes) }]}
        />
      </section>
      <section className="card">
        <h2>Backups</h2>
        <div className="table-scroll">
        <table className="table compact">
          <thead><tr><th>Date ({zoneOf()})</th><th>Name</th><th>Size</th><th>Read</th><th>Written</th><th>Stored</th><th>Dedup</th><th>Sparse</th><th>Duration</th><th>UID</th></tr></thead>
          <tbody>
            {[...shown].reverse().map((s) => (
              <tr key={s.uid + s.date}>
                <td className="nowrap">{formatDate(s.date, 'minutes', false)}</td><td>{s.name}</td><td className="num">{humanBytes(s.sizeBytes)}</td><td className="num">{humanBytes(s.bytesRead)}</td>
                <td className="num">{humanBytes(s.bytesWritten)}</td><td className="num">{humanBytes(s.bytesStored)}</td><td className="num">{humanBytes(s.bytesDedup)}</td>
                <td className="num">{humanBytes(s.bytesSparse)}</td><td>{humanDuration(s.durationMs / 1000)}</td><td className="mono">{existing.has(s.uid) ? <a href={`#/version/${s.uid}`}>{shortUid(s.uid)}</a> : <span title="this version was deleted">{shortUid(s.uid)} <span className="muted">(deleted)</span></span>}</td>
              </tr>
            ))}
          </tbody>
        </table>
        </div>
      </section>
    </div>
  );
}
