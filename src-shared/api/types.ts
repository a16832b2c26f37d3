// Plain data the API carries besides the engine's model: repository summaries, jobs, the
// facts about paths and devices that wizards show. No classes; everything survives JSON.
import type { PruneDecision } from './policy';
import type { BackupResult, BackupStats, CleanupResult, CopyResult, DuReport, Progress, RepositorySettings, RestoreResult, ScrubMode, StoreRetries, Version } from '../model';
import type { ErrorCode, SerializedError } from './errors';
import type { S3ConnectionArgs } from './contract';

export interface AppInfo {
  version: string;
  /** which shell serves the API: the Electron window, the web server, or the CLI */
  mode: 'electron' | 'web' | 'cli' | 'daemon';
  /** true when `pickPath` opens native dialogs (Electron) */
  nativeDialogs: boolean;
  platform: string;
}

/**
 * Where a repository's objects are: a folder, or a bucket and prefix of an S3 server (no
 * credentials here: only where they come from, as the user chose it).
 */
export type StoreLocation =
  | { kind: 'folder'; path: string }
  | {
      kind: 's3';
      /** null: AWS's own endpoint for the region */
      endpoint: string | null;
      bucket: string;
      prefix: string;
      region: string;
      pathStyle: boolean;
      /** the local SQLite cache of the bucket's metadata (rebuilt from the bucket when lost) */
      metadataFile: string;
    };

export interface RepositoryInfo {
  path: string;
  /** the store's kind and where it is */
  store: StoreLocation;
  settings: RepositorySettings;
  /** jobs this Blockvault runs at once (kept in the user's settings, not the repository) */
  maxConcurrentJobs: number;
}

export interface RecentRepository {
  path: string;
  /** ISO 8601 */
  lastOpened: string;
  /** opening it asks for a passphrase (the passphrase itself is never kept) */
  encrypted?: boolean;
  /** an s3:// repository: how it was reached (endpoint, region, credentials file or profile; never a key) */
  s3?: S3ConnectionArgs;
}

/**
 * What "Test connection" found wrong, one stable name per kind of failure:
 * - `dns`: the endpoint's host name does not resolve
 * - `refused`: nothing listens at the endpoint's port
 * - `unreachable`: no route to the host
 * - `tls`: the TLS handshake failed (a plain-HTTP port behind https://, an untrusted certificate)
 * - `timeout`: no answer in time
 * - `unauthorized`: the server refused the credentials (403: wrong key or secret, access denied)
 * - `no-bucket`: the bucket does not exist
 * - `credentials`: no credentials could be read (missing file, no such profile, none in the environment)
 * - `invalid`: the location or connection settings are not usable
 * - `other`: anything else (the message says what)
 */
export const S3_CONNECTION_FAILURES = ['dns', 'refused', 'unreachable', 'tls', 'timeout', 'unauthorized', 'no-bucket', 'credentials', 'invalid', 'other'] as const;
export type S3ConnectionFailure = (typeof S3_CONNECTION_FAILURES)[number];

/** "Test connection": reachable, with what the prefix holds; or the exact failure. */
export type S3ConnectionTest =
  | {
      ok: true;
      /** s3://BUCKET/PREFIX */
      location: string;
      /** the endpoint that answered (null: AWS) */
      endpoint: string | null;
      /**
       * `repository`: a Blockvault repository is there (open it); `empty`: nothing under the
       * prefix (create one); `other`: something else is there (neither works)
       */
      contents: 'repository' | 'empty' | 'other';
      /** contents `repository`: its id and whether opening asks for a passphrase */
      repository?: { id: string; encrypted: boolean };
      /** contents `other`: one key found under the prefix */
      example?: string;
      /** how long the test took */
      elapsedMs: number;
    }
  | {
      ok: false;
      failure: S3ConnectionFailure;
      code: ErrorCode;
      /** what went wrong in words, with its short cause (ENOTFOUND, 403 SignatureDoesNotMatch ...) */
      message: string;
      /** the underlying error's own message */
      detail: string;
      elapsedMs: number;
    };

export type Health = 'ok' | 'warning' | 'error';

