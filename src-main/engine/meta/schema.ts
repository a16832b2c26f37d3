// Metadata schema (SQLite). Nouns: a *version* is one backup of one source; its *blocks*
// map block index -> *object* (NULL object = sparse, all zero); an object is stored data
// named by its digest; *stats* keep one row per backup run, *scrubs* one report per scrub
// of a version; *locks* coordinate processes on one host; *settings* hold the repository's
// fixed parameters. Migrations are only ever appended.

export const ObjectState = { pending: 0, live: 1, invalid: 2, deleting: 3 } as const;
export type ObjectStateId = (typeof ObjectState)[keyof typeof ObjectState];

export const VersionState = { incomplete: 0, valid: 1, invalid: 2 } as const;
export type VersionStateId = (typeof VersionState)[keyof typeof VersionState];

/** Each entry upgrades the schema by one step; user_version counts the steps applied. */
export const MIGRATIONS: readonly string[] = [
  `
  CREATE TABLE settings (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
  ) WITHOUT ROWID;

  CREATE TABLE objects (
    id INTEGER PRIMARY KEY,
    digest BLOB NOT NULL UNIQUE,
    stored_size INTEGER NOT NULL DEFAULT 0,
    length INTEGER NOT NULL,
    state INTEGER NOT NULL,
    created_by INTEGER,
    last_used INTEGER NOT NULL
  );

  CREATE TABLE versions (
    id INTEGER PRIMARY KEY,
    uid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    snapshot TEXT NOT NULL DEFAULT '',
    date INTEGER NOT NULL,
    size INTEGER NOT NULL,
    block_size INTEGER NOT NULL,
    state INTEGER NOT NULL,
    protected INTEGER NOT NULL DEFAULT 0,
    base_uid TEXT,
    source TEXT NOT NULL DEFAULT ''
  );
  CREATE INDEX versions_by_name ON versions(name, date);

  CREATE TABLE tags (
    version_id INTEGER NOT NULL,
    tag TEXT NOT NULL,
    PRIMARY KEY (version_id, tag)
  ) WITHOUT ROWID;

  CREATE TABLE blocks (
    version_id INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    object_id INTEGER,
    PRIMARY KEY (version_id, idx)
  ) WITHOUT ROWID;
  CREATE INDEX blocks_by_object ON blocks(object_id) WHERE object_id IS NOT NULL;

  CREATE TABLE stats (
    id INTEGER PRIMARY KEY,
    date INTEGER NOT NULL,
    version_uid TEXT NOT NULL,
    version_name TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    size_blocks INTEGER NOT NULL,
    bytes_read INTEGER NOT NULL,
    blocks_read INTEGER NOT NULL,
    bytes_written INTEGER NOT NULL,
    blocks_written INTEGER NOT NULL,
    bytes_stored INTEGER NOT NULL,
    bytes_dedup INTEGER NOT NULL,
    blocks_dedup INTEGER NOT NULL,
    bytes_sparse INTEGER NOT NULL,
    blocks_sparse INTEGER NOT NULL,
    blocks_from_base INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL
  );
  CREATE INDEX stats_by_version ON stats(version_uid);

  CREATE TABLE scrubs (
    id INTEGER PRIMARY KEY,
    version_uid TEXT NOT NULL,
    date INTEGER NOT NULL,
    duration_ms INTEGER NOT NULL,
    mode TEXT NOT NULL,
    percent INTEGER NOT NULL,
    blocks_total INTEGER NOT NULL,
    blocks_checked INTEGER NOT NULL,
    blocks_ok INTEGER NOT NULL,
    blocks_invalid INTEGER NOT NULL,
    blocks_missing INTEGER NOT NULL,
    blocks_mismatch INTEGER NOT NULL,
    problems TEXT NOT NULL
  );
  CREATE INDEX scrubs_by_version ON scrubs(version_uid, date);

  CREATE TABLE locks (
    name TEXT PRIMARY KEY,
    mode TEXT NOT NULL,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    since INTEGER NOT NULL,
    reason TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
  // 2: job history of the GUI, web mode and CLI (src-main/jobs). `pid` and `host` name the
  // process that runs a job, so another process can tell a live job from an interrupted one.
  `
  CREATE TABLE jobs (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    state TEXT NOT NULL,
    title TEXT NOT NULL,
    params TEXT NOT NULL,
    progress TEXT,
    result TEXT,
    error TEXT,
    logs TEXT NOT NULL DEFAULT '[]',
    created INTEGER NOT NULL,
    started INTEGER,
    ended INTEGER,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL
  ) WITHOUT ROWID;
  CREATE INDEX jobs_by_created ON jobs(created);
  `,
  // 3: the digest of each version's block list (format.ts BLOCK_LIST_*). NULL = not yet known:
  // Metadata.migrate computes it for the versions an older release wrote (see README).
  `
  ALTER TABLE versions ADD COLUMN block_list_digest BLOB;
  `,
  // 4: per-version notes (the GUI's comments, like PBS's), keyed by the version's UID; a
  // metadata export carries them as an optional "note" field of the version line.
  `
  CREATE TABLE version_notes (
    uid TEXT PRIMARY KEY,
    note TEXT NOT NULL,
    updated INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 5: policies (engine/meta/policies.ts): what runs on its own. `body` is the policy as JSON
  // (src-shared/api/policy.ts); `policy_runs` is the scheduler's record of each policy's last
  // run; `schedulers` names the processes that run this repository's schedules (one at most).
  `
  CREATE TABLE policies (
    name TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    created INTEGER NOT NULL,
    updated INTEGER NOT NULL
  ) WITHOUT ROWID;
  CREATE TABLE policy_runs (
    name TEXT PRIMARY KEY,
    last_slot INTEGER,
    last_job TEXT,
    last_state TEXT,
    last_ended INTEGER,
    last_error TEXT
  ) WITHOUT ROWID;
  CREATE TABLE schedulers (
    id TEXT PRIMARY KEY,
    pid INTEGER NOT NULL,
    host TEXT NOT NULL,
    mode TEXT NOT NULL,
    since INTEGER NOT NULL
  ) WITHOUT ROWID;
  `,
  // 6: an S3 repository's metadata is a cache of its bucket (engine/cache.ts): the stamp (ETag)
  // of each manifest as the cache last read it, so opening fetches only the manifests that
  // another machine added or rewrote since.
  `
  CREATE TABLE store_manifests (
    key TEXT PRIMARY KEY,
    stamp TEXT NOT NULL
  ) WITHOUT ROWID;
  `,
];
