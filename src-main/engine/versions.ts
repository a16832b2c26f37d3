// Version bookkeeping: listing, protection, tags, removal, and the read-only reports on
// versions (du, diff, block map, stats).
import type { BackupStats, BlockMap, DiffRange, DuReport, Version, VersionStatus } from '../../src-shared/model';
import { BLOCK_STATE_CODES } from '../../src-shared/model';
import { publishManifest, withdrawManifest } from './describe';
import { EngineError } from './errors';
import type { StatsRow, VersionFilter, VersionRow } from './meta/database';
import { ObjectState, VersionState } from './meta/schema';
import type { Repository } from './repository';
import { checkVersionName } from './pipeline/backup';

const STATUS: Record<number, VersionStatus> = { [VersionState.incomplete]: 'incomplete', [VersionState.valid]: 'valid', [VersionState.invalid]: 'invalid' };

export function toVersion(row: VersionRow): Version {
  return {
    uid: row.uid,
    name: row.name,
    snapshot: row.snapshot,
    date: new Date(row.date).toISOString(),
    size: row.size,
    blockSize: row.block_size,
    blocks: Math.ceil(row.size / row.block_size),
    valid: row.state === VersionState.valid,
    status: STATUS[row.state],
    protected: row.protected === 1,
    tags: row.tags ? row.tags.split(',') : [],
    baseUid: row.base_uid,
    source: row.source,
  };
}

export function listVersions(repo: Repository, filter: VersionFilter = {}): Version[] {
  return repo.meta.listVersions(filter).map(toVersion);
}

export function getVersion(repo: Repository, uid: string): Version {
  return toVersion(repo.meta.requireVersion(uid));
}

/** A changed version's manifest is rewritten; an incomplete version has none yet. */
async function republish(repo: Repository, uid: string): Promise<void> {
  if (repo.meta.requireVersion(uid).state !== VersionState.incomplete) await publishManifest(repo, uid);
}

export async function setProtected(repo: Repository, uid: string, value: boolean): Promise<Version> {
  const row = repo.meta.requireVersion(uid);
  repo.meta.setProtected(row.id, value);
  await republish(repo, uid);
  return getVersion(repo, uid);
}

export async function addTag(repo: Repository, uid: string, tag: string): Promise<Version> {
  checkVersionName(tag, 'tag');
  if (tag.includes(',')) throw new EngineError('INVALID_ARGUMENT', 'a tag cannot contain a comma');
  repo.meta.addTag(repo.meta.requireVersion(uid).id, tag);
  await republish(repo, uid);
  return getVersion(repo, uid);
}

export async function removeTag(repo: Repository, uid: string, tag: string): Promise<Version> {
  const row = repo.meta.requireVersion(uid);
  if (!repo.meta.removeTag(row.id, tag)) throw new EngineError('NOT_FOUND', `version ${uid} has no tag "${tag}"`);
  await republish(repo, uid);
  return getVersion(repo, uid);
}

/** The rule of removal, checked before any version of a batch is removed: never protected, never younger than the minimum age unless forced. */
export function checkRemovable(repo: Repository, uid: string, force = false): VersionRow {
  const row = repo.meta.requireVersion(uid);
  if (row.protected) throw new EngineError('PROTECTED', `version ${uid} is protected; unprotect it first`);
  const ageDays = (Date.now() - row.date) / 86_400_000;
  if (!force && ageDays < repo.settings.minAgeDays) {
    throw new EngineError('TOO_YOUNG', `version ${uid} is ${ageDays.toFixed(1)} days old, younger than the minimum age of ${repo.settings.minAgeDays} days; remove it anyway only with force (--force)`);
  }
  return row;
}

/** Refuses (LOCKED, naming the job) a version a live job uses: see `Metadata.versionUsers`. */
export function checkNotInUse(repo: Repository, uid: string): void {
  const [busy] = repo.meta.versionUsers(uid);
  if (busy) throw new EngineError('LOCKED', `version ${uid} is in use: ${busy.reason}`);
}

/**
 * Removes a version's metadata; its objects are freed by a later cleanup. Protected versions
 * are refused always, versions younger than the repository's minimum age unless forced.
 */
export async function removeVersion(repo: Repository, uid: string, force = false): Promise<void> {
  const meta = repo.meta;
  // One transaction from the check to the removal: a job taking its lock on the version now
  // (a restore, a copy, a serving) either comes first, and the removal is refused, or finds
  // the version gone.
  meta.transaction(() => {
    const row = checkRemovable(repo, uid, force);
    checkNotInUse(repo, uid);
    meta.deleteVersion(row.id, Date.now());
  });
  await withdrawManifest(repo, uid);
}

export function statsFromRow(row: StatsRow): BackupStats {
  return {
    date: new Date(row.date).toISOString(),
    uid: row.version_uid,
    name: row.version_name,
    sizeBytes: row.size_bytes,
    sizeBlocks: row.size_blocks,
    bytesRead: row.bytes_read,
    blocksRead: row.blocks_read,
    bytesWritten: row.bytes_written,
    blocksWritten: row.blocks_written,
    bytesStored: row.bytes_stored,
    bytesDedup: row.bytes_dedup,
    blocksDedup: row.blocks_dedup,
    bytesSparse: row.bytes_sparse,
    blocksSparse: row.blocks_sparse,
    blocksFromBase: row.blocks_from_base,
    durationMs: row.duration_ms,
  };
}

