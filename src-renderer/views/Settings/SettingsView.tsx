// Settings: the repository's adjustable rules (minimum age, cleanup grace period), how many
// jobs run at once, and what this Blockvault is.
import { useEffect, useState, type FormEvent } from 'react';
import { EmptyState, KeyValue } from '../../components/common';
import { useApi, useApp } from '../../store';

export function SettingsView() {
  const api = useApi();
  const repository = useApp((s) => s.repository);
  const appInfo = useApp((s) => s.appInfo);
  const setRepository = useApp((s) => s.setRepository);
  const reportError = useApp((s) => s.reportError);
  const notify = useApp((s) => s.notify);
  const [minAge, setMinAge] = useState(6);
  const [grace, setGrace] = useState(3600);
  const [concurrent, setConcurrent] = useState(2);
  useEffect(() => {
    if (repository) {
      setMinAge(repository.settings.minAgeDays);
      setGrace(repository.settings.cleanupGraceSeconds);
    }
  }, [repository]);
  const save = async (event: FormEvent): Promise<void> => {
    event.preventDefault();
    try {
      setRepository(await api.updateSettings({ minAgeDays: minAge, cleanupGraceSeconds: grace, maxConcurrentJobs: concurrent }));
      notify('success', 'Settings saved');
    } catch (error) {
      reportError(error, 'Saving the settings');
    }
  };
  return (
    <div className="view">
      <h1>Settings</h1>
      {repository ? (
        <form className="card" onSubmit={save}>
          <h2>Repository rules</h2>
          <div className="row wrap">
            <div className="field">
              <label htmlFor="set-min-age">Minimum age before a version can be deleted (days)</label>
              <input id="set-min-age" type="number" min={0} max={36500} value={minAge} onChange={(e) => setMinAge(Number(e.target.value))} />
            </div>
            <div className="field">
              <label htmlFor="set-grace">Cleanup grace period (seconds)</label>
              <input id="set-grace" type="number" min={0} value={grace} onChange={(e) => setGrace(Number(e.target.value))} />
            </div>
            <div className="field">
              <label htmlFor="set-concurrent">Jobs running at once</label>
              <input id="set-concurrent" type="number" min={1} max={8} value={concurrent} onChange={(e) => setConcurrent(Number(e.target.value))} />
            </div>
          </div>
          <button type="submit" className="primary">Save</button>
        </form>
      ) : (
        <EmptyState title="No repository is open"><p>Repository rules appear once a repository is open.</p></EmptyState>
      )}
      <section className="card">
        <h2>About</h2>
        <KeyValue rows={[
          ['Version', appInfo?.version ?? '—'],
          ['Running as', appInfo ? (appInfo.mode === 'electron' ? 'desktop app (Electron)' : 'web mode (blockvault serve)') : '—'],
          ['Platform', appInfo?.platform ?? '—'],
          ['Keyboard', 'Alt+1…9 switch screens; in a block map, arrow keys move the cursor, + and − zoom, 0 fits'],
        ]} />
      </section>
    </div>
  );
}
