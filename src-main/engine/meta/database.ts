// Metadata store over SQLite (better-sqlite3, WAL). Nouns as in schema.ts. Every query the
// engine runs lives here, prepared once; callers see plain rows, never SQL.
import Database from 'better-sqlite3';
import { hostname } from 'node:os';
import { EngineError } from '../errors';
import { BlockListHasher, blockListDamaged, hashingRows } from './blocklist';
import { MIGRATIONS, ObjectState, VersionState, type ObjectStateId, type VersionStateId } from './schema';

export interface VersionRow {
  id: number;
  uid: string;
  name: string;
  snapshot: string;
  date: number;
  size: number;
  block_size: number;
  state: VersionStateId;
  protected: number;
  base_uid: string | null;
  source: string;
  tags: string | null;
  /** digest of the block list (format.ts BLOCK_LIST_*); null = unknown */
  block_list_digest: Buffer | null;
}

export interface ObjectRow {
  id: number;
  digest: Buffer;
  stored_size: number;
  length: number;
  state: ObjectStateId;
  created_by: number | null;
  last_used: number;
}

export interface BlockRow {
  idx: number;
  object_id: number | null;
  digest: Buffer | null;
  stored_size: number | null;
  length: number | null;
  object_state: ObjectStateId | null;
  created_by: number | null;
}

export interface StatsRow {
  date: number;
  version_uid: string;
  version_name: string;
  size_bytes: number;
  size_blocks: number;
  bytes_read: number;
  blocks_read: number;
  bytes_written: number;
  blocks_written: number;
  bytes_stored: number;
  bytes_dedup: number;
  blocks_dedup: number;
  bytes_sparse: number;
  blocks_sparse: number;
  blocks_from_base: number;
  duration_ms: number;
}

export interface ScrubRow {
  id: number;
  version_uid: string;
  date: number;
  duration_ms: number;
  mode: string;
  percent: number;
  blocks_total: number;
  blocks_checked: number;
  blocks_ok: number;
  blocks_invalid: number;
  blocks_missing: number;
  blocks_mismatch: number;
  problems: string;
}

export interface VersionFilter {
  name?: string;
  snapshot?: string;
  tag?: string;
}

export interface LockRow {
  name: string;
  mode: string;
  pid: number;
  host: string;
  since: number;
  reason: string;
}

const VERSION_COLUMNS = `v.id, v.uid, v.name, v.snapshot, v.date, v.size, v.block_size, v.state, v.protected, v.base_uid, v.source, v.block_list_digest,
  (SELECT group_concat(tag, ',') FROM (SELECT tag FROM tags t WHERE t.version_id = v.id ORDER BY tag)) AS tags`;

/** Whether a process of this host is alive (a lock or job of a dead one is stale). */
export function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** settings key: the highest version id ever given (ids are never reused) */
const LAST_VERSION_ID = 'last_version_id';

/** read locks taken by this process (their names must differ) */
let readLocks = 0;

export class Metadata {
  readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();

  constructor(file: string, options: { create?: boolean; readonly?: boolean } = {}) {
    try {
      this.db = new Database(file, { fileMustExist: !options.create, readonly: options.readonly ?? false });
    } catch (error) {
      throw new EngineError('NOT_A_REPOSITORY', `cannot open metadata ${file}: ${(error as Error).message}; if it was lost or damaged, rebuild it from the store with "blockvault recover REPOSITORY"`, { cause: error });
    }
    this.db.pragma('busy_timeout = 20000');
    if (!options.readonly) {
      this.db.pragma('journal_mode = WAL');
      this.db.pragma('synchronous = NORMAL');
    }
  }

