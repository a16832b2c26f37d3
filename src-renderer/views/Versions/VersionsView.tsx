// Versions browser: versions grouped by name (disk), sortable by column, filterable by
// text, status, protection, tag and date; multi-select with actions (restore, scrub,
// protect, tag, copy to another repository, serve over NBD, delete). Rows open the
// version's detail. Versions served over NBD are listed above the table, with Stop.
import { useEffect, useMemo, useState } from 'react';
import { humanBytes, plural, shortUid, zoneOf } from '../../../src-shared/api/format';
import type { VersionFacts } from '../../../src-shared/api/types';
import { EmptyState, formatDate, StatusBadge } from '../../components/common';
import { useApi, useApp } from '../../store';
import { navigate } from '../../store/navigate';
import { allTags, groupVersions } from '../../store/selectors';
import { EMPTY_FILTER, type SortKey } from '../../store/slices';
import { CopyDialog } from './CopyDialog';
import { ServeNbdDialog, ServingsList } from './NbdServing';

const COLUMNS: Array<{ key: SortKey | null; label: string; title?: string; num?: boolean }> = [
  { key: null, label: '' },
  { key: 'date', label: `Date (${zoneOf()})` },
  { key: 'name', label: 'Name' },
  { key: 'snapshot', label: 'Snapshot, tags, note' },
  { key: 'size', label: 'Size', num: true },
  { key: null, label: 'Stored', title: 'stored (compressed) bytes of the objects this version references', num: true },
  { key: null, label: 'Only here', title: 'stored bytes no other version references: what deleting it and a cleanup free', num: true },
  { key: null, label: 'Last verified', title: 'the newest scrub of this version: when, which mode, and what it found' },
  { key: 'status', label: 'Status' },
  { key: null, label: 'UID' },
];

function LastVerifiedCell({ facts }: { facts: VersionFacts | undefined }) {
  if (!facts) return <span className="muted">…</span>;
  const last = facts.lastVerified;
  if (!last) return <span className="muted">never</span>;
  return (
    <span title={`${last.mode} scrub${last.percent < 100 ? ` of ${last.percent}%` : ''} on ${formatDate(last.date)}`}>
      <span className="nowrap">{formatDate(last.date, 'minutes', false).slice(0, 10)}</span>{' '}
      <span className={`badge ${last.ok ? 'valid' : last.differs ? 'incomplete' : 'invalid'}`}>{last.mode}{last.percent < 100 ? ` ${last.percent}%` : ''} {last.ok ? 'ok' : last.differs ? 'differs' : 'failed'}</span>
    </span>
  );
}

