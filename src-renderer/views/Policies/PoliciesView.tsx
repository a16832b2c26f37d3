// Policies: what runs on its own. The list of the repository's policies (backup per disk,
// verify, cleanup) with schedule, next and last run; an editor for one policy (schedule,
// retention, verify/cleanup options) whose retention is previewed before saving on a timeline
// of the disk's existing versions: which the rules keep, which they remove, and why. A backup
// policy's change source (dirty bitmap, RBD snapshots, hints command) is offered for the
// source kinds it applies to and checked with the same schema the services use.
import { useEffect, useMemo, useState } from 'react';
import { bitmapApplies, policySchema, policySourceKind, type Policy, type PolicyInfo, type PrunePlan, type Retention } from '../../../src-shared/api/policy';
import { describeSchedule } from '../../../src-shared/api/schedule';
import { toApiError } from '../../api/client';
import { EmptyState, ErrorBox, formatDate } from '../../components/common';
import { useApi, useApp } from '../../store';
import { RetentionTimeline } from './RetentionTimeline';

const RULES: Array<[keyof Retention, string]> = [
  ['keepLast', 'Last'],
  ['keepHourly', 'Hourly'],
  ['keepDaily', 'Daily'],
  ['keepWeekly', 'Weekly'],
  ['keepMonthly', 'Monthly'],
  ['keepYearly', 'Yearly'],
];

/** Fields whose problems the editor shows beside the field itself. */
const INLINE_FIELDS = new Set(['source', 'bitmap', 'rbdSnapshots', 'hintsCommand']);

type Draft = Policy & { scheduleKind: 'cron' | 'every' | 'none' };

function toDraft(policy: Policy): Draft {
  return { ...policy, scheduleKind: policy.schedule?.cron !== undefined ? 'cron' : policy.schedule?.everyMinutes !== undefined ? 'every' : 'none' };
}

function fromDraft(draft: Draft): Policy {
  const { scheduleKind, ...policy } = draft;
  const zone = draft.schedule?.timeZone;
  if (scheduleKind === 'none') policy.schedule = null;
  else if (scheduleKind === 'cron') policy.schedule = { cron: draft.schedule?.cron ?? '0 2 * * *', ...(zone ? { timeZone: zone } : {}) };
  else policy.schedule = { everyMinutes: draft.schedule?.everyMinutes ?? 1440, ...(zone ? { timeZone: zone } : {}) };
  if (policy.retention) {
    const retention: Retention = {};
    for (const [rule] of RULES) {
      const value = policy.retention[rule];
      if (typeof value === 'number' && value > 0) (retention as Record<string, number>)[rule] = value;
    }
    if (policy.retention.keepTagged?.length) retention.keepTagged = policy.retention.keepTagged;
    policy.retention = Object.keys(retention).length ? retention : undefined;
    if (!policy.retention) delete policy.retention;
  }
  return policy;
}

