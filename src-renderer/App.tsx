// The application frame: header, navigation, the current view, and notices. The route lives
// in the location hash; Alt+1..9 jump between screens.
import { useEffect, useRef, type ReactNode } from 'react';
import { isFinished } from '../src-shared/api/types';
import { EmptyState, LockIcon } from './components/common';
import { PassphraseDialog } from './components/PassphraseDialog';
import { ConnectionBanner } from './components/ConnectionBanner';
import { useApp } from './store';
import { navigate } from './store/navigate';
import { parseRoute, routeHash, type Route, type ViewName } from './store/routes';
import { BackupWizard } from './views/BackupWizard/BackupWizard';
import { CleanupView } from './views/Cleanup/CleanupView';
import { JobsView } from './views/Jobs/JobsView';
import { PoliciesView } from './views/Policies/PoliciesView';
import { RepositoryView } from './views/Repository/RepositoryView';
import { RestoreWizard } from './views/RestoreWizard/RestoreWizard';
import { ScrubView } from './views/Scrub/ScrubView';
import { SettingsView } from './views/Settings/SettingsView';
import { StatisticsView } from './views/Settings/StatisticsView';
import { VersionDetailView } from './views/VersionDetail/VersionDetailView';
import { VersionsView } from './views/Versions/VersionsView';

const NAV: Array<{ view: ViewName; label: string }> = [
  { view: 'repository', label: 'Repository' },
  { view: 'versions', label: 'Versions' },
  { view: 'backup', label: 'Back up' },
  { view: 'restore', label: 'Restore' },
  { view: 'scrub', label: 'Scrub' },
  { view: 'jobs', label: 'Jobs' },
  { view: 'cleanup', label: 'Delete & cleanup' },
  { view: 'policies', label: 'Policies' },
  { view: 'statistics', label: 'Statistics' },
  { view: 'settings', label: 'Settings' },
];

function Notices() {
  const notices = useApp((s) => s.notices);
  const dismiss = useApp((s) => s.dismiss);
  const scheduled = useRef(new Set<number>());
  useEffect(() => {
    // Success and info notices go away after 5 s; errors stay until dismissed.
    for (const notice of notices) {
      if (notice.kind === 'error' || scheduled.current.has(notice.id)) continue;
      scheduled.current.add(notice.id);
      setTimeout(() => dismiss(notice.id), 5000);
    }
  }, [notices, dismiss]);
  if (notices.length === 0) return null;
  return (
    <div className="notices" aria-live="assertive">
      {notices.map((notice) => (
        <div key={notice.id} className={`notice ${notice.kind}`} role={notice.kind === 'error' ? 'alert' : 'status'}>
          <div className="grow">
            {notice.context && <strong>{notice.context} failed: </strong>}
            {notice.code && <code className="code">{notice.code}</code>} {notice.message}
          </div>
          <button type="button" className="small ghost" onClick={() => dismiss(notice.id)} aria-label="Dismiss">✕</button>
        </div>
      ))}
    </div>
  );
}

function NeedsRepository({ children }: { children: ReactNode }) {
  const repository = useApp((s) => s.repository);
  const loaded = useApp((s) => s.repositoryLoaded);
  if (!loaded) return <p className="muted">Connecting…</p>;
  if (!repository) {
    return (
      <EmptyState title="No repository is open">
        <p>Open an existing repository or create a new one first.</p>
        <button type="button" className="primary" onClick={() => navigate({ view: 'repository' })}>Open or create a repository</button>
      </EmptyState>
    );
  }
  return <>{children}</>;
}

function CurrentView({ route }: { route: Route }) {
  switch (route.view) {
    case 'repository':
      return <RepositoryView />;
    case 'versions':
      return <NeedsRepository><VersionsView /></NeedsRepository>;
    case 'version':
      return <NeedsRepository><VersionDetailView key={route.uid} uid={route.uid} compare={route.compare} /></NeedsRepository>;
    case 'backup':
      return <NeedsRepository><BackupWizard /></NeedsRepository>;
    case 'restore':
      return <NeedsRepository><RestoreWizard key={route.uid ?? ''} initialUid={route.uid} /></NeedsRepository>;
    case 'scrub':
      return <NeedsRepository><ScrubView key={route.job ?? route.report ?? ''} initialUids={route.uids} report={route.report} job={route.job} /></NeedsRepository>;
    case 'jobs':
      return <JobsView selected={route.job} />;
    case 'cleanup':
      return <NeedsRepository><CleanupView /></NeedsRepository>;
    case 'statistics':
      return <NeedsRepository><StatisticsView /></NeedsRepository>;
    case 'policies':
      return <NeedsRepository><PoliciesView /></NeedsRepository>;
    case 'settings':
      return <SettingsView />;
  }
}

export function App() {
  const route = useApp((s) => s.route);
  const setRoute = useApp((s) => s.setRoute);
  const repository = useApp((s) => s.repository);
  const connection = useApp((s) => s.connection);
  const activeJobs = useApp((s) => Object.values(s.jobs).filter((job) => !isFinished(job.state)).length);

  useEffect(() => {
    const sync = (): void => setRoute(parseRoute(location.hash));
    sync();
    window.addEventListener('hashchange', sync);
    const onKey = (event: KeyboardEvent): void => {
      if (!event.altKey || event.ctrlKey || event.metaKey) return;
      const index = Number(event.key) - 1;
      if (index >= 0 && index < NAV.length) {
        event.preventDefault();
        navigate({ view: NAV[index].view } as Route);
      }
    };
    window.addEventListener('keydown', onKey);
    return () => {
      window.removeEventListener('hashchange', sync);
      window.removeEventListener('keydown', onKey);
    };
  }, [setRoute]);

  const current: ViewName = route.view === 'version' ? 'versions' : route.view;
  return (
    <div className="app">
      <header className="topbar">
        <button type="button" className="skip-link" onClick={() => document.getElementById('main')?.focus()}>Skip to content</button>
        <span className="brand">Blockvault</span>
        <span className="repo-path mono" title={repository?.path}>{repository ? repository.path : 'no repository open'}</span>
        {repository?.settings.encrypted && <span className="badge encrypted" title="objects are encrypted with AES-256-GCM"><LockIcon /> encrypted</span>}
        <span className="spacer" />
        {activeJobs > 0 && (
          <a className="badge job-running" href="#/jobs">{activeJobs} job{activeJobs === 1 ? '' : 's'} running</a>
        )}
        <span className={`conn conn-${connection}`} title={`connection: ${connection}`}>{connection === 'open' ? 'connected' : connection === 'unauthorized' ? 'no token' : connection}</span>
      </header>
      <nav className="sidebar" aria-label="Screens">
        <ul>
          {NAV.map((item, i) => (
            <li key={item.view}>
              <a href={routeHash({ view: item.view } as Route)} aria-current={current === item.view ? 'page' : undefined} title={`Alt+${i + 1}`}>
                {item.label}
              </a>
            </li>
          ))}
        </ul>
      </nav>
      <main className="content" id="main" tabIndex={-1}>
        <CurrentView route={route} />
      </main>
      <ConnectionBanner />
      <Notices />
      <PassphraseDialog />
    </div>
  );
}