export interface RepositorySummary {
  path: string;
  /** objects are encrypted (AES-256-GCM); opening needs the passphrase */
  encrypted: boolean;
  versions: number;
  validVersions: number;
  invalidVersions: number;
  incompleteVersions: number;
  protectedVersions: number;
  /** distinct version names (disks) */
  names: number;
  /** logical bytes of every version */
  logicalBytes: number;
  /** logical bytes of every non-sparse block reference */
  referencedBytes: number;
  /** logical bytes of the distinct objects */
  uniqueBytes: number;
  /** bytes of the objects as stored (compressed) */
  storedBytes: number;
  objects: number;
  /** referencedBytes / uniqueBytes: how much deduplication saves */
  dedupeRatio: number;
  /** uniqueBytes / storedBytes: how much compression saves */
  compressionRatio: number;
  lastBackup: string | null;
  lastScrub: { date: string; uid: string; ok: boolean; mode: ScrubMode } | null;
  /** versions by what the newest full deep (or against-source) scrub of each said */
  verification: {
    verified: number;
    /** verified, but longer ago than `staleDays` */
    stale: number;
    neverVerified: number;
    failed: number;
    staleDays: number;
  };
  health: Health;
  /** each reason names the versions that cause it */
  healthReasons: string[];
}

/** When a version's data was last checked and what the check said. */
export interface LastVerified {
  date: string;
  ok: boolean;
  /** the only problems were blocks that differ from the source (the backup itself is intact) */
  differs: boolean;
  mode: ScrubMode;
  percent: number;
}

/** Per-version space and verification, for the Versions columns. */
export interface VersionFacts {
  uid: string;
  /** stored (compressed) bytes of the distinct objects the version references */
  storedBytes: number;
  /** stored bytes of the objects no other version references: what deleting it frees */
  exclusiveBytes: number;
  /** newest scrub of any mode; null when never scrubbed */
  lastVerified: LastVerified | null;
}

/** The store's bytes after one finished job (or now, for the last point). */
export interface StoragePoint {
  /** ISO 8601 */
  date: string;
  storedBytes: number;
  /** what changed it: "backup", "backup (canceled)", "cleanup", "import", or "now" */
  cause: string;
}

export interface ScrubSummary {
  id: number;
  uid: string;
  date: string;
  mode: ScrubMode;
  percent: number;
  ok: boolean;
  blocksChecked: number;
  blocksInvalid: number;
  blocksMissing: number;
  blocksMismatch: number;
}

export interface BlockInfo {
  uid: string;
  idx: number;
  offset: number;
  length: number;
  /** hex digest of the block's object; null for a sparse block */
  object: string | null;
  storedSize: number | null;
  /** code as in BlockMap.states */
  state: number;
}

export interface Comparison {
  left: string;
  right: string;
  blockSize: number;
  /** one code per block of the longer version: 0 same, 1 differs, 2 only left, 3 only right */
  states: number[];
  differingBlocks: number;
  differingBytes: number;
}

export type PathKind = 'missing' | 'file' | 'device' | 'directory' | 'other';

export interface PathInfo {
  /** the normalised absolute path */
  path: string;
  kind: PathKind;
  size: number;
  /** for a missing path: whether its directory exists (a new file can be created there) */
  parentExists: boolean;
  /** the path holds a Blockvault repository */
  isRepository: boolean;
}

export interface BlockDevice {
  path: string;
  name: string;
  size: number;
  model: string;
  readOnly: boolean;
  removable: boolean;
}

export type PickPurpose = 'openRepository' | 'createRepository' | 'source' | 'target' | 'hints' | 'exportFile' | 'importFile' | 'credentialsFile';

export interface CleanupEstimate {
  /** unreferenced objects past the grace period: what a fast cleanup deletes now */
  objects: number;
  bytes: number;
  /** unreferenced objects still inside the grace period: what a full cleanup deletes too */
  waitingObjects: number;
  waitingBytes: number;
  graceSeconds: number;
  incompleteVersions: number;
}

export const JOB_KINDS = ['backup', 'restore', 'scrub', 'cleanup', 'import', 'export', 'migrate', 'prune', 'copy'] as const;
export type JobKind = (typeof JOB_KINDS)[number];

export const JOB_STATES = ['queued', 'running', 'canceling', 'canceled', 'succeeded', 'failed'] as const;
export type JobState = (typeof JOB_STATES)[number];

export function isFinished(state: JobState): boolean {
  return state === 'canceled' || state === 'succeeded' || state === 'failed';
}

export interface JobLogLine {
  /** ISO 8601 */
  time: string;
  level: 'info' | 'warn' | 'error';
  message: string;
}

export interface ScrubJobResult {
  reports: ScrubSummary[];
  invalidatedVersions: string[];
  /** the store requests the scrub retried */
  retries?: StoreRetries;
}

export interface ExportJobResult {
  file: string;
  versions: string[];
}

export interface ImportJobResult {
  versions: string[];
  incompleteData: string[];
}

