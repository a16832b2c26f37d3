// Recover: rebuild a repository's metadata database from its store alone (repository/config
// and manifests/<uid>, see describe.ts), and restore one version straight from its manifest
// without any database. Nouns: the *damaged* database is moved aside, never deleted; what the
// store does not hold (scrub reports, backup statistics, job history) is *lost* and said so.
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { existsSync, renameSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RestoreResult } from '../../src-shared/model';
import { deriveSubKeys, unwrapMasterKey, type Credentials } from './codec/keys';
import { ObjectCodec, alignedBuffer, parseCompression } from './codec/object';
import { EngineError, throwIfAborted, toEngineError } from './errors';
import { HASH_ALGORITHM, METADATA_FILE, REPOSITORY_CONFIG_KEY } from './format';
import { openTarget } from './io/index';
import { Metadata } from './meta/database';
import { decodeManifest, decodeRepositoryConfig, manifestBlocks, type Manifest, type RepositoryConfigBody } from './meta/manifest';
import { ObjectState, VersionState } from './meta/schema';
import { manifestKeyOf } from './describe';
import { writeRepositoryConfigFile } from './repository';
import { MANIFEST_PREFIX, objectDigest, objectKey, OBJECT_PREFIX, openStore, type ObjectStore } from './store/index';
import type { S3Spec } from './store/s3';
import { prepareStateDir } from './store/state';

export interface RecoverResult {
  path: string;
  versions: string[];
  /** recovered, but objects they reference are missing from the store */
  invalid: string[];
  /** manifests that could not be read (damaged, or of another key) */
  damagedManifests: Array<{ key: string; reason: string }>;
  /** where the old database was moved, if there was one */
  movedAside: string | null;
  /** the repository file (blockvault.json) was written again from the store */
  configFileRestored: boolean;
  lost: string;
}

interface Opened {
  /** the folder repository's root; null for a store that is not a folder (S3) */
  root: string | null;
  store: ObjectStore;
  config: RepositoryConfigBody;
  metaKey: Buffer | null;
  codec: ObjectCodec;
  nameKey: Buffer | null;
}

/** Where a repository is: a folder path, or the spec of its S3 store. */
export type StoreWhere = string | S3Spec;

/** The settings and key slots the store holds (`repository/config`), checksummed. */
export async function readStoreSettings(store: ObjectStore, signal?: AbortSignal): Promise<RepositoryConfigBody> {
  let data: Buffer;
  try {
    data = await store.get(REPOSITORY_CONFIG_KEY, undefined, signal);
  } catch (error) {
    const e = toEngineError(error);
    if (e.code === 'OBJECT_MISSING' || e.code === 'NOT_FOUND') throw new EngineError('NOT_A_REPOSITORY', `${store.location} holds no ${REPOSITORY_CONFIG_KEY}: it is not a Blockvault repository, or one made before the store described itself (nothing to recover from)`);
    throw e;
  }
  return decodeRepositoryConfig(data);
}