function Editor({ initial, isNew, onSaved }: { initial: Policy; isNew: boolean; onSaved: () => void }) {
  const api = useApi();
  const [draft, setDraft] = useState<Draft>(() => toDraft(initial));
  const [plan, setPlan] = useState<PrunePlan | null>(null);
  const [planError, setPlanError] = useState<{ code: string; message: string } | null>(null);
  const [saveError, setSaveError] = useState<{ code: string; message: string } | null>(null);
  const [saved, setSaved] = useState(false);
  const policy = useMemo(() => fromDraft(draft), [draft]);
  const set = (patch: Partial<Draft>): void => { setSaved(false); setDraft((d) => ({ ...d, ...patch })); };
  const setSchedule = (patch: Partial<NonNullable<Policy['schedule']>>): void => set({ schedule: { ...draft.schedule, ...patch } });
  const setRule = (rule: keyof Retention, text: string): void => {
    const value = text === '' ? undefined : Math.max(0, Math.floor(Number(text)));
    set({ retention: { ...draft.retention, [rule]: value } });
  };

  // The preview follows the rules as they are typed (nothing is saved).
  useEffect(() => {
    if (policy.kind !== 'backup' || !policy.retention) {
      setPlan(null);
      setPlanError(null);
      return;
    }
    let stale = false;
    const timer = setTimeout(() => {
      api.previewPrune({ name: policy.name, retention: policy.retention, ...(policy.schedule?.timeZone ? { timeZone: policy.schedule.timeZone } : {}) }).then(
        (result) => { if (!stale) { setPlan(result); setPlanError(null); } },
        (error: unknown) => { if (!stale) { setPlan(null); setPlanError(toApiError(error)); } },
      );
    }, 250);
    return () => { stale = true; clearTimeout(timer); };
  }, [api, policy]);

  const save = async (): Promise<void> => {
    try {
      await api.savePolicy({ policy, create: isNew });
      setSaveError(null);
      setSaved(true);
      onSaved();
    } catch (error) {
      setSaveError(toApiError(error));
    }
  };

  // The services' own schema: a message per field, and no save while any is left.
  const problems = useMemo(() => {
    const result = policySchema.safeParse(policy);
    const byField = new Map<string, string>();
    if (!result.success) for (const issue of result.error.issues) if (!byField.has(String(issue.path[0] ?? ''))) byField.set(String(issue.path[0] ?? ''), issue.message);
    return byField;
  }, [policy]);
  // Problems of fields that show no message of their own, said beside the save button.
  const otherProblems = [...problems].filter(([field]) => !INLINE_FIELDS.has(field)).map(([field, message]) => `${field || 'policy'} ${message}`);
  const removals = plan?.decisions.filter((d) => !d.keep).length ?? 0;
  return (
    <section className="card" aria-label={`Policy ${draft.name || 'new'}`}>
      <h2>{isNew ? 'New policy' : `Policy ${draft.name}`} <span className="muted small-text">{draft.kind}</span></h2>
      <div className="form-grid">
        <label>Name{draft.kind === 'backup' ? ' (the disk)' : ''}
          <input value={draft.name} disabled={!isNew} onChange={(e) => set({ name: e.target.value })} />
        </label>
        {isNew && (
          <label>Kind
            <select value={draft.kind} onChange={(e) => set({ kind: e.target.value as Policy['kind'], ...(e.target.value === 'backup' ? {} : { source: undefined, retention: undefined, bitmap: undefined, rbdSnapshots: undefined, hintsCommand: undefined }) })}>
              <option value="backup">backup</option>
              <option value="verify">verify</option>
              <option value="cleanup">cleanup</option>
            </select>
          </label>
        )}
        {draft.kind === 'backup' && (
          <label className="wide">Source
            <input className="mono" value={draft.source ?? ''} placeholder="/dev/vg0/web" aria-invalid={problems.has('source') || undefined} onChange={(e) => set({ source: e.target.value || undefined })} />
            {problems.has('source') && <span className="hint bad">{problems.get('source')}</span>}
          </label>
        )}
        <label className="checkbox"><input type="checkbox" checked={draft.enabled} onChange={(e) => set({ enabled: e.target.checked })} /> Enabled</label>
      </div>
      {draft.kind === 'backup' && <ChangeSource draft={draft} problems={problems} set={set} />}

      <h3>Schedule</h3>
      <div className="form-grid">
        <label>Runs
          <select value={draft.scheduleKind} onChange={(e) => set({ scheduleKind: e.target.value as Draft['scheduleKind'] })}>
            <option value="cron">at times (cron)</option>
            <option value="every">every interval</option>
            <option value="none">only when started</option>
          </select>
        </label>
        {draft.scheduleKind === 'cron' && (
          <label>Cron (minute hour day month weekday)
            <input className="mono" value={draft.schedule?.cron ?? '0 2 * * *'} onChange={(e) => setSchedule({ cron: e.target.value, everyMinutes: undefined })} />
          </label>
        )}
        {draft.scheduleKind === 'every' && (
          <label>Every (minutes)
            <input type="number" min={1} value={draft.schedule?.everyMinutes ?? 1440} onChange={(e) => setSchedule({ everyMinutes: Number(e.target.value), cron: undefined })} />
          </label>
        )}
        {draft.scheduleKind !== 'none' && (
          <label>Time zone
            <input value={draft.schedule?.timeZone ?? ''} placeholder="UTC" onChange={(e) => setSchedule({ timeZone: e.target.value || undefined })} />
          </label>
        )}
      </div>

      {draft.kind === 'backup' && (
        <>
          <h3>Retention</h3>
          <p className="muted">After each scheduled backup the rules below prune this disk, then a fast cleanup runs. Protected versions and versions younger than the repository's minimum age are always kept.</p>
          <div className="retention-rules">
            {RULES.map(([rule, label]) => (
              <label key={rule}>{label}
                <input type="number" min={0} aria-label={`keep ${label.toLowerCase()}`} value={(draft.retention?.[rule] as number | undefined) ?? ''} onChange={(e) => setRule(rule, e.target.value)} />
              </label>
            ))}
            <label>Tagged
              <input value={draft.retention?.keepTagged?.join(',') ?? ''} placeholder="tag,tag" onChange={(e) => set({ retention: { ...draft.retention, keepTagged: e.target.value.split(',').map((t) => t.trim()).filter(Boolean) } })} />
            </label>
          </div>
          <h3>Preview <span className="muted small-text">{plan ? `${plan.decisions.length - removals} kept, ${removals} removed` : ''}</span></h3>
          {planError && <ErrorBox title="Preview" code={planError.code} message={planError.message} />}
          {!planError && !plan && <p className="muted">{policy.retention ? 'Previewing…' : 'Set a keep rule to see which versions it keeps.'}</p>}
          {plan && <RetentionTimeline decisions={plan.decisions} />}
        </>
      )}
      {draft.kind === 'verify' && (
        <div className="form-grid">
          <label>Scrub
            <select value={draft.mode ?? 'deep'} onChange={(e) => set({ mode: e.target.value as 'fast' | 'deep' })}>
              <option value="deep">deep (read and hash)</option>
              <option value="fast">fast (exists, right size)</option>
            </select>
          </label>
          <label>Percent of blocks
            <input type="number" min={1} max={100} value={draft.percent ?? 100} onChange={(e) => set({ percent: Number(e.target.value) })} />
          </label>
        </div>
      )}
      {draft.kind === 'cleanup' && (
        <label className="checkbox"><input type="checkbox" checked={Boolean(draft.full)} onChange={(e) => set({ full: e.target.checked })} /> Full cleanup (mark and sweep under an exclusive lock)</label>
      )}
      {saveError && <ErrorBox title="Save" code={saveError.code} message={saveError.message} />}
      <div className="row">
        <button type="button" className="primary" disabled={problems.size > 0} title={problems.size ? [...problems.values()].join('; ') : undefined} onClick={() => void save()}>{isNew ? 'Add policy' : 'Save policy'}</button>
        {saved && <span className="muted" role="status">Saved.</span>}
        {otherProblems.length > 0 && <span className="hint bad">To save: {otherProblems.join('; ')}</span>}
      </div>
    </section>
  );
}

