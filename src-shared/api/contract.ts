// The typed API: every operation the GUI, the web mode and the CLI share, declared once.
// Each method takes one plain object of arguments (validated at the boundary by the schema
// of the same name in schemas.ts) and resolves to plain data. `API_METHODS` lists the names:
// the Electron preload and the clients are generated from it, and a method missing from it
// (or from the services) is a type error.
import type { Result } from './errors';
import type { Policy, PolicyInfo, PrunePlan, Retention, RepositoryStatus } from './policy';
import type { BackupStats, BlockMap, DiffRange, DuReport, ScrubMode, ScrubReport, Version } from '../model';
import type {
  AppInfo,
  BlockDevice,
  BlockInfo,
  BrowseListing,
  CleanupEstimate,
  Comparison,
  Job,
  KeyInfo,
  NbdServing,
  PathInfo,
  PickPurpose,
  RecentRepository,
  RepositoryInfo,
  RepositorySummary,
  S3ConnectionTest,
  StoragePoint,
  VersionDetail,
  VersionFacts,
} from './types';

export type NoArgs = Record<string, never>;

/**
 * How to reach an `s3://BUCKET/PREFIX` repository. Credentials come from `credentialsFile` (an
 * AWS credentials file read by the main process), a `profile`, or the main process's
 * environment: no secret ever crosses the API.
 */
export interface S3ConnectionArgs {
  endpoint?: string;
  region?: string;
  pathStyle?: boolean;
  credentialsFile?: string;
  profile?: string;
}

/** An s3:// location and how to reach it, for "Test connection". */
export interface TestS3ConnectionArgs {
  /** s3://BUCKET/PREFIX */
  path: string;
  s3?: S3ConnectionArgs;
}

export interface OpenRepositoryArgs {
  /** an absolute folder path, or s3://BUCKET/PREFIX */
  path: string;
  s3?: S3ConnectionArgs;
  /**
   * of an encrypted repository; without it (or with a wrong one) opening fails with WRONG_KEY.
   * Used only to unwrap the key: never logged, never stored.
   */
  passphrase?: string;
  /** or the path of a key file (read by the main process to unwrap the key) */
  keyFile?: string;
}
export interface CreateRepositoryArgs {
  /** an absolute folder path, or s3://BUCKET/PREFIX */
  path: string;
  s3?: S3ConnectionArgs;
  blockSize?: number;
  compression?: string;
  minAgeDays?: number;
  cleanupGraceSeconds?: number;
  /** encrypt objects (AES-256-GCM) under a key wrapped by `passphrase`, which is then required */
  encrypt?: boolean;
  passphrase?: string;
  /** encrypt under the contents of this key file instead of a passphrase */
  keyFile?: string;
}
export interface OpenRepository { path: string; current: boolean; activeJobs: number }
export interface AddKeyArgs { passphrase?: string; keyFile?: string }
export interface KeyIdArgs { id: string }
export interface ChangePassphraseArgs { passphrase: string; id?: string }
export interface UpdateSettingsArgs { minAgeDays?: number; cleanupGraceSeconds?: number; maxConcurrentJobs?: number; backy2AutoTags?: boolean }
export interface VersionFilterArgs { name?: string; snapshot?: string; tag?: string }
export interface UidArgs { uid: string }
export interface UidsArgs { uids: string[] }
export interface ProtectArgs { uids: string[]; value: boolean }
export interface TagArgs { uids: string[]; tag: string }
export interface NoteArgs { uid: string; note: string }
export interface RemoveVersionsArgs { uids: string[]; force?: boolean }
export interface BlockInfoArgs { uid: string; idx: number }
export interface CompareArgs { left: string; right: string }
export interface OptionalUidArgs { uid?: string }
export interface StatsArgs { uid?: string; limit?: number }
export interface PathArgs { path: string }
export interface NameArgs { name: string }
export interface PickPathArgs { purpose: PickPurpose; defaultPath?: string }
export interface BrowsePathArgs { path?: string; purpose: PickPurpose }
export interface BackupArgs {
  source: string; name: string; snapshot?: string; tags?: string[]; from?: string; hints?: string;
  /** qcow2 or NBD source: the changes since `from` are the extents this dirty bitmap marks */
  bitmap?: string;
  /** RBD source: the changes since `from` are what `rbd diff --from-snap` this snapshot lists */
  fromSnap?: string;
  /** qcow2: start the bitmap afresh after the backup (cleared, or added when missing) */
  rotateBitmap?: boolean;
  /** a file with qcow2 content is backed up as the container file, not its guest disk */
  raw?: boolean;
  /** shell command run before the backup (its failure means no backup) */
  pre?: string;
  /** shell command run after the backup, also when it failed or was canceled */
  post?: string;
  /** the new version's UID (a new UUID), so a client can name it before it starts (the CLI's process title) */
  uid?: string;
  /** a source that changed while it was read (sampled blocks differ when read again) fails the backup (SOURCE_CHANGED) instead of warning */
  strict?: boolean;
}
export interface RestoreArgs {
  uid: string;
  target: string;
  /** overwrite an existing file or device */
  force?: boolean;
  /** the existing target is already zeroed: skip zero blocks */
  sparse?: boolean;
  /** required to overwrite: the target's file name typed by the user */
  confirm?: string;
}
export interface ScrubArgs { uids: string[]; mode: ScrubMode; percent?: number; source?: string }
export interface CleanupArgs { full?: boolean; graceSeconds?: number }
export interface ExportArgs { uids: string[]; file: string }
export interface ImportArgs { file: string }
/**
 * Migration of another tool's backups: backy2 metadata dumps (`backy2 export` CSV) or Benji
 * metadata exports (JSON) and that tool's data folder; `listing` is `backy2 -m ls` output for
 * tags, `hash` the tool's hash function when not its default.
 */