async function openFromStore(where: StoreWhere, credentials: Credentials): Promise<Opened> {
  let root: string | null = null;
  let store: ObjectStore;
  if (typeof where === 'string') {
    if (/^[a-z][a-z0-9+.-]*:\/\//i.test(where)) throw new EngineError('INVALID_ARGUMENT', `recovering ${where}: an S3 repository is recovered through its S3 connection (see "blockvault recover s3://BUCKET/PREFIX")`);
    root = resolve(where);
    if (!existsSync(root)) throw new EngineError('NOT_FOUND', `${root} does not exist`);
    store = openStore({ kind: 'folder', root, direct: false });
  } else {
    store = openStore(where);
  }
  try {
    const config = await readStoreSettings(store);
    let keys: ReturnType<typeof deriveSubKeys> | null = null;
    if (config.encryption) keys = deriveSubKeys(unwrapMasterKey(config.encryption.keys, credentials).master, config.id);
    const codec = new ObjectCodec(config.blockSize, parseCompression(config.compression), keys ? { data: keys.data, name: keys.name } : undefined);
    return { root, store, config, metaKey: keys?.meta ?? null, codec, nameKey: keys?.name ?? null };
  } catch (error) {
    await store.close();
    throw error;
  }
}

/** What a rebuild read from the store and put into the new database. */
export interface RebuildResult {
  versions: string[];
  invalid: string[];
  damagedManifests: Array<{ key: string; reason: string }>;
}

/**
 * Adds one version from its manifest: its row, tags, objects and block rows, sealed and checked
 * against the manifest's digest. `stored(name)` says whether the store holds the object and its
 * stored size (null: missing); without it the manifest is trusted (its writer marked the version
 * valid only once every object was durable). Returns whether every object is there.
 */
export function addVersionFromManifest(meta: Metadata, manifest: Manifest, stored?: (name: string) => number | null): boolean {
  const sizes = manifest.objects.map((object) => (stored ? stored(object[0]) : object[2]));
  const complete = sizes.every((size) => size !== null);
  meta.transaction(() => {
    const now = Date.now();
    const id = meta.createVersion({
      uid: manifest.uid, name: manifest.name, snapshot: manifest.snapshot, date: manifest.date, size: manifest.size, blockSize: manifest.blockSize,
      baseUid: manifest.baseUid, source: manifest.source, state: VersionState.incomplete, protected: manifest.protected,
    });
    for (const tag of manifest.tags) meta.addTag(id, tag);
    const ids = manifest.objects.map((object, n) => {
      const digest = Buffer.from(object[0], 'hex');
      const size = sizes[n];
      return meta.insertObject(digest, object[1], size !== null ? ObjectState.live : ObjectState.invalid, null, now, size ?? object[2]) ?? meta.objectByDigest(digest)!.id;
    });
    const numbers = new Map(manifest.objects.map((object, n) => [object, n]));
    const rows: Array<[number, number | null]> = [];
    for (const [idx, object] of manifestBlocks(manifest)) rows.push([idx, object === null ? null : ids[numbers.get(object)!]]);
    meta.insertBlocks(id, rows);
    const digest = meta.sealBlockList(id);
    if (digest.toString('hex') !== manifest.blockListDigest) throw new EngineError('INTERNAL', `recovered block list of ${manifest.uid} does not match its manifest`);
    meta.setVersionState(id, complete ? VersionState.valid : VersionState.invalid);
  });
  return complete;
}

/**
 * Builds a new database in `file` (which must not exist) from the store alone: the settings of
 * `config`, every object the store lists and every manifest, each recorded with its listing's
 * stamp (engine/cache.ts). Reads the store only; never writes to it.
 */
export async function buildDatabase(store: ObjectStore, config: RepositoryConfigBody, metaKey: Buffer | null, file: string, signal?: AbortSignal): Promise<RebuildResult> {
  const result: RebuildResult = { versions: [], invalid: [], damagedManifests: [] };
  const objects = new Map<string, number | null>();
  for await (const entry of store.list(OBJECT_PREFIX, signal)) {
    const name = entry.temporary ? null : objectDigest(entry.key);
    if (name) objects.set(name, entry.size);
  }
  const manifests: Array<{ manifest: Manifest; key: string; stamp: string | undefined }> = [];
  for await (const entry of store.list(MANIFEST_PREFIX, signal)) {
    if (entry.temporary) continue;
    try {
      manifests.push({ manifest: decodeManifest(await store.get(entry.key, undefined, signal), metaKey, entry.key), key: entry.key, stamp: entry.stamp });
    } catch (error) {
      result.damagedManifests.push({ key: entry.key, reason: toEngineError(error).message });
    }
  }
  throwIfAborted(signal, 'recover');
  const meta = new Metadata(file, { create: true });
  try {
    meta.migrate();
    meta.transaction(() => {
      meta.setSetting('id', config.id);
      meta.setSetting('format_version', String(config.formatVersion));
      meta.setSetting('block_size', String(config.blockSize));
      meta.setSetting('hash', config.hash);
      meta.setSetting('compression', config.compression);
      meta.setSetting('min_age_days', String(config.minAgeDays));
      meta.setSetting('cleanup_grace_seconds', String(config.cleanupGraceSeconds));
      meta.setSetting('created', config.created);
    });
    manifests.sort((a, b) => a.manifest.date - b.manifest.date || a.manifest.uid.localeCompare(b.manifest.uid));
    for (const { manifest, key, stamp } of manifests) {
      // A size the listing did not tell is asked for.
      for (const object of manifest.objects) {
        if (objects.get(object[0]) === null) objects.set(object[0], await store.size(objectKey(object[0]), signal));
      }
      const complete = addVersionFromManifest(meta, manifest, (name) => objects.get(name) ?? null);
      if (stamp !== undefined) meta.setManifestStamp(key, stamp);
      result.versions.push(manifest.uid);
      if (!complete) result.invalid.push(manifest.uid);
    }
  } finally {
    meta.close();
  }
  return result;
}

/** Moves a database and its journal files aside (`<file>.damaged-<time>`); returns the new name, or null when there was none. */
export function moveDatabaseAside(file: string): string | null {
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  let moved: string | null = null;
  for (const suffix of ['', '-wal', '-shm', '-journal']) {
    if (!existsSync(`${file}${suffix}`)) continue;
    try {
      renameSync(`${file}${suffix}`, `${file}.damaged-${stamp}${suffix}`);
    } catch (error) {
      // Another process moved it first.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw error;
    }
    if (suffix === '') moved = `${file}.damaged-${stamp}`;
  }
  return moved;
}

/**
 * Rebuilds metadata.sqlite from the store: a folder repository's (and a missing
 * blockvault.json), or an S3 repository's local cache in the state folder.
 */
export async function recoverRepository(where: StoreWhere, credentials: Credentials = {}, signal?: AbortSignal): Promise<RecoverResult> {
  const opened = await openFromStore(where, credentials);
  const { root, store, config } = opened;
  try {
    const file = root !== null ? join(root, METADATA_FILE) : join(prepareStateDir(config.id, store.location), METADATA_FILE);
    const result: RecoverResult = {
      path: root ?? store.location, versions: [], invalid: [], damagedManifests: [], movedAside: null, configFileRestored: false,
      lost: 'scrub reports, backup statistics and the job history are not kept in the store and were not recovered',
    };
    // The store is read in full first: a failure leaves the old database where it was.
    const tmp = `${file}.rebuild-${process.pid}-${randomBytes(4).toString('hex')}`;
    try {
      Object.assign(result, await buildDatabase(store, config, opened.metaKey, tmp, signal));
      result.movedAside = moveDatabaseAside(file);
      renameSync(tmp, file);
    } finally {
      for (const suffix of ['', '-wal', '-shm']) rmSync(`${tmp}${suffix}`, { force: true });
    }
    if (root !== null && !existsSync(join(root, 'blockvault.json'))) {
      writeRepositoryConfigFile(root, { format: config.format, formatVersion: config.formatVersion, id: config.id, created: config.created, ...(config.encryption ? { encryption: config.encryption } : {}) });
      result.configFileRestored = true;
    }
    return result;
  } finally {
    await store.close();
  }
}

/** Restores one version from its manifest and the objects in the store; no database is opened. */
export async function restoreWithoutDatabase(
  path: StoreWhere,
  uid: string,
  targetLocation: string,
  options: { credentials?: Credentials; force?: boolean; signal?: AbortSignal } = {},
): Promise<RestoreResult> {
  const started = Date.now();
  const opened = await openFromStore(path, options.credentials ?? {});
  const { store, codec } = opened;
  try {
    let manifest: Manifest;
    try {
      manifest = decodeManifest(await store.get(manifestKeyOf(uid), undefined, options.signal), opened.metaKey, manifestKeyOf(uid));
    } catch (error) {
      const e = toEngineError(error);
      if (e.code === 'OBJECT_MISSING') throw new EngineError('NOT_FOUND', `the store holds no manifest of version ${uid}`);
      throw e;
    }
    const target = await openTarget(targetLocation, { size: manifest.size, force: options.force, signal: options.signal });
    const plain = alignedBuffer(manifest.blockSize);
    let verified = 0;
    let sparse = 0;
    try {
      for (const [idx, object] of manifestBlocks(manifest)) {
        throwIfAborted(options.signal, 'restore');
        const offset = idx * manifest.blockSize;
        const length = Math.min(manifest.blockSize, manifest.size - offset);
        if (object === null) {
          sparse++;
          if (!target.zeroed) await target.writeZeros(offset, length, options.signal);
          continue;
        }
        const context = `restore of version ${uid} block ${idx} (offset ${offset}) object ${object[0]}`;
        const stored = await store.get(objectKey(object[0]), undefined, options.signal).catch((error) => { throw toEngineError(error, context); });
        let data: Buffer;
        try {
          data = codec.decode(stored, plain);
        } catch (error) {
          throw toEngineError(error, context);
        }
        const name = opened.nameKey ? createHmac('sha256', opened.nameKey).update(data).digest('hex') : createHash(HASH_ALGORITHM).update(data).digest('hex');
        if (name !== object[0] || data.length !== length) throw new EngineError('OBJECT_CORRUPT', `${context}: the object's content does not match its name`);
        await target.write(offset, Buffer.from(data), options.signal);
        verified++;
      }
      await target.finish(manifest.size);
    } catch (error) {
      await target.abort(options.signal?.aborted ? 'canceled' : 'failed').catch(() => undefined);
      throw error;
    }
    return { uid, target: targetLocation, bytes: manifest.size, blocksWritten: verified + (target.zeroed ? 0 : sparse), blocksSparse: sparse, blocksVerified: verified, durationMs: Date.now() - started };
  } finally {
    await store.close();
  }
}
