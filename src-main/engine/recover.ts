// Recover: rebuild a repository's metadata database from its store alone (repository/config
// and manifests/<uid>, see describe.ts), and restore one version straight from its manifest
// without any database. Nouns: the *damaged* database is moved aside, never deleted; what the
// store does not hold (scrub reports, backup statistics, job history) is *lost* and said so.
import { createHash, createHmac } from 'node:crypto';
import { existsSync, renameSync } from 'node:fs';
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
  root: string;
  store: ObjectStore;
  config: RepositoryConfigBody;
  metaKey: Buffer | null;
  codec: ObjectCodec;
  nameKey: Buffer | null;
}

async function openFromStore(path: string, credentials: Credentials): Promise<Opened> {
  const root = resolve(path);
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(path)) throw new EngineError('INVALID_ARGUMENT', `recovering ${path}: only folder repositories can be recovered by this release`);
  if (!existsSync(root)) throw new EngineError('NOT_FOUND', `${root} does not exist`);
  const store = openStore({ kind: 'folder', root, direct: false });
  let data: Buffer;
  try {
    data = await store.get(REPOSITORY_CONFIG_KEY);
  } catch (error) {
    await store.close();
    const e = toEngineError(error);
    if (e.code === 'OBJECT_MISSING' || e.code === 'NOT_FOUND') throw new EngineError('NOT_A_REPOSITORY', `${root} holds no ${REPOSITORY_CONFIG_KEY}: it is not a Blockvault repository, or one made before the store described itself (nothing to recover from)`);
    throw e;
  }
  const config = decodeRepositoryConfig(data);
  let keys: ReturnType<typeof deriveSubKeys> | null = null;
  if (config.encryption) keys = deriveSubKeys(unwrapMasterKey(config.encryption.keys, credentials).master, config.id);
  const codec = new ObjectCodec(config.blockSize, parseCompression(config.compression), keys ? { data: keys.data, name: keys.name } : undefined);
  return { root, store, config, metaKey: keys?.meta ?? null, codec, nameKey: keys?.name ?? null };
}

/** Rebuilds metadata.sqlite (and a missing blockvault.json) from the store. */
export async function recoverRepository(path: string, credentials: Credentials = {}, signal?: AbortSignal): Promise<RecoverResult> {
  const opened = await openFromStore(path, credentials);
  const { root, store, config } = opened;
  try {
    const result: RecoverResult = {
      path: root, versions: [], invalid: [], damagedManifests: [], movedAside: null, configFileRestored: false,
      lost: 'scrub reports, backup statistics and the job history are not kept in the store and were not recovered',
    };
    // What the store holds: objects by name with their stored size, and every manifest.
    const objects = new Map<string, number | null>();
    for await (const entry of store.list(OBJECT_PREFIX, signal)) {
      const name = entry.temporary ? null : objectDigest(entry.key);
      if (name) objects.set(name, entry.size);
    }
    const manifests: Manifest[] = [];
    for await (const entry of store.list(MANIFEST_PREFIX, signal)) {
      if (entry.temporary) continue;
      try {
        manifests.push(decodeManifest(await store.get(entry.key, undefined, signal), opened.metaKey, entry.key));
      } catch (error) {
        result.damagedManifests.push({ key: entry.key, reason: toEngineError(error).message });
      }
    }
    throwIfAborted(signal, 'recover');

    const file = join(root, METADATA_FILE);
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (const suffix of ['', '-wal', '-shm', '-journal']) {
      if (!existsSync(`${file}${suffix}`)) continue;
      renameSync(`${file}${suffix}`, `${file}.damaged-${stamp}${suffix}`);
      if (suffix === '') result.movedAside = `${file}.damaged-${stamp}`;
    }
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
      manifests.sort((a, b) => a.date - b.date || a.uid.localeCompare(b.uid));
      for (const manifest of manifests) {
        for (const object of manifest.objects) {
          if (objects.get(object[0]) === null) objects.set(object[0], await store.size(objectKey(object[0]), signal));
        }
        const complete = manifest.objects.every((object) => objects.has(object[0]) && objects.get(object[0]) !== null);
        meta.transaction(() => {
          const now = Date.now();
          const id = meta.createVersion({
            uid: manifest.uid, name: manifest.name, snapshot: manifest.snapshot, date: manifest.date, size: manifest.size, blockSize: manifest.blockSize,
            baseUid: manifest.baseUid, source: manifest.source, state: VersionState.incomplete, protected: manifest.protected,
          });
          for (const tag of manifest.tags) meta.addTag(id, tag);
          const ids = manifest.objects.map((object) => {
            const digest = Buffer.from(object[0], 'hex');
            const stored = objects.get(object[0]);
            const present = stored !== undefined && stored !== null;
            return meta.insertObject(digest, object[1], present ? ObjectState.live : ObjectState.invalid, null, now, present ? stored : object[2]) ?? meta.objectByDigest(digest)!.id;
          });
          const rows: Array<[number, number | null]> = [];
          for (const [idx, object] of manifestBlocks(manifest)) rows.push([idx, object === null ? null : ids[manifest.objects.indexOf(object)]]);
          meta.insertBlocks(id, rows);
          const digest = meta.sealBlockList(id);
          if (digest.toString('hex') !== manifest.blockListDigest) throw new EngineError('INTERNAL', `recovered block list of ${manifest.uid} does not match its manifest`);
          meta.setVersionState(id, complete ? VersionState.valid : VersionState.invalid);
        });
        result.versions.push(manifest.uid);
        if (!complete) result.invalid.push(manifest.uid);
      }
    } finally {
      meta.close();
    }
    if (!existsSync(join(root, 'blockvault.json'))) {
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
  path: string,
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