/** One version a migration (backy2, Benji) handled; see engine/migrate/legacy.ts. */
export interface MigratedVersion {
  uid: string;
  name: string;
  /** what this run did with it */
  outcome: 'migrated' | 'resumed' | 'already-migrated';
  status: 'valid' | 'invalid';
  blocks: number;
  blocksNew: number;
  blocksDedup: number;
  blocksSparse: number;
  /** blocks of this version that failed in an earlier, interrupted run */
  blocksFailedEarlier: number;
  /** blocks that failed their checksum, are missing, or have no metadata row */
  problems: Array<{ idx: number; kind: 'missing' | 'checksum' | 'size' | 'no-row'; detail: string }>;
}

export interface MigrateJobResult {
  tool: 'backy2' | 'benji';
  versions: MigratedVersion[];
  /** versions that had an expiry date, which Blockvault does not keep */
  expiring: number;
}

export type JobResult =
  | { kind: 'backup'; value: BackupResult }
  | { kind: 'restore'; value: RestoreResult }
  | { kind: 'scrub'; value: ScrubJobResult }
  | { kind: 'cleanup'; value: CleanupResult }
  | { kind: 'export'; value: ExportJobResult }
  | { kind: 'import'; value: ImportJobResult }
  | { kind: 'migrate'; value: MigrateJobResult }
  | { kind: 'prune'; value: PruneJobResult }
  | { kind: 'copy'; value: CopyResult };

export interface PruneJobResult {
  removed: string[];
  kept: number;
  decisions: PruneDecision[];
}

export type JobParams = Record<string, string | number | boolean | string[] | null>;

export interface Job {
  id: string;
  kind: JobKind;
  state: JobState;
  title: string;
  params: JobParams;
  progress: Progress | null;
  created: string;
  started: string | null;
  ended: string | null;
  result: JobResult | null;
  error: SerializedError | null;
  /** the newest log lines (all of them from getJob) */
  logs: JobLogLine[];
  /** true when another process (the CLI, another window) runs it: it cannot be canceled here */
  foreign: boolean;
}

/** Where a version came from: its chain of bases and what the backup was told changed. */
export interface VersionOrigin {
  /** the base, its base, ... oldest last; a base that was deleted ends the chain with `missing` */
  chain: Array<{ uid: string; date: string | null; snapshot: string; status: Version['status'] | 'deleted' }>;
  /** the job that made it, when the job history has it */
  job: string | null;
  /** hints file the backup used (changed extents), or null */
  hints: string | null;
  /** NBD dirty bitmap the backup used, or null */
  bitmap: string | null;
}

export interface VersionDetail {
  version: Version;
  origin: VersionOrigin;
  stats: BackupStats | null;
  du: DuReport;
  scrubs: ScrubSummary[];
  /** other versions of the same name, newest first, for compare */
  siblings: Version[];
}

export type BrowseEntryKind = 'directory' | 'file' | 'device' | 'other';

export interface BrowseEntry {
  name: string;
  /** absolute path */
  path: string;
  kind: BrowseEntryKind;
  /** bytes of a file or block device; 0 for folders */
  size: number;
  /** stable names of a block device under /dev/disk/by-id */
  byId: string[];
}

/** One folder as the server's user sees it: only what that user can read. */
export interface BrowseListing {
  path: string;
  /** null at / */
  parent: string | null;
  entries: BrowseEntry[];
  /** entries left out: not readable by the server's user */
  hidden: number;
  /** more entries than a listing carries; the rest are left out */
  truncated: boolean;
  /** the block devices the server's user can read, with their by-id names (for sources and targets) */
  devices: BrowseEntry[];
}

/** One key slot of an encrypted repository. */
export interface KeyInfo {
  id: string;
  kind: 'passphrase' | 'keyfile';
  created: string;
  /** the key this repository was opened with */
  current: boolean;
}

/** A version served over NBD by this process (serve-nbd, the GUI's "Serve over NBD"). */
export interface NbdServing {
  id: string;
  uid: string;
  /** nbd://127.0.0.1:PORT/EXPORT or nbd+unix:///EXPORT?socket=PATH */
  url: string;
  /** commands that attach it (qemu-img, nbdinfo, qemu-nbd, nbd-client, nbdfuse) */
  attach: string[];
  /** writes go to a temporary overlay (copy-on-write) instead of being refused */
  cow: boolean;
  started: number;
  connections: number;
  blocksVerified: number;
  changedBlocks: number;
  /** the last error a client was answered with (a corrupt or missing object) */
  lastError: string | null;
  /** with cow: the temporary file that holds the changed blocks while serving (removed when it stops) */
  overlay: string | null;
  /** with cow: the name the changed disk is saved as when the serving stops */
  saveAs: string | null;
  /** after a stop with saveAs: the new version and the job that saved it */
  saved?: { uid: string; job: string };
}
