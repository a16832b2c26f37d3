// The store's slices. Each slice owns its part of the state and the actions that load or
// change it through the API client; events from the main side write through `setState`.
import type { StateCreator } from 'zustand';
import type { AppInfo, Job, NbdServing, RecentRepository, RepositoryInfo, RepositorySummary } from '../../src-shared/api/types';
import { isFinished } from '../../src-shared/api/types';
import type { CreateRepositoryArgs, S3ConnectionArgs, ServeNbdArgs } from '../../src-shared/api/contract';
import type { Version } from '../../src-shared/model';
import type { ApiClient, ConnectionState } from '../api/client';
import { toApiError } from '../api/client';
import type { Route } from './routes';

export interface Notice {
  id: number;
  kind: 'error' | 'success' | 'info';
  /** error code, for errors */
  code?: string;
  message: string;
  /** what was being done, e.g. "Opening the repository" */
  context?: string;
}

/** The passphrase dialog: which repository asks, and the last failure (never the passphrase). */
export interface PassphrasePrompt {
  path: string;
  /** how an s3:// repository is reached (no secret) */
  s3?: S3ConnectionArgs;
  busy: boolean;
  error: { code: string; message: string } | null;
}

export interface SessionSlice {
  appInfo: AppInfo | null;
  connection: ConnectionState;
  /** the connection was open once and is not now: what the page shows may be stale */
  connectionLost: boolean;
  repository: RepositoryInfo | null;
  repositoryLoaded: boolean;
  recent: RecentRepository[];
  summary: RepositorySummary | null;
  passphrasePrompt: PassphrasePrompt | null;
  loadSession(): Promise<void>;
  /**
   * Opens a repository. An encrypted one refused for want of a passphrase (WRONG_KEY) opens
   * the passphrase dialog instead of a notice; a wrong passphrase shows its error there.
   */
  openRepository(path: string, passphrase?: string, s3?: S3ConnectionArgs): Promise<boolean>;
  askPassphrase(path: string, s3?: S3ConnectionArgs): void;
  cancelPassphrase(): void;
  createRepository(args: CreateRepositoryArgs): Promise<boolean>;
  closeRepository(): Promise<void>;
  forgetRecent(path: string): Promise<void>;
  loadSummary(): Promise<void>;
  setRepository(repository: RepositoryInfo | null): void;
}

export type SortKey = 'date' | 'name' | 'snapshot' | 'size' | 'status';

export interface VersionFilter {
  text: string;
  status: 'all' | 'valid' | 'invalid' | 'incomplete';
  protection: 'all' | 'protected' | 'unprotected';
  tag: string;
  /** YYYY-MM-DD bounds, inclusive; empty for none */
  from: string;
  to: string;
}

export const EMPTY_FILTER: VersionFilter = { text: '', status: 'all', protection: 'all', tag: '', from: '', to: '' };

export interface VersionsSlice {
  versions: Version[];
  versionsLoaded: boolean;
  filter: VersionFilter;
  sort: { key: SortKey; descending: boolean };
  selected: string[];
  collapsed: string[];
  loadVersions(): Promise<void>;
  setFilter(patch: Partial<VersionFilter>): void;
  setSort(key: SortKey): void;
  toggleSelected(uid: string): void;
  setSelected(uids: string[]): void;
  toggleCollapsed(name: string): void;
}

export interface JobsSlice {
  jobs: Record<string, Job>;
  jobsLoaded: boolean;
  loadJobs(): Promise<void>;
  upsertJob(job: Job): void;
  cancelJob(id: string): Promise<void>;
}

export interface UiSlice {
  route: Route;
  notices: Notice[];
  setRoute(route: Route): void;
  notify(kind: Notice['kind'], message: string, context?: string): void;
  reportError(error: unknown, context?: string): void;
  dismiss(id: number): void;
}

/** Versions this process serves over NBD ("Serve over NBD"); polled while a screen shows them. */
export interface ServingsSlice {
  servings: NbdServing[];
  loadServings(): Promise<void>;
  /** resolves to the new serving; a refusal is thrown to the caller (its dialog shows it) */
  startServing(args: ServeNbdArgs): Promise<NbdServing>;
  /** stops it (a serving with saveAs saves its changes first, as a job); null when it failed (notified) */
  stopServing(id: string): Promise<NbdServing | null>;
}