  /** Applies pending migrations; refuses a schema newer than this release knows. */
  migrate(): void {
    const current = this.db.pragma('user_version', { simple: true }) as number;
    if (current > MIGRATIONS.length) {
      throw new EngineError('FORMAT_UNSUPPORTED', `metadata schema ${current} is newer than this release supports (${MIGRATIONS.length})`);
    }
    for (let step = current; step < MIGRATIONS.length; step++) {
      this.db.transaction(() => {
        this.db.exec(MIGRATIONS[step]);
        this.db.pragma(`user_version = ${step + 1}`);
      }).immediate();
    }
    // Versions written before block-list digests existed get theirs on this first open: the
    // rows are trusted as they are now (README, "Block-list digests").
    const digestStep = MIGRATIONS.findIndex((step) => step.includes('block_list_digest'));
    if (current <= digestStep) {
      const rows = this.db.prepare(`SELECT id FROM versions WHERE block_list_digest IS NULL AND state != ${VersionState.incomplete}`).all() as Array<{ id: number }>;
      const set = this.db.prepare('UPDATE versions SET block_list_digest = ? WHERE id = ?');
      this.transaction(() => {
        for (const row of rows) {
          const digest = this.computeBlockListDigest(row.id);
          if (digest) set.run(digest, row.id); // damaged rows stay unknown: restore and scrub refuse them
        }
      });
    }
  }

  close(): void {
    this.db.close();
  }

  /** A prepared statement, cached by its SQL text. */
  sql(text: string): Database.Statement {
    let statement = this.statements.get(text);
    if (!statement) {
      statement = this.db.prepare(text);
      this.statements.set(text, statement);
    }
    return statement;
  }

  transaction<T>(body: () => T): T {
    return this.db.transaction(body).immediate();
  }

  /** Commits with a full fsync of the WAL: everything committed before is durable after. */
  durableTransaction<T>(body: () => T): T {
    this.db.pragma('synchronous = FULL');
    try {
      return this.transaction(body);
    } finally {
      this.db.pragma('synchronous = NORMAL');
    }
  }

  // ---- settings
  getSetting(key: string): string | undefined {
    const row = this.sql('SELECT value FROM settings WHERE key = ?').get(key) as { value: string } | undefined;
    return row?.value;
  }

  setSetting(key: string, value: string): void {
    this.sql('INSERT INTO settings(key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value').run(key, value);
  }

