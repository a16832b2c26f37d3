// Statistics: per backup, bytes read, written, deduplicated and sparse over time, and the
// repository's growth (cumulative bytes stored by backups).
import { useEffect, useMemo, useState } from 'react';
import { humanBytes, humanDuration, shortUid } from '../../../src-shared/api/format';
import type { BackupStats } from '../../../src-shared/model';
import { GroupedBars, LineChart } from '../../components/Charts';
import { EmptyState, formatDate } from '../../components/common';
import { useApi, useApp } from '../../store';

export function StatisticsView() {
  const api = useApi();
  const versions = useApp((s) => s.versions);
  const reportError = useApp((s) => s.reportError);
  const [stats, setStats] = useState<BackupStats[] | null>(null);
  const [name, setName] = useState('');
  useEffect(() => {
    api.listStats({ limit: 500 }).then(setStats, (e) => reportError(e, 'Loading statistics'));
  }, [api, versions, reportError]);
  const names = useMemo(() => [...new Set((stats ?? []).map((s) => s.name))].sort(), [stats]);
  const shown = useMemo(() => (stats ?? []).filter((s) => !name || s.name === name).slice(-60), [stats, name]);
  if (!stats) return <div className="view"><h1>Statistics</h1><p className="muted">Loading…</p></div>;
  if (stats.length === 0) return <div className="view"><h1>Statistics</h1><EmptyState title="No backups yet"><p>Statistics appear after the first backup.</p></EmptyState></div>;
  const labels = shown.map((s) => formatDate(s.date).slice(5, 16));
  let total = 0;
  const growth = stats.map((s) => (total += s.bytesStored));
  const allLabels = stats.map((s) => formatDate(s.date).slice(5, 16));
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
        <LineChart title="Repository growth (bytes stored, cumulative)" labels={allLabels} series={[{ label: 'stored', color: '#7c3aed', values: growth }]} />
      </section>
      <section className="card">
        <h2>Backups</h2>
        <table className="table compact">
          <thead><tr><th>Date</th><th>Name</th><th>Size</th><th>Read</th><th>Written</th><th>Stored</th><th>Dedup</th><th>Sparse</th><th>Duration</th><th>UID</th></tr></thead>
          <tbody>
            {[...shown].reverse().map((s) => (
              <tr key={s.uid + s.date}>
                <td>{formatDate(s.date)}</td><td>{s.name}</td><td className="num">{humanBytes(s.sizeBytes)}</td><td className="num">{humanBytes(s.bytesRead)}</td>
                <td className="num">{humanBytes(s.bytesWritten)}</td><td className="num">{humanBytes(s.bytesStored)}</td><td className="num">{humanBytes(s.bytesDedup)}</td>
                <td className="num">{humanBytes(s.bytesSparse)}</td><td>{humanDuration(s.durationMs / 1000)}</td><td className="mono"><a href={`#/version/${s.uid}`}>{shortUid(s.uid)}</a></td>
              </tr>
            ))}
          </tbody>
        </table>
      </section>
    </div>
  );
}