export interface MigrateArgs { tool: 'backy2' | 'benji'; dumps: string[]; data: string; listing?: string; hash?: string }
/**
 * Copies versions of the current repository (named by `uids`, or `all`, or every version of
 * `name`) into the repository at `to`. An encrypted destination opens with `toPassphrase` or
 * `toKeyFile`, used only to unwrap its key.
 */
export interface CopyArgs {
  uids?: string[];
  all?: boolean;
  name?: string;
  to: string;
  toS3?: S3ConnectionArgs;
  toPassphrase?: string;
  toKeyFile?: string;
}
export interface JobIdArgs { id: string }
export interface ListJobsArgs { limit?: number }
export interface PingArgs { sent?: number }
/** a Unix socket path, or a TCP port on 127.0.0.1 (0: any free port); neither: any free port */
export interface ServeNbdArgs {
  uid: string; socket?: string; port?: number; cow?: boolean;
  /** with cow: when the serving stops, its changed disk becomes a new version of this name (its base: the served version) */
  saveAs?: string;
}
export interface ServingIdArgs { id: string }
export interface SavePolicyArgs { policy: Policy; create: boolean }
export interface PruneArgs {
  /** one disk; all disks when omitted */
  name?: string;
  /** rules to apply instead of each disk's policy */
  retention?: Retention;
  /** zone of the days, weeks ... (default: the policy's schedule zone, else UTC) */
  timeZone?: string;
}

export interface Api {
  /** Round trip check; `time` is the server's clock. */
  ping(args: PingArgs): Promise<{ time: number; sent: number | null }>;
  getAppInfo(args: NoArgs): Promise<AppInfo>;