  // ---- versions
  /**
   * A new version row. Its id is never one a removed version had: SQLite would give the
   * highest id again once that row is gone, and a job still holding the removed version's id
   * (a scrub marking it, a backup reading its base's rows) would then act on another version.
   * The highest id ever given is kept in settings (`last_version_id`).
   */
  createVersion(v: { uid: string; name: string; snapshot: string; date: number; size: number; blockSize: number; baseUid: string | null; source: string; state?: VersionStateId; protected?: boolean }): number {
    const insert = (): number => {
      const highest = (this.sql('SELECT COALESCE(MAX(id), 0) AS id FROM versions').get() as { id: number }).id;
      const id = Math.max(highest, Number(this.getSetting(LAST_VERSION_ID) ?? 0)) + 1;
      this.sql(
        `INSERT INTO versions(id, uid, name, snapshot, date, size, block_size, state, protected, base_uid, source)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
      ).run(id, v.uid, v.name, v.snapshot, v.date, v.size, v.blockSize, v.state ?? VersionState.incomplete, v.protected ? 1 : 0, v.baseUid, v.source);
      this.setSetting(LAST_VERSION_ID, String(id));
      return id;
    };
    return this.db.inTransaction ? insert() : this.transaction(insert);
  }

  getVersion(uid: string): VersionRow | undefined {
    return this.sql(`SELECT ${VERSION_COLUMNS} FROM versions v WHERE v.uid = ?`).get(uid) as VersionRow | undefined;
  }

  requireVersion(uid: string): VersionRow {
    const version = this.getVersion(uid);
    if (!version) throw new EngineError('NOT_FOUND', `version ${uid} not found`);
    return version;
  }

  listVersions(filter: VersionFilter = {}): VersionRow[] {
    const where: string[] = [];
    const args: unknown[] = [];
    if (filter.name !== undefined) { where.push('v.name = ?'); args.push(filter.name); }
    if (filter.snapshot !== undefined) { where.push('v.snapshot = ?'); args.push(filter.snapshot); }
    if (filter.tag !== undefined) { where.push('EXISTS (SELECT 1 FROM tags t WHERE t.version_id = v.id AND t.tag = ?)'); args.push(filter.tag); }
    const clause = where.length ? `WHERE ${where.join(' AND ')}` : '';
    return this.sql(`SELECT ${VERSION_COLUMNS} FROM versions v ${clause} ORDER BY v.date, v.id`).all(...args) as VersionRow[];
  }

  /** The newest valid version of a name, for incremental backups. */
  latestValidVersion(name: string): VersionRow | undefined {
    return this.sql(`SELECT ${VERSION_COLUMNS} FROM versions v WHERE v.name = ? AND v.state = ${VersionState.valid} ORDER BY v.date DESC, v.id DESC LIMIT 1`).get(name) as VersionRow | undefined;
  }

  setVersionState(versionId: number, state: VersionStateId): void {
    this.sql('UPDATE versions SET state = ? WHERE id = ?').run(state, versionId);
  }

  setVersionSize(versionId: number, size: number): void {
    this.sql('UPDATE versions SET size = ? WHERE id = ?').run(size, versionId);
  }

  /** Notes of every version that has one, by UID. */
  notes(): Map<string, string> {
    const rows = this.sql('SELECT uid, note FROM version_notes').all() as Array<{ uid: string; note: string }>;
    return new Map(rows.map((row) => [row.uid, row.note]));
  }

  note(uid: string): string | undefined {
    return (this.sql('SELECT note FROM version_notes WHERE uid = ?').get(uid) as { note: string } | undefined)?.note;
  }

  /** Sets a version's note; an empty note removes it. */
  setNote(uid: string, note: string): void {
    if (note === '') this.sql('DELETE FROM version_notes WHERE uid = ?').run(uid);
    else this.sql('INSERT INTO version_notes(uid, note, updated) VALUES (?, ?, ?) ON CONFLICT(uid) DO UPDATE SET note = excluded.note, updated = excluded.updated').run(uid, note, Date.now());
  }

  setProtected(versionId: number, value: boolean): void {
    this.sql('UPDATE versions SET protected = ? WHERE id = ?').run(value ? 1 : 0, versionId);
  }

  addTag(versionId: number, tag: string): void {
    this.sql('INSERT OR IGNORE INTO tags(version_id, tag) VALUES (?, ?)').run(versionId, tag);
  }

  removeTag(versionId: number, tag: string): boolean {
    return this.sql('DELETE FROM tags WHERE version_id = ? AND tag = ?').run(versionId, tag).changes > 0;
  }

  /** Deletes a version, its blocks and tags; its objects start their cleanup grace period now. */
  deleteVersion(versionId: number, now: number): void {
    this.transaction(() => {
      this.sql(`UPDATE objects SET last_used = ? WHERE id IN (SELECT object_id FROM blocks WHERE version_id = ? AND object_id IS NOT NULL)`).run(now, versionId);
      this.sql('DELETE FROM blocks WHERE version_id = ?').run(versionId);
      this.sql('DELETE FROM tags WHERE version_id = ?').run(versionId);
      this.sql('DELETE FROM versions WHERE id = ?').run(versionId);
    });
  }

  // ---- block lists
  /** The digest of a version's block list as its rows are now; null when the rows are damaged. */
  computeBlockListDigest(versionId: number): Buffer | null {
    const version = this.sql('SELECT uid, size, block_size FROM versions WHERE id = ?').get(versionId) as { uid: string; size: number; block_size: number } | undefined;
    if (!version) throw new EngineError('NOT_FOUND', `version #${versionId} not found`);
    const hasher = new BlockListHasher({ uid: version.uid, size: version.size, blockSize: version.block_size });
    for (const row of this.iterateBlocks(versionId)) hasher.add(row.idx, row.object_id, row.digest);
    return hasher.digest();
  }

  /**
   * Records the digest of a version's block list once all its rows are written: the one way
   * every writer of block rows (backup, import, copy, recover) seals a version.
   */
  sealBlockList(versionId: number): Buffer {
    const digest = this.computeBlockListDigest(versionId);
    if (!digest) throw new EngineError('INTERNAL', `version #${versionId}: its block rows are incomplete or point at unknown objects; it cannot be sealed`);
    this.sql('UPDATE versions SET block_list_digest = ? WHERE id = ?').run(digest, versionId);
    return digest;
  }

  /**
   * The version as it is now, its block rows intact: the rows hash to the digest sealed with
   * them (unknown digest: well formed). Every reader that passes a version's blocks on (an
   * incremental's base, export, copy, serving it over NBD) checks this, as restore and scrub
   * do, so damaged rows are refused rather than handed on as the version's. Call inside a
   * transaction with the reads it guards; `computeBlockListDigest` pages through the rows.
   */
  requireIntactBlockList(version: Pick<VersionRow, 'id' | 'uid'>): VersionRow {
    const current = this.versionStill(version);
    const digest = this.computeBlockListDigest(current.id);
    if (!digest || (current.block_list_digest && !digest.equals(current.block_list_digest))) throw blockListDamaged(current.uid);
    return current;
  }

  /**
   * A version as it is now and all its block rows, read in one snapshot and checked as
   * `requireIntactBlockList` does.
   */
  intactBlocks(version: Pick<VersionRow, 'id' | 'uid'>): { version: VersionRow; rows: BlockRow[] } {
    return this.db.transaction(() => {
      const current = this.versionStill(version);
      const list = hashingRows({ uid: current.uid, size: current.size, blockSize: current.block_size }, this.iterateBlocks(current.id));
      const rows = [...list.rows];
      if (!list.matches(current.block_list_digest)) throw blockListDamaged(current.uid);
      return { version: current, rows };
    })();
  }

  /** The version read earlier, as it is now (by its id, never given twice); NOT_FOUND once removed. */
  private versionStill(version: Pick<VersionRow, 'id' | 'uid'>): VersionRow {
    const current = this.sql(`SELECT ${VERSION_COLUMNS} FROM versions v WHERE v.id = ?`).get(version.id) as VersionRow | undefined;
    if (!current) throw new EngineError('NOT_FOUND', `version ${version.uid} not found: it was removed`);
    return current;
  }

  // ---- blocks
  blockCount(versionId: number): number {
    return (this.sql('SELECT count(*) AS n FROM blocks WHERE version_id = ?').get(versionId) as { n: number }).n;
  }

  /** All blocks of a version in index order, with their objects. */
  blocks(versionId: number): BlockRow[] {
    return this.sql(
      `SELECT b.idx, b.object_id, o.digest, o.stored_size, o.length, o.state AS object_state, o.created_by
       FROM blocks b LEFT JOIN objects o ON o.id = b.object_id WHERE b.version_id = ? ORDER BY b.idx`,
    ).all(versionId) as BlockRow[];
  }

  /** Blocks of a version from index `from` on, in pages, so memory does not grow with the version. */
  *iterateBlocks(versionId: number, pageSize = 4096): Generator<BlockRow> {
    const page = this.sql(
      `SELECT b.idx, b.object_id, o.digest, o.stored_size, o.length, o.state AS object_state, o.created_by
       FROM blocks b LEFT JOIN objects o ON o.id = b.object_id WHERE b.version_id = ? AND b.idx >= ? ORDER BY b.idx LIMIT ?`,
    );
    let from = 0;
    for (;;) {
      const rows = page.all(versionId, from, pageSize) as BlockRow[];
      yield* rows;
      if (rows.length < pageSize) return;
      from = rows[rows.length - 1].idx + 1;
    }
  }

  /** Block index -> object id (null for sparse) of a version, for incremental backups and diff. */
  blockObjects(versionId: number): Array<number | null> {
    const rows = this.sql('SELECT idx, object_id FROM blocks WHERE version_id = ? ORDER BY idx').raw().all(versionId) as Array<[number, number | null]>;
    const result: Array<number | null> = [];
    for (const [idx, objectId] of rows) result[idx] = objectId;
    return result;
  }

  /**
   * Objects that a version references from more than one block, with those blocks' indexes
   * in order: a restore reads and verifies such an object once and writes it everywhere.
   */
  repeatedObjects(versionId: number): Map<number, number[]> {
    const rows = this.sql(
      `SELECT object_id, idx FROM blocks WHERE version_id = ? AND object_id IN (
         SELECT object_id FROM blocks WHERE version_id = ? AND object_id IS NOT NULL GROUP BY object_id HAVING COUNT(*) > 1)
       ORDER BY object_id, idx`,
    ).raw().all(versionId, versionId) as Array<[number, number]>;
    const result = new Map<number, number[]>();
    for (const [objectId, idx] of rows) {
      const list = result.get(objectId);
      if (list) list.push(idx);
      else result.set(objectId, [idx]);
    }
    return result;
  }

  insertBlocks(versionId: number, rows: ReadonlyArray<readonly [number, number | null]>): void {
    const insert = this.sql('INSERT OR REPLACE INTO blocks(version_id, idx, object_id) VALUES (?, ?, ?)');
    this.transaction(() => {
      for (const [idx, objectId] of rows) insert.run(versionId, idx, objectId);
    });
  }

  // ---- objects
  objectByDigest(digest: Buffer): ObjectRow | undefined {
    return this.sql('SELECT * FROM objects WHERE digest = ?').get(digest) as ObjectRow | undefined;
  }

  objectById(id: number): ObjectRow | undefined {
    return this.sql('SELECT * FROM objects WHERE id = ?').get(id) as ObjectRow | undefined;
  }

  insertObject(digest: Buffer, length: number, state: ObjectStateId, createdBy: number | null, now: number, storedSize = 0): number | null {
    const result = this.sql(
      'INSERT INTO objects(digest, stored_size, length, state, created_by, last_used) VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT(digest) DO NOTHING',
    ).run(digest, storedSize, length, state, createdBy, now);
    return result.changes === 1 ? Number(result.lastInsertRowid) : null;
  }

  /** Moves an object from one state to another; false when it was not in `from` any more. */
  transitionObject(id: number, from: readonly ObjectStateId[], to: ObjectStateId, now: number): boolean {
    return this.sql(`UPDATE objects SET state = ?, last_used = ? WHERE id = ? AND state IN (${from.join(',')})`).run(to, now, id).changes === 1;
  }

  touchObject(id: number, now: number): boolean {
    return this.sql(`UPDATE objects SET last_used = ? WHERE id = ? AND state IN (${ObjectState.live}, ${ObjectState.pending})`).run(now, id).changes === 1;
  }

  markObjectsLive(rows: ReadonlyArray<{ id: number; storedSize: number }>, now: number): void {
    const update = this.sql(`UPDATE objects SET state = ${ObjectState.live}, stored_size = ?, last_used = ? WHERE id = ?`);
    this.transaction(() => {
      for (const row of rows) update.run(row.storedSize, now, row.id);
    });
  }

  /** Marks objects invalid and every version that references one of them invalid. */
  invalidateObjects(ids: readonly number[]): string[] {
    if (ids.length === 0) return [];
    return this.transaction(() => {
      const affected = new Set<string>();
      const mark = this.sql(`UPDATE objects SET state = ${ObjectState.invalid} WHERE id = ? AND state != ${ObjectState.deleting}`);
      const versions = this.sql('SELECT DISTINCT v.id, v.uid FROM blocks b JOIN versions v ON v.id = b.version_id WHERE b.object_id = ?');
      const markVersion = this.sql(`UPDATE versions SET state = ${VersionState.invalid} WHERE id = ? AND state = ${VersionState.valid}`);
      for (const id of ids) {
        mark.run(id);
        for (const row of versions.all(id) as Array<{ id: number; uid: string }>) {
          markVersion.run(row.id);
          affected.add(row.uid);
        }
      }
      return [...affected];
    });
  }

  // ---- stats
  insertStats(row: StatsRow): void {
    this.sql(
      `INSERT INTO stats(date, version_uid, version_name, size_bytes, size_blocks, bytes_read, blocks_read, bytes_written, blocks_written,
        bytes_stored, bytes_dedup, blocks_dedup, bytes_sparse, blocks_sparse, blocks_from_base, duration_ms)
       VALUES (@date, @version_uid, @version_name, @size_bytes, @size_blocks, @bytes_read, @blocks_read, @bytes_written, @blocks_written,
        @bytes_stored, @bytes_dedup, @blocks_dedup, @bytes_sparse, @blocks_sparse, @blocks_from_base, @duration_ms)`,
    ).run(row);
  }

  listStats(uid: string | undefined, limit: number | undefined): StatsRow[] {
    const where = uid ? 'WHERE version_uid = ?' : '';
    const args: unknown[] = uid ? [uid] : [];
    const rows = this.sql(`SELECT * FROM stats ${where} ORDER BY date DESC, id DESC LIMIT ?`).all(...args, limit ?? -1) as StatsRow[];
    return rows.reverse();
  }

  // ---- scrubs
  insertScrub(row: Omit<ScrubRow, 'id'>): number {
    return Number(this.sql(
      `INSERT INTO scrubs(version_uid, date, duration_ms, mode, percent, blocks_total, blocks_checked, blocks_ok, blocks_invalid, blocks_missing, blocks_mismatch, problems)
       VALUES (@version_uid, @date, @duration_ms, @mode, @percent, @blocks_total, @blocks_checked, @blocks_ok, @blocks_invalid, @blocks_missing, @blocks_mismatch, @problems)`,
    ).run(row).lastInsertRowid);
  }

  scrubs(uid: string): ScrubRow[] {
    return this.sql('SELECT * FROM scrubs WHERE version_uid = ? ORDER BY date DESC, id DESC').all(uid) as ScrubRow[];
  }

  // ---- locks (one host: a lock whose process is gone is stale and is taken over)
  /**
   * Takes a lock. `shared` locks coexist with each other; an `exclusive` lock (name
   * "repository") excludes every other lock. Throws LOCKED with who holds it.
   */
  acquireLock(name: string, mode: 'shared' | 'exclusive', reason: string): void {
    const host = hostname();
    this.transaction(() => {
      const rows = this.sql('SELECT * FROM locks').all() as LockRow[];
      for (const row of rows) {
        if (row.host === host && !processAlive(row.pid)) {
          this.sql('DELETE FROM locks WHERE name = ?').run(row.name);
          continue;
        }
        if (row.name === name || row.mode === 'exclusive' || mode === 'exclusive') {
          throw new EngineError('LOCKED', `repository is busy: ${row.reason} (pid ${row.pid} on ${row.host} since ${new Date(row.since).toISOString()})`);
        }
      }
      this.sql('INSERT INTO locks(name, mode, pid, host, since, reason) VALUES (?, ?, ?, ?, ?, ?)').run(name, mode, process.pid, host, Date.now(), reason);
    });
  }

  releaseLock(name: string): void {
    this.sql('DELETE FROM locks WHERE name = ? AND pid = ?').run(name, process.pid);
  }

  /**
   * Path locks: a backup holds `read` on its source, a restore `write` on its target, each
   * under every identity of the path (see pipeline/path-locks.ts). A write conflicts with any
   * live lock on the same identity, a read with a write. Throws LOCKED naming the holder;
   * returns the row names to release. Stale rows of dead processes are taken over.
   */
  acquirePathLocks(kind: 'read' | 'write', identities: readonly string[], owner: string, reason: string): string[] {
    const host = hostname();
    return this.transaction(() => {
      const rows = this.sql(`SELECT * FROM locks WHERE name LIKE 'path:%'`).all() as LockRow[];
      for (const row of rows) {
        if (row.host === host && !processAlive(row.pid)) {
          this.sql('DELETE FROM locks WHERE name = ?').run(row.name);
          continue;
        }
        const [, rowKind, ...rest] = row.name.split(':');
        const rowIdentity = rest.slice(0, -1).join(':');
        if (!identities.includes(rowIdentity) || (kind === 'read' && rowKind === 'read')) continue;
        throw new EngineError('LOCKED', `${reason} refused: ${rowKind === 'write' ? 'a running job writes' : 'a running job reads'} the same ${rowIdentity.startsWith('device:') ? 'device' : 'file'}: ${row.reason} (pid ${row.pid} on ${row.host} since ${new Date(row.since).toISOString()})`);
      }
      const names = identities.map((identity) => `path:${kind}:${identity}:${owner}`);
      const insert = this.sql('INSERT INTO locks(name, mode, pid, host, since, reason) VALUES (?, ?, ?, ?, ?, ?)');
      for (const name of names) insert.run(name, 'shared', process.pid, host, Date.now(), reason);
      return names;
    });
  }

  releasePathLocks(names: readonly string[]): void {
    const remove = this.sql('DELETE FROM locks WHERE name = ? AND pid = ?');
    for (const name of names) remove.run(name, process.pid);
  }

  /** Live locks of cleanups (fast `cleanup:PID` or the full cleanup's exclusive lock). */
  liveCleanupLocks(): LockRow[] {
    return this.liveLocks().filter((lock) => lock.name.startsWith('cleanup:') || (lock.name === 'repository' && lock.reason === 'full cleanup'));
  }

  /**
   * Takes back an object marked `deleting` by a cleanup that is gone (killed or crashed):
   * when no cleanup runs, the mark is stale and the object becomes `pending`, so the caller
   * writes it again (its file may already be deleted). In one transaction with the check,
   * so a cleanup starting now sees a pending, freshly used object and leaves it. Returns the
   * live cleanup locks when the mark is not stale (nothing changed then).
   */
  reclaimDeletingObject(id: number, now: number): LockRow[] {
    return this.transaction(() => {
      const cleanups = this.liveCleanupLocks();
      if (cleanups.length === 0) this.transitionObject(id, [ObjectState.deleting], ObjectState.pending, now);
      return cleanups;
    });
  }

  /**
   * A shared lock that keeps a version from being removed while a job reads it (a copy from
   * it, a serving of it over NBD); returns the name to release.
   */
  acquireVersionReadLock(uid: string, reason: string): string {
    const name = `read:${uid}:${process.pid}:${Date.now()}:${++readLocks}`;
    this.acquireLock(name, 'shared', reason);
    return name;
  }

  /**
   * Locks of the live jobs that use a version: its backup or import (`backup:UID`), a copy
   * into this repository (`copy:UID:PID`), a restore (`restore:UID:…`), a copy from it or a
   * serving of it (`read:UID:…`). rm and prune refuse to remove it while one is live.
   */
  versionUsers(uid: string): LockRow[] {
    return this.liveLocks().filter((lock) => lock.name === `backup:${uid}` || ['copy', 'restore', 'read'].some((kind) => lock.name.startsWith(`${kind}:${uid}:`)));
  }

  /** Locks held by live processes (stale ones are ignored). */
  liveLocks(): LockRow[] {
    const host = hostname();
    return (this.sql('SELECT * FROM locks').all() as LockRow[]).filter((row) => row.host !== host || processAlive(row.pid));
  }

  // ---- the bucket's manifests as an S3 repository's cache last read them (engine/cache.ts)
  manifestStamps(): Map<string, string> {
    return new Map((this.sql('SELECT key, stamp FROM store_manifests').all() as Array<{ key: string; stamp: string }>).map((row) => [row.key, row.stamp]));
  }

  setManifestStamp(key: string, stamp: string): void {
    this.sql('INSERT INTO store_manifests(key, stamp) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET stamp = excluded.stamp').run(key, stamp);
  }

  forgetManifestStamp(key: string): void {
    this.sql('DELETE FROM store_manifests WHERE key = ?').run(key);
  }
}