export type AppState = SessionSlice & VersionsSlice & JobsSlice & ServingsSlice & UiSlice;
type Slice<T> = StateCreator<AppState, [], [], T>;

export const sessionSlice = (api: ApiClient): Slice<SessionSlice> => (set, get) => ({
  appInfo: null,
  connection: 'connecting',
  connectionLost: false,
  repository: null,
  repositoryLoaded: false,
  recent: [],
  summary: null,
  passphrasePrompt: null,
  async loadSession() {
    try {
      const [appInfo, repository, recent] = await Promise.all([api.getAppInfo(), api.getRepository(), api.listRecentRepositories()]);
      set({ appInfo, repository, recent, repositoryLoaded: true });
      // The desktop app opens the last repository at start; an encrypted one asks first.
      if (!repository && appInfo.mode === 'electron' && recent[0]?.encrypted && !get().passphrasePrompt) get().askPassphrase(recent[0].path, recent[0].s3);
      if (repository) await Promise.all([get().loadSummary(), get().loadVersions(), get().loadJobs()]);
      else await get().loadJobs();
    } catch (error) {
      get().reportError(error, 'Connecting to Blockvault');
    }
  },
  async openRepository(path, passphrase, s3) {
    const asked = passphrase !== undefined;
    const where = s3 ? { s3 } : {};
    if (asked) set({ passphrasePrompt: { path, ...where, busy: true, error: null } });
    try {
      const repository = await api.openRepository({ path, ...where, ...(asked ? { passphrase } : {}) });
      set({ passphrasePrompt: null });
      get().setRepository(repository);
      set({ recent: await api.listRecentRepositories() });
      get().notify('success', `Opened ${repository.path}${repository.settings.encrypted ? ' (encrypted)' : ''}`);
      return true;
    } catch (error) {
      const apiError = toApiError(error);
      if (apiError.code === 'WRONG_KEY' || asked) {
        // Without a passphrase this is the question, not an error; with one, the dialog says why.
        set({ passphrasePrompt: { path, ...where, busy: false, error: asked ? { code: apiError.code, message: apiError.message } : null } });
      } else {
        get().reportError(apiError, `Opening ${path}`);
      }
      return false;
    }
  },
  askPassphrase(path, s3) {
    set({ passphrasePrompt: { path, ...(s3 ? { s3 } : {}), busy: false, error: null } });
  },
  cancelPassphrase() {
    set({ passphrasePrompt: null });
  },
  async createRepository(args) {
    try {
      const repository = await api.createRepository(args);
      get().setRepository(repository);
      set({ recent: await api.listRecentRepositories() });
      get().notify('success', `Created ${repository.path}`);
      return true;
    } catch (error) {
      get().reportError(error, `Creating ${args.path}`);
      return false;
    }
  },
  async closeRepository() {
    try {
      await api.closeRepository();
      get().setRepository(null);
    } catch (error) {
      get().reportError(error, 'Closing the repository');
    }
  },
  async forgetRecent(path) {
    try {
      set({ recent: await api.forgetRecentRepository({ path }) });
    } catch (error) {
      get().reportError(error, 'Forgetting a recent repository');
    }
  },
  async loadSummary() {
    if (!get().repository) return;
    try {
      set({ summary: await api.getSummary() });
    } catch (error) {
      get().reportError(error, 'Loading the repository summary');
    }
  },
  setRepository(repository) {
    const changed = repository?.path !== get().repository?.path;
    set({ repository, repositoryLoaded: true, ...(changed ? { versions: [], versionsLoaded: false, selected: [], summary: null, jobs: {} } : {}) });
    if (repository) void Promise.all([get().loadSummary(), get().loadVersions(), get().loadJobs()]);
  },
});