function Filters() {
  const filter = useApp((s) => s.filter);
  const setFilter = useApp((s) => s.setFilter);
  const versions = useApp((s) => s.versions);
  const tags = useMemo(() => allTags(versions), [versions]);
  return (
    <div className="filters row wrap" role="search">
      <div className="field grow">
        <label htmlFor="filter-text">Filter</label>
        <input id="filter-text" type="search" placeholder="name, snapshot, tag, note or UID" value={filter.text} onChange={(e) => setFilter({ text: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="filter-status">Status</label>
        <select id="filter-status" value={filter.status} onChange={(e) => setFilter({ status: e.target.value as typeof filter.status })}>
          <option value="all">all</option>
          <option value="valid">valid</option>
          <option value="invalid">invalid</option>
          <option value="incomplete">incomplete</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="filter-protection">Protection</label>
        <select id="filter-protection" value={filter.protection} onChange={(e) => setFilter({ protection: e.target.value as typeof filter.protection })}>
          <option value="all">all</option>
          <option value="protected">protected</option>
          <option value="unprotected">unprotected</option>
        </select>
      </div>
      <div className="field">
        <label htmlFor="filter-tag">Tag</label>
        <select id="filter-tag" value={filter.tag} onChange={(e) => setFilter({ tag: e.target.value })}>
          <option value="">any</option>
          {tags.map((tag) => <option key={tag} value={tag}>{tag}</option>)}
        </select>
      </div>
      <div className="field">
        <label htmlFor="filter-from">From</label>
        <input id="filter-from" type="date" value={filter.from} onChange={(e) => setFilter({ from: e.target.value })} />
      </div>
      <div className="field">
        <label htmlFor="filter-to">To</label>
        <input id="filter-to" type="date" value={filter.to} onChange={(e) => setFilter({ to: e.target.value })} />
      </div>
      <button type="button" className="ghost" onClick={() => setFilter(EMPTY_FILTER)}>Reset</button>
    </div>
  );
}

function Actions() {
  const api = useApi();
  const selected = useApp((s) => s.selected);
  const setSelected = useApp((s) => s.setSelected);
  const reportError = useApp((s) => s.reportError);
  const notify = useApp((s) => s.notify);
  const versions = useApp((s) => s.versions);
  const [tag, setTag] = useState('');
  const [dialog, setDialog] = useState<'copy' | 'serve' | null>(null);
  const one = selected.length === 1 ? versions.find((v) => v.uid === selected[0]) : undefined;
  const run = async (what: string, action: () => Promise<unknown>): Promise<void> => {
    try {
      await action();
      notify('success', what);
    } catch (error) {
      reportError(error, what);
    }
  };
  const none = selected.length === 0;
  return (
    <div className="actions row wrap" aria-label="Actions on the selected versions">
      <span className="muted">{selected.length} selected</span>
      <button type="button" disabled={selected.length !== 1} onClick={() => navigate({ view: 'restore', uid: selected[0] })}>Restore…</button>
      <button type="button" disabled={none} onClick={() => navigate({ view: 'scrub', uids: selected })}>Scrub…</button>
      <button type="button" disabled={none} onClick={() => setDialog('copy')}>Copy to…</button>
      <button type="button" disabled={!one || one.status === 'incomplete'} onClick={() => setDialog('serve')}>Serve over NBD…</button>
      <button type="button" disabled={none} onClick={() => void run(`Protected ${plural(selected.length, "version")}`, () => api.setProtected({ uids: selected, value: true }))}>Protect</button>
      <button type="button" disabled={none} onClick={() => void run(`Unprotected ${plural(selected.length, "version")}`, () => api.setProtected({ uids: selected, value: false }))}>Unprotect</button>
      <input aria-label="Tag" placeholder="tag" value={tag} onChange={(e) => setTag(e.target.value)} className="narrow" />
      <button type="button" disabled={none || !tag} onClick={() => void run(`Tagged ${plural(selected.length, "version")} "${tag}"`, () => api.addTag({ uids: selected, tag }))}>Add tag</button>
      <button type="button" disabled={none || !tag} onClick={() => void run(`Removed tag "${tag}"`, () => api.removeTag({ uids: selected, tag }))}>Remove tag</button>
      <button type="button" className="danger" disabled={none} onClick={() => navigate({ view: 'cleanup' })}>Delete…</button>
      {!none && <button type="button" className="ghost" onClick={() => setSelected([])}>Clear selection</button>}
      {dialog === 'copy' && <CopyDialog uids={selected} onClose={() => setDialog(null)} />}
      {dialog === 'serve' && one && <ServeNbdDialog version={one} onClose={() => setDialog(null)} />}
    </div>
  );
}

export function VersionsView() {
  const api = useApi();
  const versions = useApp((s) => s.versions);
  const reportError = useApp((s) => s.reportError);
  const [facts, setFacts] = useState<Map<string, VersionFacts>>(new Map());
  useEffect(() => {
    api.listVersionFacts({}).then((list) => setFacts(new Map(list.map((f) => [f.uid, f]))), (e) => reportError(e, 'Loading stored bytes per version'));
  }, [api, versions, reportError]);
  const loaded = useApp((s) => s.versionsLoaded);
  const filter = useApp((s) => s.filter);
  const sort = useApp((s) => s.sort);
  const setSort = useApp((s) => s.setSort);
  const selected = useApp((s) => s.selected);
  const toggleSelected = useApp((s) => s.toggleSelected);
  const setSelected = useApp((s) => s.setSelected);
  const collapsed = useApp((s) => s.collapsed);
  const toggleCollapsed = useApp((s) => s.toggleCollapsed);
  const groups = useMemo(() => groupVersions(versions, filter, sort), [versions, filter, sort]);
  const visible = groups.flatMap((g) => g.versions.map((v) => v.uid));

  if (loaded && versions.length === 0) {
    return (
      <div className="view">
        <h1>Versions</h1>
        <EmptyState title="No versions yet">
          <p>Every backup creates a version. Start with a backup of a disk image or block device.</p>
          <button type="button" className="primary" onClick={() => navigate({ view: 'backup' })}>Back up now</button>
        </EmptyState>
      </div>
    );
  }

  const allSelected = visible.length > 0 && visible.every((uid) => selected.includes(uid));
  return (
    <div className="view">
      <div className="row">
        <h1 className="grow">Versions</h1>
        <button type="button" className="primary" onClick={() => navigate({ view: 'backup' })}>New backup…</button>
      </div>
      <Filters />
      <Actions />
      <ServingsList title="Served over NBD" />
      {groups.length === 0 ? (
        <EmptyState title="No version matches the filter"><p>Change or reset the filter.</p></EmptyState>
      ) : (
        <div className="table-scroll">
        <table className="table versions">
          <thead>
            <tr>
              {COLUMNS.map((column, i) =>
                i === 0 ? (
                  <th key="select" className="check">
                    <input type="checkbox" aria-label="Select all shown versions" checked={allSelected} onChange={() => setSelected(allSelected ? [] : visible)} />
                  </th>
                ) : (
                  <th key={column.label} title={column.title} className={column.num ? 'num' : undefined} aria-sort={column.key && sort.key === column.key ? (sort.descending ? 'descending' : 'ascending') : undefined}>
                    {column.key ? (
                      <button type="button" className="sort" onClick={() => setSort(column.key!)}>
                        {column.label}{sort.key === column.key ? (sort.descending ? ' ▼' : ' ▲') : ''}
                      </button>
                    ) : column.label}
                  </th>
                ),
              )}
            </tr>
          </thead>
          {groups.map((group) => {
            const isCollapsed = collapsed.includes(group.name);
            const groupUids = group.versions.map((v) => v.uid);
            const groupSelected = groupUids.every((uid) => selected.includes(uid));
            return (
              <tbody key={group.name}>
                <tr className="group">
                  <td className="check">
                    <input type="checkbox" aria-label={`Select every version of ${group.name}`} checked={groupSelected} onChange={() => setSelected(groupSelected ? selected.filter((u) => !groupUids.includes(u)) : [...selected, ...groupUids])} />
                  </td>
                  <td colSpan={COLUMNS.length - 1}>
                    <button type="button" className="link group-toggle" aria-expanded={!isCollapsed} onClick={() => toggleCollapsed(group.name)}>
                      {isCollapsed ? '▶' : '▼'} <strong>{group.name}</strong>
                    </button>
                    <span className="muted"> {group.versions.length} version{group.versions.length === 1 ? '' : 's'} · latest {formatDate(group.latest, 'minutes')} · {humanBytes(group.totalSize)} total</span>
                    {group.invalid > 0 && <span className="badge invalid">{group.invalid} invalid</span>}
                  </td>
                </tr>
                {!isCollapsed &&
                  group.versions.map((v) => (
                    <tr key={v.uid} className={selected.includes(v.uid) ? 'selected' : ''} data-uid={v.uid}>
                      <td className="check">
                        <input type="checkbox" aria-label={`Select version ${v.uid}`} checked={selected.includes(v.uid)} onChange={() => toggleSelected(v.uid)} />
                      </td>
                      <td className="nowrap"><a href={`#/version/${v.uid}`}>{formatDate(v.date, 'minutes', false)}</a></td>
                      <td>{v.name}</td>
                      <td>{v.snapshot || (v.tags.length || v.note ? '' : <span className="muted">—</span>)}{v.tags.map((t) => <span key={t} className="tag">{t}</span>)}{v.note && <div className="note-line small-text" title={v.note}>{v.note.split('\n')[0]}</div>}</td>
                      <td className="num nowrap">{humanBytes(v.size)}</td>
                      <td className="num nowrap">{facts.get(v.uid) ? humanBytes(facts.get(v.uid)!.storedBytes) : '…'}</td>
                      <td className="num nowrap">{facts.get(v.uid) ? humanBytes(facts.get(v.uid)!.exclusiveBytes) : '…'}</td>
                      <td><LastVerifiedCell facts={facts.get(v.uid)} /></td>
                      <td><StatusBadge version={v} /></td>
                      <td className="mono" title={v.uid}>{shortUid(v.uid)}</td>
                    </tr>
                  ))}
              </tbody>
            );
          })}
        </table>
        </div>
      )}
    </div>
  );
}