  // repository
  getRepository(args: NoArgs): Promise<RepositoryInfo | null>;
  /** Repositories open in this process; opening one again makes it current, jobs untouched. */
  listOpenRepositories(args: NoArgs): Promise<OpenRepository[]>;
  openRepository(args: OpenRepositoryArgs): Promise<RepositoryInfo>;
  createRepository(args: CreateRepositoryArgs): Promise<RepositoryInfo>;
  closeRepository(args: NoArgs): Promise<null>;
  /**
   * Reaches an s3:// location without opening it: resolves when the test ran, with the exact
   * failure (DNS, refused, TLS, timeout, 403, no such bucket ...) or what the prefix holds.
   */
  testS3Connection(args: TestS3ConnectionArgs): Promise<S3ConnectionTest>;
  listRecentRepositories(args: NoArgs): Promise<RecentRepository[]>;
  forgetRecentRepository(args: PathArgs): Promise<RecentRepository[]>;
  getSummary(args: NoArgs): Promise<RepositorySummary>;
  updateSettings(args: UpdateSettingsArgs): Promise<RepositoryInfo>;
  listKeys(args: NoArgs): Promise<KeyInfo[]>;
  addKey(args: AddKeyArgs): Promise<KeyInfo>;
  removeKey(args: KeyIdArgs): Promise<null>;
  changePassphrase(args: ChangePassphraseArgs): Promise<KeyInfo>;

  // versions
  listVersions(args: VersionFilterArgs): Promise<Version[]>;
  getVersionDetail(args: UidArgs): Promise<VersionDetail>;
  setProtected(args: ProtectArgs): Promise<Version[]>;
  addTag(args: TagArgs): Promise<Version[]>;
  removeTag(args: TagArgs): Promise<Version[]>;
  /** Sets the version's note (an empty note removes it); exports carry it. */
  setVersionNote(args: NoteArgs): Promise<Version>;
  removeVersions(args: RemoveVersionsArgs): Promise<{ removed: string[] }>;
  getBlockMap(args: UidArgs): Promise<BlockMap>;
  getBlockInfo(args: BlockInfoArgs): Promise<BlockInfo>;
  compareVersions(args: CompareArgs): Promise<Comparison>;
  diffVersions(args: CompareArgs): Promise<DiffRange[]>;
  getDu(args: OptionalUidArgs): Promise<DuReport>;
  listStats(args: StatsArgs): Promise<BackupStats[]>;
  listScrubReports(args: UidArgs): Promise<ScrubReport[]>;
  /** stored bytes, bytes only this version holds and last verification of every version */
  listVersionFacts(args: NoArgs): Promise<VersionFacts[]>;
  /** the store's bytes after each finished job (canceled and failed backups included), ending now */
  getStorageHistory(args: NoArgs): Promise<StoragePoint[]>;
  suggestBase(args: NameArgs): Promise<Version | null>;

  // policies, prune and status
  listPolicies(args: NoArgs): Promise<PolicyInfo[]>;
  savePolicy(args: SavePolicyArgs): Promise<PolicyInfo>;
  removePolicy(args: NameArgs): Promise<null>;
  /** What prune would keep and remove, and why (changes nothing). */
  previewPrune(args: PruneArgs): Promise<PrunePlan>;
  startPrune(args: PruneArgs): Promise<Job>;
  /** Per disk: last backup and its outcome, last verify, next run; the store; a Nagios level. */
  getStatus(args: NoArgs): Promise<RepositoryStatus>;

  // sources and targets
  listBlockDevices(args: NoArgs): Promise<BlockDevice[]>;
  inspectPath(args: PathArgs): Promise<PathInfo>;
  /** Native file dialog (Electron); resolves to null when canceled or unsupported. */
  pickPath(args: PickPathArgs): Promise<string | null>;
  /** Server-side file browser (web mode's path picker): one folder, only what the server's user can read. */
  browsePath(args: BrowsePathArgs): Promise<BrowseListing>;

