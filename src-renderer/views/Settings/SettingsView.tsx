// Settings: the repository's adjustable rules (minimum age, cleanup grace period), how many
// jobs run at once, and what this Blockvault is. Fields are text until saved: each is checked
// with the contract's schema and its error shown beside it; saved values are read back.
import { useEffect, useState, type FormEvent } from 'react';
import type { RepositoryInfo } from '../../../src-shared/api/types';
import { EmptyState, KeyValue } from '../../components/common';
import { useApi, useApp } from '../../store';
import { settingsForm, type SettingsFields } from '../../store/truth';

function fieldsOf(repository: RepositoryInfo): SettingsFields {
  return {
    minAgeDays: String(repository.settings.minAgeDays),
    cleanupGraceSeconds: String(repository.settings.cleanupGraceSeconds),
    maxConcurrentJobs: String(repository.maxConcurrentJobs),
  };
}

const FIELDS: Array<{ key: keyof SettingsFields; id: string; label: string; min: number; max: number }> = [
  { key: 'minAgeDays', id: 'set-min-age', label: 'Minimum age before a version can be deleted (days)', min: 0, max: 36_500 },
  { key: 'cleanupGraceSeconds', id: 'set-grace', label: 'Cleanup grace period (seconds)', min: 0, max: 365 * 86_400 },
  { key: 'maxConcurrentJobs', id: 'set-concurrent', label: 'Jobs running at once', min: 1, max: 8 },
];

export function SettingsView() {
  const api = useApi();
  const repository = useApp((s) => s.repository);
  const appInfo = useApp((s) => s.appInfo);
  const setRepository = useApp((s) => s.setRepository);
  const reportError = useApp((s) => s.reportError);
  const notify = useApp((s) => s.notify);
  const [fields, setFields] = useState<SettingsFields | null>(repository ? fieldsOf(repository) : null);
  const [errors, setErrors] = useState<Partial<Record<keyof SettingsFields, string>>>({});
  useEffect(() => {
    if (repository) setFields(fieldsOf(repository));
  }, [repository]);
  const save = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    if (!fields) return;
    const checked = settingsForm(fields);
    setErrors(checked.errors);
    if (!checked.values) return;
    try {
      const saved = await api.updateSettings(checked.values);
      setRepository(saved);
      setFields(fieldsOf(saved));
      notify('success', `Settings saved: minimum age ${saved.settings.minAgeDays} days, grace period ${saved.settings.cleanupGraceSeconds} s, ${saved.maxConcurrentJobs} jobs at once`);
    } catch (error) {
      reportError(error, 'Saving the settings');
    }
  };
  return (
    <div className="view">
      <h1>Settings</h1>
      {repository && fields ? (
        <form className="card settings-form" onSubmit={save} noValidate aria-labelledby="settings-title">
          <h2 id="settings-title">Repository rules</h2>
          <div className="row wrap top">
            {FIELDS.map((f) => (
              <div className="field" key={f.key}>
                <label htmlFor={f.id}>{f.label}</label>
                <input
                  id={f.id}
                  type="number"
                  inputMode="numeric"
                  min={f.min}
                  max={f.max}
                  value={fields[f.key]}
                  aria-invalid={errors[f.key] ? true : undefined}
                  aria-describedby={`${f.id}-hint`}
                  onChange={(e) => {
                    setFields({ ...fields, [f.key]: e.target.value });
                    setErrors({ ...errors, [f.key]: undefined });
                  }}
                />
                <div id={`${f.id}-hint`} className={`hint ${errors[f.key] ? 'bad' : ''}`} role={errors[f.key] ? 'alert' : undefined}>
                  {errors[f.key] ?? `${f.min} to ${f.max.toLocaleString()}`}
                </div>
              </div>
            ))}
          </div>
          <p className="hint">Jobs running at once is a setting of this Blockvault (kept with the recent repositories), not of the repository.</p>
          <button type="submit" className="primary">Save</button>
        </form>
      ) : (
        <EmptyState title="No repository is open"><p>Repository rules appear once a repository is open.</p></EmptyState>
      )}
      <section className="card" aria-labelledby="about-title">
        <h2 id="about-title">About</h2>
        <KeyValue rows={[
          ['Version', appInfo?.version ?? '—'],
          ['Running as', appInfo ? (appInfo.mode === 'electron' ? 'desktop app (Electron)' : 'web mode (blockvault serve)') : '—'],
          ['Platform', appInfo?.platform ?? '—'],
          ['Time zone', `${Intl.DateTimeFormat().resolvedOptions().timeZone} (times are shown in local time with their offset from UTC)`],
          ['Keyboard', 'Alt+1…9 switch screens; in a block map, arrow keys move the cursor, + and − zoom, 0 fits; Escape closes dialogs'],
        ]} />
      </section>
    </div>
  );
}
