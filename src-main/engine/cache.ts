// The metadata cache of a repository whose store is not a folder (S3). The bucket describes the
// repository (repository/config, one manifests/<uid> per version, see describe.ts); the SQLite
// file in the state folder (store/state.ts) is a *cache* of it. Opening *rebuilds* the cache
// when it is missing or damaged (the damaged file is moved aside, never deleted), and *syncs* it
// when it is stale: another machine, with its own cache, added, removed or changed versions.
//
// Staleness check: one listing of manifests/ (a LIST request per 1,000 versions). A manifest is
// durable before its version counts as valid and is removed when its version is, so the listing
// is the truth about which versions exist, whatever crashed where; no generation object that a
// crash between two PUTs could leave behind is needed. Each manifest's listing stamp (ETag and
// time) is kept in the cache, so a rewritten manifest (protect, tags) is fetched again and an
// unchanged one is not: a fresh cache costs the listing only. Rebuilds and syncs only read the
// bucket.
import { randomBytes } from 'node:crypto';
import { existsSync, linkSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { EngineError, toEngineError } from './errors';
import { METADATA_FILE } from './format';
import { Metadata, type VersionRow } from './meta/database';
import { decodeManifest, type Manifest } from './meta/manifest';
import { ObjectState, VersionState } from './meta/schema';
import { manifestKeyOf } from './describe';
import { addVersionFromManifest, buildDatabase, moveDatabaseAside, readStoreSettings } from './recover';
import { MANIFEST_PREFIX, type ObjectStore } from './store/index';
import { prepareStateDir } from './store/state';

export interface CacheOptions {
  /** lines for the operator: a rebuild, a sync that changed something, a skipped manifest */
  onNotice?: (line: string) => void;
  signal?: AbortSignal;
}

export interface SyncResult {
  added: string[];
  removed: string[];
  updated: string[];
  damagedManifests: Array<{ key: string; reason: string }>;
}

/** Why an existing cache file cannot be used, or null when it opens as this repository's. */
function openExisting(file: string, id: string): { meta: Metadata } | { damaged: string } {
  let meta: Metadata | undefined;
  try {
    meta = new Metadata(file);
    if ((meta.db.pragma('user_version', { simple: true }) as number) === 0) throw new EngineError('NOT_A_REPOSITORY', 'it holds no Blockvault schema');
    meta.migrate();
    const found = meta.getSetting('id');
    if (found !== id) throw new EngineError('NOT_A_REPOSITORY', `it belongs to repository ${found ?? '(none)'}`);
    meta.listVersions();
    return { meta };
  } catch (error) {
    meta?.close();
    const e = toEngineError(error);
    // A newer release's cache is not damage: it is refused, as a folder repository's would be.
    if (e.code === 'FORMAT_UNSUPPORTED') throw e;
    return { damaged: e.message };
  }
}

/**
 * The repository's cache, rebuilt from the bucket when it is missing or damaged, then synced
 * with the bucket's manifests. `metaKey` opens the manifests of an encrypted repository.
 */
export async function openCache(store: ObjectStore, id: string, metaKey: Buffer | null, options: CacheOptions = {}): Promise<Metadata> {
  const note = options.onNotice ?? (() => undefined);
  const dir = prepareStateDir(id, store.location);
  const file = join(dir, METADATA_FILE);
  let meta: Metadata | null = null;
  if (existsSync(file)) {
    const opened = openExisting(file, id);
    if ('meta' in opened) meta = opened.meta;
    else {
      const moved = moveDatabaseAside(file);
      note(`the local metadata of ${store.location} is damaged (${opened.damaged}); it was moved to ${moved ?? '(moved by another process)'} and is rebuilt from the bucket`);
    }
  } else {
    note(`the local metadata of ${store.location} is missing (${file}); rebuilding it from the bucket`);
  }
  if (meta === null) {
    await rebuildCache(store, metaKey, file, note, options.signal);
    const opened = openExisting(file, id);
    if (!('meta' in opened)) throw new EngineError('INTERNAL', `the rebuilt metadata ${file} does not open: ${opened.damaged}`);
    meta = opened.meta;
  }
  try {
    const synced = await syncCache(meta, store, metaKey, options.signal);
    const changes = [
      synced.added.length ? `${synced.added.length} version(s) added` : '',
      synced.removed.length ? `${synced.removed.length} removed` : '',
      synced.updated.length ? `${synced.updated.length} changed` : '',
    ].filter(Boolean);
    if (changes.length) note(`the local metadata of ${store.location} was behind the bucket (another machine wrote to it): ${changes.join(', ')}`);
    for (const damaged of synced.damagedManifests) note(`warning: ${damaged.key} skipped: ${damaged.reason}`);
    return meta;
  } catch (error) {
    meta.close();
    throw error;
  }
}

/**
 * Builds the cache in a file of its own, then links it into place: a process that opens the
 * repository meanwhile sees no half-built cache, and of two that rebuild at once one wins.
 */
async function rebuildCache(store: ObjectStore, metaKey: Buffer | null, file: string, note: (line: string) => void, signal?: AbortSignal): Promise<void> {
  const started = Date.now();
  const config = await readStoreSettings(store, signal);
  const tmp = `${file}.rebuild-${process.pid}-${randomBytes(4).toString('hex')}`;
  try {
    const built = await buildDatabase(store, config, metaKey, tmp, signal);
    try {
      linkSync(tmp, file);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    note(`rebuilt the local metadata from the bucket: ${built.versions.length} version(s)${built.invalid.length ? `, ${built.invalid.length} invalid (objects missing from the bucket): ${built.invalid.join(', ')}` : ''} in ${((Date.now() - started) / 1000).toFixed(1)} s; scrub reports and the job history of other machines are not in the bucket`);
    for (const damaged of built.damagedManifests) note(`warning: ${damaged.key} skipped: ${damaged.reason}`);
  } finally {
    for (const suffix of ['', '-wal', '-shm']) rmSync(`${tmp}${suffix}`, { force: true });
  }
}

/**
 * Brings the cache up to the bucket's manifests: versions another machine added are added,
 * those it removed are removed, those whose manifest it rewrote get their protection and tags.
 * Versions still being written here (incomplete, no manifest yet) are left alone.
 */
export async function syncCache(meta: Metadata, store: ObjectStore, metaKey: Buffer | null, signal?: AbortSignal): Promise<SyncResult> {
  const result: SyncResult = { added: [], removed: [], updated: [], damagedManifests: [] };
  // The versions are read before the listing: a version valid by then had its manifest durable
  // by then, so one the listing lacks was removed (not one being published right now).
  const versions = new Map(meta.listVersions().map((v) => [manifestKeyOf(v.uid), v]));
  const listed = new Map<string, string>();
  for await (const entry of store.list(MANIFEST_PREFIX, signal)) {
    if (!entry.temporary) listed.set(entry.key, entry.stamp ?? '');
  }
  const known = meta.manifestStamps();
  for (const [key, stamp] of listed) {
    if (stamp !== '' && known.get(key) === stamp) continue;
    let manifest: Manifest;
    try {
      manifest = decodeManifest(await store.get(key, undefined, signal), metaKey, key);
      if (manifestKeyOf(manifest.uid) !== key) throw new EngineError('METADATA_DAMAGED', `it describes version ${manifest.uid}`);
    } catch (error) {
      const e = toEngineError(error);
      if (e.code === 'OBJECT_MISSING') continue; // removed since the listing
      if (e.code === 'CANCELED') throw e;
      result.damagedManifests.push({ key, reason: e.message });
      continue;
    }
    meta.transaction(() => {
      const current = meta.getVersion(manifest.uid);
      if (!current) {
        addVersionFromManifest(meta, manifest);
        result.added.push(manifest.uid);
      } else if (current.state !== VersionState.incomplete && applyManifestFields(meta, current, manifest)) {
        result.updated.push(manifest.uid);
      }
      if (stamp !== '') meta.setManifestStamp(key, stamp);
    });
  }
  meta.transaction(() => {
    for (const [key, version] of versions) {
      if (listed.has(key) || version.state === VersionState.incomplete) continue;
      const current = meta.getVersion(version.uid);
      if (!current || current.state === VersionState.incomplete) continue;
      // Objects only this version used may be deleted by the other machine's cleanup at any
      // time now: they become `pending`, so a backup here stores them again instead of
      // deduplicating onto a name the bucket may no longer hold.
      meta.sql(
        `UPDATE objects SET state = ${ObjectState.pending} WHERE state = ${ObjectState.live}
           AND id IN (SELECT object_id FROM blocks WHERE version_id = ?)
           AND NOT EXISTS (SELECT 1 FROM blocks b WHERE b.object_id = objects.id AND b.version_id != ?)`,
      ).run(current.id, current.id);
      meta.deleteVersion(current.id, Date.now());
      result.removed.push(version.uid);
    }
    for (const key of known.keys()) if (!listed.has(key)) meta.forgetManifestStamp(key);
  });
  return result;
}

/** Protection and tags as the manifest has them; whether anything changed. */
function applyManifestFields(meta: Metadata, version: VersionRow, manifest: Manifest): boolean {
  let changed = false;
  if ((version.protected === 1) !== manifest.protected) {
    meta.setProtected(version.id, manifest.protected);
    changed = true;
  }
  const tags = new Set(version.tags ? version.tags.split(',') : []);
  for (const tag of manifest.tags) {
    if (!tags.delete(tag)) {
      meta.addTag(version.id, tag);
      changed = true;
    }
  }
  for (const tag of tags) {
    meta.removeTag(version.id, tag);
    changed = true;
  }
  return changed;
}