  // jobs
  startBackup(args: BackupArgs): Promise<Job>;
  startRestore(args: RestoreArgs): Promise<Job>;
  startScrub(args: ScrubArgs): Promise<Job>;
  estimateCleanup(args: NoArgs): Promise<CleanupEstimate>;
  startCleanup(args: CleanupArgs): Promise<Job>;
  startExport(args: ExportArgs): Promise<Job>;
  startImport(args: ImportArgs): Promise<Job>;
  startMigrate(args: MigrateArgs): Promise<Job>;
  startCopy(args: CopyArgs): Promise<Job>;
  listJobs(args: ListJobsArgs): Promise<Job[]>;
  getJob(args: JobIdArgs): Promise<Job>;
  cancelJob(args: JobIdArgs): Promise<Job>;

  // serving versions over NBD
  startServingNbd(args: ServeNbdArgs): Promise<NbdServing>;
  stopServingNbd(args: ServingIdArgs): Promise<NbdServing>;
  listServingsNbd(args: NoArgs): Promise<NbdServing[]>;
}

export type ApiMethod = keyof Api;
export type ApiArgs<M extends ApiMethod> = Parameters<Api[M]>[0];
export type ApiResult<M extends ApiMethod> = Awaited<ReturnType<Api[M]>>;

/** Every method name; `satisfies` makes a missing or unknown name a type error. */
export const API_METHODS = {
  ping: true,
  getAppInfo: true,
  getRepository: true,
  listOpenRepositories: true,
  openRepository: true,
  createRepository: true,
  closeRepository: true,
  testS3Connection: true,
  listRecentRepositories: true,
  forgetRecentRepository: true,
  getSummary: true,
  updateSettings: true,
  listKeys: true,
  addKey: true,
  removeKey: true,
  changePassphrase: true,
  listVersions: true,
  getVersionDetail: true,
  setProtected: true,
  addTag: true,
  removeTag: true,
  setVersionNote: true,
  removeVersions: true,
  getBlockMap: true,
  getBlockInfo: true,
  compareVersions: true,
  diffVersions: true,
  getDu: true,
  listStats: true,
  listScrubReports: true,
  listVersionFacts: true,
  getStorageHistory: true,
  suggestBase: true,
  listPolicies: true,
  savePolicy: true,
  removePolicy: true,
  previewPrune: true,
  startPrune: true,
  getStatus: true,
  listBlockDevices: true,
  inspectPath: true,
  pickPath: true,
  browsePath: true,
  startBackup: true,
  startRestore: true,
  startScrub: true,
  estimateCleanup: true,
  startCleanup: true,
  startExport: true,
  startImport: true,
  startMigrate: true,
  startCopy: true,
  listJobs: true,
  getJob: true,
  cancelJob: true,
  startServingNbd: true,
  stopServingNbd: true,
  listServingsNbd: true,
} as const satisfies Record<ApiMethod, true>;

export const METHOD_NAMES = Object.keys(API_METHODS) as ApiMethod[];

export function isApiMethod(name: unknown): name is ApiMethod {
  return typeof name === 'string' && Object.prototype.hasOwnProperty.call(API_METHODS, name);
}

/** Events the main side pushes to every client. */
export interface ApiEvents {
  jobChanged: Job;
  versionsChanged: { reason: string; uids: string[] };
  repositoryChanged: RepositoryInfo | null;
}

export type ApiEventName = keyof ApiEvents;

export const API_EVENTS = { jobChanged: true, versionsChanged: true, repositoryChanged: true } as const satisfies Record<ApiEventName, true>;

export type ApiEventListener = <E extends ApiEventName>(name: E, payload: ApiEvents[E]) => void;

/** What the Electron preload exposes as `window.blockvault`. */
export interface Bridge {
  invoke(method: string, args: unknown): Promise<unknown>;
  onEvent(listener: (name: string, payload: unknown) => void): () => void;
}

/** Wire messages of the WebSocket transport. */
export type WireRequest = { id: number; method: string; args: unknown };
export type WireMessage =
  | { id: number; result: Result<unknown> }
  | { event: ApiEventName; payload: unknown };

/** Channel names of the Electron transport. */
export const IPC_INVOKE = 'blockvault:invoke';
export const IPC_EVENT = 'blockvault:event';