export function stats(repo: Repository, uid?: string, limit?: number): BackupStats[] {
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1)) throw new EngineError('INVALID_ARGUMENT', 'limit must be a whole number >= 1');
  return repo.meta.listStats(uid, limit).map(statsFromRow);
}

/** backy2's du: what a version (or the whole repository) references, shares and would free. */
export function du(repo: Repository, uid?: string): DuReport {
  const meta = repo.meta;
  const version = uid ? meta.requireVersion(uid) : undefined;
  const scope = version ? 'b.version_id = ?' : '1';
  const args = version ? [version.id] : [];
  const sizeBytes = version ? version.size : (meta.sql('SELECT coalesce(sum(size), 0) AS n FROM versions').get() as { n: number }).n;
  const referenced = meta.sql(`SELECT coalesce(sum(o.length), 0) AS n FROM blocks b JOIN objects o ON o.id = b.object_id WHERE ${scope}`).get(...args) as { n: number };
  const stored = meta.sql(`SELECT coalesce(sum(o.stored_size), 0) AS n FROM objects o WHERE o.id IN (SELECT b.object_id FROM blocks b WHERE ${scope} AND b.object_id IS NOT NULL)`).get(...args) as { n: number };
  let sharedBytes = 0;
  let exclusiveBytes = 0;
  let reclaimableBytes = 0;
  if (version) {
    const rows = meta.sql(
      `SELECT o.length, o.stored_size, o.id,
         EXISTS (SELECT 1 FROM blocks x WHERE x.object_id = o.id AND x.version_id != ?) AS shared
       FROM blocks b JOIN objects o ON o.id = b.object_id WHERE b.version_id = ?`,
    ).all(version.id, version.id) as Array<{ length: number; stored_size: number; id: number; shared: number }>;
    const counted = new Set<number>();
    for (const row of rows) {
      if (row.shared) sharedBytes += row.length;
      else {
        exclusiveBytes += row.length;
        if (!counted.has(row.id)) reclaimableBytes += row.stored_size;
        counted.add(row.id);
      }
    }
  } else {
    exclusiveBytes = referenced.n;
    reclaimableBytes = (meta.sql(`SELECT coalesce(sum(stored_size), 0) AS n FROM objects o WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.object_id = o.id)`).get() as { n: number }).n;
  }
  return {
    uid: uid ?? null,
    sizeBytes,
    referencedBytes: referenced.n,
    sparseBytes: Math.max(0, sizeBytes - referenced.n),
    sharedBytes,
    exclusiveBytes,
    reclaimableBytes,
    storedBytes: stored.n,
  };
}

/** Block ranges that differ between two versions (by object), as backy2's diff-meta. */
export function diff(repo: Repository, leftUid: string, rightUid: string): DiffRange[] {
  const meta = repo.meta;
  const left = meta.requireVersion(leftUid);
  const right = meta.requireVersion(rightUid);
  if (left.block_size !== right.block_size) throw new EngineError('INVALID_ARGUMENT', 'versions have different block sizes');
  const a = meta.blockObjects(left.id);
  const b = meta.blockObjects(right.id);
  const ranges: DiffRange[] = [];
  const count = Math.max(a.length, b.length);
  for (let idx = 0; idx < count; idx++) {
    let kind: DiffRange['kind'] | null = null;
    if (idx >= a.length) kind = 'only-right';
    else if (idx >= b.length) kind = 'only-left';
    else if (a[idx] !== b[idx]) kind = 'differ';
    if (!kind) continue;
    const last = ranges[ranges.length - 1];
    if (last && last.kind === kind && last.last === idx - 1) last.last = idx;
    else ranges.push({ first: idx, last: idx, offset: 0, length: 0, kind });
  }
  const bs = left.block_size;
  for (const range of ranges) {
    range.offset = range.first * bs;
    range.length = (range.last - range.first + 1) * bs;
  }
  return ranges;
}

/** One state code per block: sparse, new in this version, dedup, unchanged from base, invalid. */
export function blockMap(repo: Repository, uid: string): BlockMap {
  const meta = repo.meta;
  const version = meta.requireVersion(uid);
  const base = version.base_uid ? meta.getVersion(version.base_uid) : undefined;
  const baseObjects = base ? meta.blockObjects(base.id) : [];
  const rows = meta.sql(
    `SELECT b.idx, b.object_id, o.state, o.created_by FROM blocks b LEFT JOIN objects o ON o.id = b.object_id WHERE b.version_id = ? ORDER BY b.idx`,
  ).raw().all(version.id) as Array<[number, number | null, number | null, number | null]>;
  const states = new Array<number>(Math.ceil(version.size / version.block_size)).fill(BLOCK_STATE_CODES.sparse);
  for (const [idx, objectId, state, createdBy] of rows) {
    if (objectId === null) continue;
    if (state === ObjectState.invalid) states[idx] = BLOCK_STATE_CODES.invalid;
    else if (baseObjects[idx] === objectId) states[idx] = BLOCK_STATE_CODES.base;
    else if (createdBy === version.id) states[idx] = BLOCK_STATE_CODES.new;
    else states[idx] = BLOCK_STATE_CODES.dedup;
  }
  return { uid, blockSize: version.block_size, states };
}