export const versionsSlice = (api: ApiClient): Slice<VersionsSlice> => (set, get) => ({
  versions: [],
  versionsLoaded: false,
  filter: EMPTY_FILTER,
  sort: { key: 'date', descending: true },
  selected: [],
  collapsed: [],
  async loadVersions() {
    if (!get().repository) return;
    try {
      const versions = await api.listVersions({});
      const known = new Set(versions.map((v) => v.uid));
      set({ versions, versionsLoaded: true, selected: get().selected.filter((uid) => known.has(uid)) });
    } catch (error) {
      get().reportError(error, 'Loading versions');
    }
  },
  setFilter(patch) {
    set({ filter: { ...get().filter, ...patch } });
  },
  setSort(key) {
    const sort = get().sort;
    set({ sort: sort.key === key ? { key, descending: !sort.descending } : { key, descending: key === 'date' || key === 'size' } });
  },
  toggleSelected(uid) {
    const selected = get().selected;
    set({ selected: selected.includes(uid) ? selected.filter((u) => u !== uid) : [...selected, uid] });
  },
  setSelected(uids) {
    set({ selected: [...new Set(uids)] });
  },
  toggleCollapsed(name) {
    const collapsed = get().collapsed;
    set({ collapsed: collapsed.includes(name) ? collapsed.filter((n) => n !== name) : [...collapsed, name] });
  },
});

export const jobsSlice = (api: ApiClient): Slice<JobsSlice> => (set, get) => ({
  jobs: {},
  jobsLoaded: false,
  async loadJobs() {
    try {
      const list = await api.listJobs({ limit: 200 });
      const jobs: Record<string, Job> = {};
      for (const job of list) jobs[job.id] = job;
      // Events may have arrived while the list was loading: keep the newer of each. A job
      // the server no longer lists is kept only when finished (a running one belonged to a
      // server that is gone, or a repository no longer open).
      for (const job of Object.values(get().jobs)) {
        const listed = jobs[job.id];
        if (listed ? isFinished(job.state) && !isFinished(listed.state) : isFinished(job.state)) jobs[job.id] = job;
      }
      set({ jobs, jobsLoaded: true });
    } catch (error) {
      get().reportError(error, 'Loading jobs');
    }
  },
  upsertJob(job) {
    const previous = get().jobs[job.id];
    // A late throttled progress event must not undo a final state.
    if (previous && isFinished(previous.state) && !isFinished(job.state)) return;
    set({ jobs: { ...get().jobs, [job.id]: job } });
  },
  async cancelJob(id) {
    try {
      get().upsertJob(await api.cancelJob({ id }));
    } catch (error) {
      get().reportError(error, 'Canceling the job');
    }
  },
});

export const servingsSlice = (api: ApiClient): Slice<ServingsSlice> => (set, get) => ({
  servings: [],
  async loadServings() {
    try {
      set({ servings: await api.listServingsNbd() });
    } catch (error) {
      get().reportError(error, 'Loading the NBD servings');
    }
  },
  async startServing(args) {
    const serving = await api.startServingNbd(args);
    set({ servings: [...get().servings.filter((s) => s.id !== serving.id), serving] });
    return serving;
  },
  async stopServing(id) {
    try {
      const stopped = await api.stopServingNbd({ id });
      set({ servings: get().servings.filter((s) => s.id !== id) });
      const saved = stopped.saved ? `; its changes are saved as version ${stopped.saved.uid.slice(0, 8)} (${stopped.saveAs})` : stopped.cow && stopped.changedBlocks > 0 ? `; ${stopped.changedBlocks.toLocaleString()} changed blocks dropped` : '';
      get().notify('success', `Stopped serving ${stopped.uid.slice(0, 8)} (${stopped.blocksVerified.toLocaleString()} blocks read and verified)${saved}`);
      return stopped;
    } catch (error) {
      get().reportError(error, 'Stopping the NBD serving');
      await get().loadServings();
      return null;
    }
  },
});

let nextNotice = 1;

export const uiSlice = (initial: Route): Slice<UiSlice> => (set, get) => ({
  route: initial,
  notices: [],
  setRoute(route) {
    set({ route });
  },
  notify(kind, message, context) {
    const notice: Notice = { id: nextNotice++, kind, message, context };
    set({ notices: [...get().notices.slice(-4), notice] });
  },
  reportError(error, context) {
    const apiError = toApiError(error);
    // A call cut off by a lost connection: the connection banner says so, once.
    if (apiError.code === 'IO_ERROR' && get().connection !== 'open') return;
    const notice: Notice = { id: nextNotice++, kind: 'error', code: apiError.code, message: apiError.message, context };
    set({ notices: [...get().notices.slice(-4), notice] });
  },
  dismiss(id) {
    set({ notices: get().notices.filter((n) => n.id !== id) });
  },
});