const SOURCE_KIND_TEXT: Record<ReturnType<typeof policySourceKind>, string> = {
  rbd: 'For an RBD image the policy can make a snapshot each run and read only what rbd diff reports since the base version\'s snapshot.',
  'rbd-snapshot': 'For an RBD image the policy can make a snapshot each run (give the image, rbd:POOL/IMAGE, without @SNAP).',
  qcow2: 'For a qcow2 image a persistent dirty bitmap marks what the guest wrote since the last run.',
  nbd: 'For an NBD export that exposes a persistent dirty bitmap, the bitmap marks what was written since the last run.',
  path: 'For a file or device, a hints command can say what changed (a qcow2 file also takes a dirty bitmap).',
  other: 'A hints command can say what changed.',
};

/**
 * How an incremental run learns what changed since the base (the latest valid version of the
 * disk): each option only for the source kinds it applies to (or when already set, so a
 * value that no longer fits can be seen and cleared).
 */
function ChangeSource({ draft, problems, set }: { draft: Draft; problems: Map<string, string>; set: (patch: Partial<Draft>) => void }) {
  const kind = policySourceKind(draft.source);
  const rbd = kind === 'rbd' || kind === 'rbd-snapshot';
  // A plain path may hold a qcow2 (its guest disk is read): offered when it is named like one.
  const showBitmap = (bitmapApplies(draft.source) && (kind !== 'path' || /\.qcow2?$/i.test(draft.source ?? ''))) || draft.bitmap !== undefined;
  const showSnapshots = rbd || Boolean(draft.rbdSnapshots);
  const hint = (field: string, text: string) => (
    <span id={`policy-${field}-hint`} className={`hint ${problems.has(field) ? 'bad' : ''}`} role={problems.has(field) ? 'alert' : undefined}>{problems.get(field) ?? text}</span>
  );
  return (
    <>
      <h3>Changes since the last backup</h3>
      <p className="muted">Incremental runs copy unchanged blocks from the latest valid version of this disk without reading them when a change source says what changed; without one they read everything (unchanged blocks are deduplicated). {SOURCE_KIND_TEXT[kind]}</p>
      <div className="form-grid change-source">
        {showBitmap && (
          <label>Dirty bitmap (qcow2 or NBD)
            <input className="mono" aria-label="dirty bitmap" value={draft.bitmap ?? ''} placeholder="blockvault" aria-invalid={problems.has('bitmap') || undefined} aria-describedby="policy-bitmap-hint" onChange={(e) => set({ bitmap: e.target.value || undefined })} />
            {hint('bitmap', 'the first run adds it; every run starts it afresh')}
          </label>
        )}
        {showSnapshots && (
          <div className="checkbox-field">
            <label className="checkbox"><input type="checkbox" checked={Boolean(draft.rbdSnapshots)} aria-describedby="policy-rbdSnapshots-hint" onChange={(e) => set({ rbdSnapshots: e.target.checked || undefined })} /> Manage RBD snapshots</label>
            {hint('rbdSnapshots', 'each run snapshots the image, reads rbd diff since the last one, keeps only its own')}
          </div>
        )}
        <label className="wide">Hints command
          <input className="mono" aria-label="hints command" value={draft.hintsCommand ?? ''} placeholder='storage-cli changed-extents --since "$BLOCKVAULT_BASE_DATE"' aria-invalid={problems.has('hintsCommand') || undefined} aria-describedby="policy-hintsCommand-hint" onChange={(e) => set({ hintsCommand: e.target.value || undefined })} />
          {hint('hintsCommand', 'prints the changes since the base as rbd diff --format=json does')}
        </label>
      </div>
    </>
  );
}

