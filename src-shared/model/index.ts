// Plain data that crosses every boundary (engine results, IPC, WebSocket, CLI --json).
// No classes, no Buffers: numbers, strings, booleans, arrays and objects only.

export type VersionStatus = 'valid' | 'invalid' | 'incomplete';

export interface Version {
  uid: string;
  name: string;
  snapshot: string;
  /** ISO 8601 */
  date: string;
  /** bytes */
  size: number;
  blockSize: number;
  blocks: number;
  valid: boolean;
  status: VersionStatus;
  protected: boolean;
  tags: string[];
  baseUid: string | null;
  source: string;
  /** the admin's note about this version (absent when there is none) */
  note?: string;
}

export interface RepositorySettings {
  id: string;
  formatVersion: number;
  blockSize: number;
  hash: string;
  compression: string;
  encrypted: boolean;
  minAgeDays: number;
  cleanupGraceSeconds: number;
  /** backy2's automatic tags (b_daily, b_weekly, b_monthly) for backups without tags; absent: off */
  backy2AutoTags?: boolean;
  created: string;
}

/** Counters every long operation updates; progress events carry a copy. */
export interface Progress {
  phase: string;
  bytesDone: number;
  bytesTotal: number;
  blocksDone: number;
  blocksTotal: number;
  blocksNew: number;
  blocksDedup: number;
  blocksSparse: number;
  blocksFromBase: number;
  blocksInvalid: number;
  bytesWritten: number;
  /** bytes per second over the whole run so far */
  rate: number;
  /** seconds, null while unknown */
  eta: number | null;
  elapsedMs: number;
}

/** Store requests a job retried (S3: 5xx, SlowDown, timeouts, resets), in all and by cause. */
export interface StoreRetries {
  retries: number;
  /** requests that failed after their last attempt */
  exhausted: number;
  causes: Record<string, number>;
}

export interface BackupResult {
  uid: string;
  stats: BackupStats;
  /** the store requests the backup retried */
  retries?: StoreRetries;
  /** blocks of the source read again at the end and compared with what was stored */
  sourceCheck?: SourceCheck;
}

/**
 * A source that changes while it is read (a live disk without a snapshot) gives a version that
 * never existed on disk: a few blocks read during the backup are read again at its end.
 */
export interface SourceCheck {
  /** blocks read again */
  sampled: number;
  /** indexes of the sampled blocks whose bytes differ from what was stored: the source changed */
  changed: number[];
  /** why no block was read again (a stream cannot be), or null */
  skipped: string | null;
}

export interface BackupStats {
  date: string;
  uid: string;
  name: string;
  sizeBytes: number;
  sizeBlocks: number;
  bytesRead: number;
  blocksRead: number;
  bytesWritten: number;
  blocksWritten: number;
  bytesStored: number;
  bytesDedup: number;
  blocksDedup: number;
  bytesSparse: number;
  blocksSparse: number;
  blocksFromBase: number;
  durationMs: number;
}

export interface RestoreResult {
  uid: string;
  target: string;
  bytes: number;
  blocksWritten: number;
  blocksSparse: number;
  blocksVerified: number;
  durationMs: number;
  /** the store requests the restore retried */
  retries?: StoreRetries;
}

export type ScrubMode = 'fast' | 'deep' | 'source';

export type BlockProblemKind = 'missing' | 'invalid' | 'mismatch';

export interface BlockProblem {
  idx: number;
  offset: number;
  object: string | null;
  kind: BlockProblemKind;
  detail: string;
}

export interface ScrubReport {
  id: number;
  uid: string;
  date: string;
  durationMs: number;
  mode: ScrubMode;
  percent: number;
  blocksTotal: number;
  blocksChecked: number;
  blocksOk: number;
  blocksInvalid: number;
  blocksMissing: number;
  blocksMismatch: number;
  /** versions marked invalid because of this scrub (this one and others sharing objects) */
  invalidatedVersions: string[];
  /** true when this scrub marked the version valid again */
  revalidated: boolean;
  problems: BlockProblem[];
}

export interface CleanupResult {
  full: boolean;
  objectsDeleted: number;
  bytesFreed: number;
  temporaryFilesDeleted: number;
  incompleteVersionsRemoved: string[];
  /** unreferenced objects still inside the grace period */
  objectsWaiting: number;
  bytesWaiting: number;
  /** the store requests the cleanup retried */
  retries?: StoreRetries;
}

export interface CopiedVersion {
  uid: string;
  /** copied now, or already valid in the destination */
  outcome: 'copied' | 'present';
  objectsTransferred: number;
  /** objects the destination had already (not transferred) */
  objectsPresent: number;
  bytesTransferred: number;
}

export interface CopyResult {
  /** where the versions went (a folder path or s3://BUCKET/PREFIX) */
  destination: string;
  versions: CopiedVersion[];
  objectsTransferred: number;
  objectsPresent: number;
  bytesTransferred: number;
  durationMs: number;
  /** store requests retried during the copy (both repositories), in all and by cause */
  retries: StoreRetries;
}

export interface DuReport {
  uid: string | null;
  /** logical bytes of the version(s) */
  sizeBytes: number;
  /** logical bytes in non-sparse blocks */
  referencedBytes: number;
  sparseBytes: number;
  /** logical bytes whose objects other versions also reference */
  sharedBytes: number;
  /** logical bytes whose objects only this version references */
  exclusiveBytes: number;
  /** stored bytes that rm plus cleanup would free */
  reclaimableBytes: number;
  /** stored bytes of all distinct objects referenced */
  storedBytes: number;
}

export interface DiffRange {
  /** first and last block index, inclusive */
  first: number;
  last: number;
  offset: number;
  length: number;
  kind: 'differ' | 'only-left' | 'only-right';
}

/** State of one block, for block maps. */
export type BlockState = 'sparse' | 'new' | 'dedup' | 'base' | 'invalid';

export interface BlockMap {
  uid: string;
  blockSize: number;
  /** one code per block: 0 sparse, 1 new, 2 dedup, 3 unchanged from base, 4 invalid */
  states: number[];
}

export const BLOCK_STATE_CODES: Record<BlockState, number> = { sparse: 0, new: 1, dedup: 2, base: 3, invalid: 4 };
