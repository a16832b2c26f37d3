// The repository describes itself in its store: `repository/config` (settings and wrapped key
// slots) and one `manifests/<uid>` per version (codec in meta/manifest.ts), so the database is
// a cache that `recover` can rebuild. Every change that a rebuild must see (backup, import,
// copy, rm, protect, tags, key slots) publishes here; a version is marked valid only after its
// manifest is durable (put, then the store's barrier).
import { EngineError } from './errors';
import { REPOSITORY_CONFIG_KEY, REPOSITORY_FORMAT_NAME, REPOSITORY_FORMAT_VERSION } from './format';
import { encodeManifest, encodeRepositoryConfig, manifestOf, type RepositoryConfigBody } from './meta/manifest';
import type { Metadata } from './meta/database';
import type { VersionStateId } from './meta/schema';
import { manifestKey, type ObjectStore } from './store/port';
import type { KeySlot } from './codec/keys';
import type { RepositorySettings } from '../../src-shared/model';

/**
 * The store key of a version's manifest. Our own UIDs are lowercase UUIDs and are used as they
 * are; a migrated version's UID (Benji's `V0000000001`, any string) is hex-encoded behind `x-`,
 * since store keys are lowercase ASCII.
 */
export function manifestKeyOf(uid: string): string {
  return manifestKey(/^[a-z0-9][a-z0-9._-]*$/.test(uid) && !uid.startsWith('x-') ? uid : `x-${Buffer.from(uid, 'utf8').toString('hex')}`);
}

/** What publishing needs of a repository (Repository has it; so does a copy's destination). */
export interface DescribedRepository {
  readonly meta: Metadata;
  readonly store: ObjectStore;
  readonly settings: RepositorySettings;
  /** subkeys of an encrypted repository: manifests are sealed with `meta` */
  readonly keys: { meta: Buffer } | null;
}

/** Writes a version's manifest from its rows and makes it durable. */
export async function publishManifest(repo: DescribedRepository, uid: string, signal?: AbortSignal): Promise<void> {
  await writeManifest(repo, uid, encodeVersionManifest(repo, uid), signal);
}

/** A version's manifest, from its rows, sealed for the store. */
function encodeVersionManifest(repo: DescribedRepository, uid: string): Buffer {
  return encodeManifest(manifestOf(repo.meta, repo.meta.requireVersion(uid)), repo.keys?.meta ?? null);
}

async function writeManifest(repo: DescribedRepository, uid: string, sealed: Buffer, signal?: AbortSignal): Promise<void> {
  try {
    await repo.store.put(manifestKeyOf(uid), sealed, signal);
    await repo.store.barrier(signal);
  } catch (error) {
    throw error instanceof EngineError ? new EngineError(error.code, `writing the manifest of version ${uid}: ${error.message}`, { cause: error }) : error;
  }
}

/**
 * The end of every writer of a version (backup, copy, import): seal the block list (its
 * digest goes into the row), publish the manifest durably, and only then give the version its
 * state in a durable transaction, so a version is never valid without a manifest a rebuild
 * can read. `sealed` runs inside the sealing transaction (checks of the digest, protection
 * that the manifest must carry); `settled` inside the state's transaction (statistics).
 * `objectsDurable` is the caller's barrier over the version's objects, still running: the
 * block list is sealed and the manifest encoded meanwhile, and the manifest is written only
 * once it resolved (never durable before the objects it lists).
 */
export async function finishVersion(
  repo: DescribedRepository,
  versionId: number,
  uid: string,
  options: { state: VersionStateId; sealed?: (digest: Buffer) => void; settled?: () => void; signal?: AbortSignal; objectsDurable?: Promise<void> },
): Promise<void> {
  repo.meta.transaction(() => {
    const digest = repo.meta.sealBlockList(versionId);
    options.sealed?.(digest);
  });
  const manifest = encodeVersionManifest(repo, uid);
  await options.objectsDurable;
  await writeManifest(repo, uid, manifest, options.signal);
  repo.meta.durableTransaction(() => {
    repo.meta.setVersionState(versionId, options.state);
    options.settled?.();
  });
}

/** Removes a removed version's manifest (after its rows are gone: a crash keeps it recoverable). */
export async function withdrawManifest(repo: DescribedRepository, uid: string): Promise<void> {
  await repo.store.delete(manifestKeyOf(uid));
}

export function repositoryConfigBody(settings: RepositorySettings, encryption: { algorithm: 'aes-256-gcm'; keys: KeySlot[] } | undefined): RepositoryConfigBody {
  return {
    format: REPOSITORY_FORMAT_NAME,
    formatVersion: REPOSITORY_FORMAT_VERSION,
    id: settings.id,
    created: settings.created,
    blockSize: settings.blockSize,
    hash: settings.hash,
    compression: settings.compression,
    minAgeDays: settings.minAgeDays,
    cleanupGraceSeconds: settings.cleanupGraceSeconds,
    ...(encryption ? { encryption } : {}),
  };
}

/** Writes the repository's settings and key slots to the store, durably. */
export async function publishConfig(store: ObjectStore, body: RepositoryConfigBody): Promise<void> {
  await store.put(REPOSITORY_CONFIG_KEY, encodeRepositoryConfig(body));
  await store.barrier();
}