export function PoliciesView() {
  const api = useApi();
  const repository = useApp((s) => s.repository);
  const [policies, setPolicies] = useState<PolicyInfo[] | null>(null);
  const [error, setError] = useState<{ code: string; message: string } | null>(null);
  const [selected, setSelected] = useState<{ policy: Policy; isNew: boolean } | null>(null);
  const load = (): void => {
    api.listPolicies({}).then(setPolicies, (e: unknown) => setError(toApiError(e)));
  };
  useEffect(load, [api, repository?.path]);

  const startNew = async (): Promise<void> => {
    const versions = await api.listVersions({});
    const disk = versions.find((v) => !policies?.some((p) => p.name === v.name));
    setSelected({ isNew: true, policy: { name: disk?.name ?? '', kind: 'backup', enabled: true, schedule: { cron: '0 2 * * *' }, source: disk?.source, retention: { keepDaily: 7, keepWeekly: 4, keepMonthly: 6 } } });
  };

  return (
    <div className="view">
      <div className="row">
        <h1 className="grow">Policies</h1>
        <button type="button" onClick={() => void startNew()}>New policy</button>
      </div>
      {error && <ErrorBox code={error.code} message={error.message} />}
      {policies && policies.length === 0 && !selected && (
        <EmptyState title="No policies">
          <p>A policy backs up a disk on a schedule and keeps the versions its retention rules choose; verify and cleanup policies check and tidy the store. The desktop app, web mode or <code>blockvault daemon</code> runs them.</p>
        </EmptyState>
      )}
      {policies && policies.length > 0 && (
        <table className="table">
          <thead><tr><th>Name</th><th>Kind</th><th>Schedule</th><th>Next run</th><th>Last run</th><th /></tr></thead>
          <tbody>
            {policies.map((p) => (
              <tr key={p.name} className={selected?.policy.name === p.name ? 'selected' : undefined}>
                <td className="mono">{p.name}</td>
                <td>{p.kind}{p.enabled ? '' : ' (off)'}{changeSourceLabel(p) && <span className="muted small-text"> · {changeSourceLabel(p)}</span>}</td>
                <td>{p.schedule ? describeSchedule(p.schedule) : 'when started'}</td>
                <td>{p.nextRun ? formatDate(p.nextRun) : '—'}</td>
                <td className={p.run.lastState === 'failed' ? 'bad' : undefined}>{p.run.lastState ? `${p.run.lastState} ${formatDate(p.run.lastEnded)}` : 'never'}</td>
                <td><button type="button" className="small" onClick={() => setSelected({ policy: p, isNew: false })}>Edit</button></td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {selected && <Editor key={`${selected.policy.name}-${selected.isNew}`} initial={stripInfo(selected.policy)} isNew={selected.isNew} onSaved={() => { load(); if (selected.isNew) setSelected(null); }} />}
    </div>
  );
}

function changeSourceLabel(policy: Policy): string {
  return policy.bitmap ? `bitmap ${policy.bitmap}` : policy.rbdSnapshots ? 'RBD snapshots' : policy.hintsCommand ? 'hints command' : '';
}

function stripInfo(policy: Policy | PolicyInfo): Policy {
  const { created: _c, updated: _u, run: _r, nextRun: _n, ...rest } = policy as PolicyInfo;
  return rest;
}
