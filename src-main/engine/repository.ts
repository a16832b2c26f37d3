// Repository: one metadata store, one object store and the settings fixed at `init`.
// `Repository.init` creates one; `Repository.open` finds and checks one by path. An S3
// repository (`initS3`, `openS3`) keeps its objects and its config (with the settings and key
// slots) in the bucket under `repository/blockvault.json`; its SQLite metadata is a cache in
// the user's state folder (store/state.ts), found again by the repository's id.
import { parseSize as parseSharedSize } from '../../src-shared/api/format';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, rmSync, statfsSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RepositorySettings } from '../../src-shared/model';
import { deriveSubKeys, newMasterKey, unwrapMasterKey, wrapMasterKey, type Credentials, type KeySlot, type SubKeys } from './codec/keys';
import { formatCompression, parseCompression, type CompressionSetting } from './codec/object';
import { EngineError, jsonErrorPosition } from './errors';
import {
  DEFAULT_BLOCK_SIZE,
  HASH_ALGORITHM,
  MAX_BLOCK_SIZE,
  METADATA_FILE,
  MIN_BLOCK_SIZE,
  REPOSITORY_CONFIG_FILE,
  REPOSITORY_CONFIG_KEY,
  REPOSITORY_FORMAT_NAME,
  REPOSITORY_FORMAT_VERSION,
  RESERVE_FILE,
  reserveBytes,
} from './format';
import { publishConfig, repositoryConfigBody } from './describe';
import { decodeRepositoryConfig, type RepositoryConfigBody } from './meta/manifest';
import { AUTO_TAGS_SETTING } from './autotags';
import { Metadata } from './meta/database';
import { prepareFolderStore } from './store/folder';
import { openStore, REPOSITORY_PREFIX, type ObjectStore, type StoreSpec } from './store/index';
import type { S3Spec } from './store/s3';
import { prepareStateDir, repositoryStateDir } from './store/state';
import { openCache, syncCache, type CacheOptions, type SyncResult } from './cache';
import type { WorkerSettings } from './workers/protocol';

/** Block sizes from which object files are written and read with O_DIRECT. */
const DIRECT_OBJECTS_MIN_BLOCK = 1024 * 1024;
/**
 * Block slots per worker thread of a backup: reads of the next blocks overlap the compression
 * of earlier ones. Scrub and restore use the same pools (slots are allocated on first use).
 */
const SLOTS_PER_WORKER = 3;
/**
 * With an S3 store a slot also waits out a PUT's or GET's round trip, so a worker needs more of
 * them to keep the store's requests in flight (memory: two block buffers per slot).
 */
const S3_SLOTS_PER_WORKER = 8;

/**
 * The folder store of a repository folder. Large objects bypass the page cache: filling new
 * page-cache pages cost more CPU than compressing on the VMs we measured, and a backup's
 * objects are rarely read soon. Small objects keep it: a direct read per 64 KiB object would
 * wait on the disk every time. BLOCKVAULT_OBJECT_IO=buffered turns it off (for comparison, or
 * odd file systems).
 */
function folderStoreSpec(root: string, blockSize: number): Extract<StoreSpec, { kind: 'folder' }> {
  return { kind: 'folder', root, direct: blockSize >= DIRECT_OBJECTS_MIN_BLOCK && process.env.BLOCKVAULT_OBJECT_IO !== 'buffered' };
}

export interface InitOptions {
  blockSize?: number;
  compression?: string;
  minAgeDays?: number;
  cleanupGraceSeconds?: number;
  /** encrypt the repository with this passphrase or key file */
  encryption?: Credentials;
}

export interface RepositoryConfigFile {
  format: string;
  formatVersion: number;
  id: string;
  created: string;
  encryption?: KeySlots;
  /** in the config of a store that is not a folder: the settings fixed at init */
  settings?: { blockSize: number; hash: string; compression: string };
}

/**
 * The key slots of an encrypted repository. `generation` counts key changes (absent: 0): a
 * change writes the store's copy (`repository/config`, which recover reads) first and the
 * config second, so a change cut short between the two leaves the store's copy one generation
 * ahead, and every open takes the newer slots (a changed or removed passphrase stops working
 * at once, in recover too) and completes the change.
 */
export interface KeySlots {
  algorithm: 'aes-256-gcm';
  keys: KeySlot[];
  generation?: number;
}

function keyGeneration(slots: KeySlots | undefined): number {
  const generation = slots?.generation;
  return typeof generation === 'number' && Number.isSafeInteger(generation) && generation > 0 ? generation : 0;
}

/** The store copy's slots when a key change cut short left them newer than the config's; otherwise null. */
function newerPublishedKeys(config: RepositoryConfigFile, published: RepositoryConfigBody | null): KeySlots | null {
  if (!config.encryption || !published?.encryption || published.id !== config.id) return null;
  return keyGeneration(published.encryption) > keyGeneration(config.encryption) ? published.encryption : null;
}

/** The store's copy of the settings in a repository folder, or null (missing or damaged: recover reports that). */
function readPublishedConfigFile(root: string): RepositoryConfigBody | null {
  try {
    return decodeRepositoryConfig(readFileSync(join(root, ...REPOSITORY_CONFIG_KEY.split('/'))));
  } catch {
    return null;
  }
}

/** The store's copy of the settings, or null when missing or damaged. */
async function readPublishedConfig(store: ObjectStore): Promise<RepositoryConfigBody | null> {
  let data: Buffer;
  try {
    data = await store.get(REPOSITORY_CONFIG_KEY);
  } catch (error) {
    if (error instanceof EngineError && error.code === 'OBJECT_MISSING') return null;
    throw error;
  }
  try {
    return decodeRepositoryConfig(data);
  } catch {
    return null;
  }
}

/** Where an S3 repository keeps its config (the folder repository's blockvault.json). */
export const STORE_CONFIG_KEY = `${REPOSITORY_PREFIX}${REPOSITORY_CONFIG_FILE}`;

export interface KeyInfo {
  id: string;
  kind: KeySlot['kind'];
  created: string;
  /** the key this process opened the repository with */
  current: boolean;
}

/** Why a folder without blockvault.json is not a repository, with advice that works there. */
function missingConfigReason(root: string): string {
  let entries: string[] = [];
  try {
    entries = readdirSync(root);
  } catch {
    return `${root} is not a Blockvault repository (no such folder); create one with "blockvault init ${root}"`;
  }
  if (entries.length === 0) return `${root} is not a Blockvault repository (the folder is empty); create one with "blockvault init ${root}"`;
  if (entries.includes(METADATA_FILE) || entries.includes('objects')) {
    return `${root} holds a repository's files but its ${REPOSITORY_CONFIG_FILE} is missing; restore that file from a copy of the repository (init refuses a folder that is not empty)`;
  }
  return `${root} is not a Blockvault repository (no ${REPOSITORY_CONFIG_FILE}, and the folder is not empty); create one in a new or empty folder with "blockvault init"`;
}

function readConfig(root: string): RepositoryConfigFile {
  const configFile = join(root, REPOSITORY_CONFIG_FILE);
  let text: string;
  try {
    text = readFileSync(configFile, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') {
      // The store's checksummed copy of the settings (repository/config) can rebuild the file.
      if (existsSync(join(root, 'repository', 'config'))) {
        throw new EngineError('NOT_A_REPOSITORY', `${configFile} is missing, but the store in ${root} holds the repository's settings; rebuild it with "blockvault recover ${root}"`);
      }
      throw new EngineError('NOT_A_REPOSITORY', missingConfigReason(root));
    }
    throw new EngineError('NOT_A_REPOSITORY', `cannot read ${configFile}: ${(error as NodeJS.ErrnoException).code ?? 'error'}`);
  }
  let config: RepositoryConfigFile;
  try {
    config = JSON.parse(text) as RepositoryConfigFile;
  } catch {
    // Position only: the message of JSON.parse quotes the file's content.
    throw new EngineError('NOT_A_REPOSITORY', `${configFile} is not valid JSON (at position ${jsonErrorPosition(text)})`);
  }
  return checkConfig(config, root, configFile);
}

function checkConfig(config: RepositoryConfigFile, root: string, configFile: string): RepositoryConfigFile {
  if (typeof config !== 'object' || config === null || config.format !== REPOSITORY_FORMAT_NAME) throw new EngineError('NOT_A_REPOSITORY', `${configFile} is not a Blockvault repository file`);
  const version: unknown = config.formatVersion;
  if (typeof version !== 'number' || !Number.isSafeInteger(version) || version < 1) {
    throw new EngineError('NOT_A_REPOSITORY', `${configFile} has no valid format version (a whole number from 1, found ${typeof version === 'number' ? version : typeof version === 'object' ? 'null' : typeof version})`);
  }
  if (version > REPOSITORY_FORMAT_VERSION) {
    throw new EngineError(
      'FORMAT_UNSUPPORTED',
      `repository ${root} has format version ${version}; this release of Blockvault reads up to ${REPOSITORY_FORMAT_VERSION}. Upgrade Blockvault.`,
    );
  }
  return config;
}

/** Writes blockvault.json again (recover, when the store still holds the settings). */
export function writeRepositoryConfigFile(root: string, config: RepositoryConfigFile): void {
  writeConfig(root, config);
}

/** The config of a repository in a store (S3); NOT_A_REPOSITORY when there is none. */
async function readStoreConfig(store: ObjectStore): Promise<RepositoryConfigFile> {
  let data: Buffer;
  try {
    data = await store.get(STORE_CONFIG_KEY);
  } catch (error) {
    if (error instanceof EngineError && error.code === 'OBJECT_MISSING') {
      if ((await store.size(PREVIOUS_STORE_CONFIG_KEY)) !== null) {
        throw new EngineError('NOT_A_REPOSITORY', `${store.location} has no ${STORE_CONFIG_KEY}, but a key change left the previous config in ${PREVIOUS_STORE_CONFIG_KEY}; copy it back to ${STORE_CONFIG_KEY} with an S3 client`);
      }
      throw new EngineError('NOT_A_REPOSITORY', `${store.location} is not a Blockvault repository (no ${STORE_CONFIG_KEY}); create one with "blockvault init"`);
    }
    throw error;
  }
  return parseStoreConfig(store, data);
}

function parseStoreConfig(store: ObjectStore, data: Buffer): RepositoryConfigFile {
  const text = data.toString('utf8');
  let config: RepositoryConfigFile;
  try {
    config = JSON.parse(text) as RepositoryConfigFile;
  } catch {
    throw new EngineError('NOT_A_REPOSITORY', `${store.location}: ${STORE_CONFIG_KEY} is not valid JSON (at position ${jsonErrorPosition(text)})`);
  }
  return checkConfig(config, store.location, `${store.location} ${STORE_CONFIG_KEY}`);
}

/**
 * The full-disk reserve (format.ts RESERVE_FILE, reserveBytes): released when less than it is
 * free, so the metadata can still be written; made again (best effort) when there is three
 * times as much room.
 */
function keepReserve(root: string): void {
  const file = join(root, RESERVE_FILE);
  let free: number;
  let size: number;
  try {
    const stats = statfsSync(root);
    free = stats.bavail * stats.bsize;
    size = reserveBytes(stats.blocks * stats.bsize);
  } catch {
    return;
  }
  const present = existsSync(file);
  if (present && free < size) {
    rmSync(file, { force: true });
  } else if (!present && free >= 3 * size) {
    const tmp = `${file}.tmp-${process.pid}`;
    try {
      writeFileSync(tmp, Buffer.alloc(size), { mode: 0o600 });
      renameSync(tmp, file);
    } catch {
      rmSync(tmp, { force: true });
    }
  }
}

/** Replaces the config file atomically and durably. */
function writeConfig(root: string, config: RepositoryConfigFile): void {
  const file = join(root, REPOSITORY_CONFIG_FILE);
  const tmp = `${file}.tmp-${process.pid}`;
  writeFileSync(tmp, `${JSON.stringify(config, null, 2)}\n`, { mode: 0o600 });
  const fd = openSync(tmp, 'r');
  try { fsyncSync(fd); } finally { closeSync(fd); }
  renameSync(tmp, file);
  const dir = openSync(root, 'r');
  try { fsyncSync(dir); } finally { closeSync(dir); }
}

/** Parses sizes such as 4M, 64K, 1G, 4194304. */
export function parseSize(text: string): number {
  const size = parseSharedSize(text);
  if (size === null) throw new EngineError('INVALID_ARGUMENT', `not a size: "${text}" (use e.g. 4M, 64K, 4194304)`);
  return size;
}

export function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new EngineError('INVALID_ARGUMENT', `block size must be a power of two from 64K to 64M, got ${blockSize}`);
  }
}

export class Repository {
  readonly settings: RepositorySettings;
  readonly compression: CompressionSetting;
  /** subkeys of an encrypted repository, null when it is not encrypted */
  readonly keys: SubKeys | null;

  private constructor(
    readonly path: string,
    readonly meta: Metadata,
    readonly store: ObjectStore,
    private config: RepositoryConfigFile,
    private readonly master: { key: Buffer; slot: string } | null,
  ) {
    const setting = (key: string): string => {
      const value = meta.getSetting(key);
      if (value === undefined) throw new EngineError('NOT_A_REPOSITORY', `repository ${path} lacks setting ${key}`);
      return value;
    };
    this.compression = parseCompression(setting('compression'));
    this.settings = {
      id: setting('id'),
      formatVersion: Number(setting('format_version')),
      blockSize: Number(setting('block_size')),
      hash: setting('hash'),
      compression: formatCompression(this.compression),
      encrypted: config.encryption !== undefined,
      minAgeDays: Number(setting('min_age_days')),
      cleanupGraceSeconds: Number(setting('cleanup_grace_seconds')),
      created: setting('created'),
      backy2AutoTags: meta.getSetting(AUTO_TAGS_SETTING) === '1',
    };
    this.keys = master ? deriveSubKeys(master.key, this.settings.id) : null;
  }

  /** Whether the repository at path is encrypted (so a caller knows to ask for a passphrase). */
  static isEncrypted(path: string): boolean {
    return readConfig(resolve(path)).encryption !== undefined;
  }

  static init(path: string, options: InitOptions = {}): Repository {
    const root = resolve(path);
    const initial = initialSettings(options);
    if (existsSync(join(root, REPOSITORY_CONFIG_FILE)) || existsSync(join(root, METADATA_FILE))) {
      throw new EngineError('REPOSITORY_EXISTS', `${root} already holds a repository`);
    }
    if (existsSync(root)) {
      if (!statSync(root).isDirectory()) throw new EngineError('ALREADY_EXISTS', `${root} exists and is not a directory`);
      if (readdirSync(root).length > 0) throw new EngineError('ALREADY_EXISTS', `${root} is not empty; choose a new or empty directory`);
    }
    prepareFolderStore(root);
    const { config, master } = newConfig(options);
    const meta = createMetadata(join(root, METADATA_FILE), config, initial);
    // The config file is written last: its presence means the repository is complete.
    writeConfig(root, config);
    keepReserve(root);
    return new Repository(root, meta, openStore(folderStoreSpec(root, initial.blockSize)), config, master);
  }

  /**
   * Creates a repository in an S3 bucket (which must exist) under the spec's prefix, which
   * must be empty. The metadata cache goes to the state folder; the config is put last.
   */
  static async initS3(spec: S3Spec, options: InitOptions = {}): Promise<Repository> {
    const initial = initialSettings(options);
    const store = openStore(spec);
    let meta: Metadata | undefined;
    try {
      // A listing answers for the bucket and the credentials before anything is written.
      for await (const entry of store.list('')) {
        throw entry.key === STORE_CONFIG_KEY
          ? new EngineError('REPOSITORY_EXISTS', `${store.location} already holds a repository`)
          : new EngineError('ALREADY_EXISTS', `${store.location} is not empty (it holds ${entry.key}); choose a new prefix`);
      }
      const { config, master } = newConfig(options);
      config.settings = { blockSize: initial.blockSize, hash: initial.hash, compression: formatCompression(initial.compression) };
      const dir = prepareStateDir(config.id, store.location);
      meta = createMetadata(join(dir, METADATA_FILE), config, initial);
      await store.put(STORE_CONFIG_KEY, Buffer.from(`${JSON.stringify(config, null, 2)}\n`));
      return new Repository(s3Path(spec), meta, store, config, master);
    } catch (error) {
      meta?.close();
      await store.close();
      throw error;
    }
  }

  /** Whether the S3 repository is encrypted (so a caller knows to ask for a passphrase). */
  static async s3IsEncrypted(spec: S3Spec): Promise<boolean> {
    const store = openStore(spec);
    try {
      return (await readStoreConfig(store)).encryption !== undefined;
    } finally {
      await store.close();
    }
  }

  /**
   * Opens an S3 repository: its config from the bucket, its metadata from the local cache,
   * which is rebuilt from the bucket when it is missing or damaged and brought up to date when
   * another machine changed the versions (engine/cache.ts).
   */
  static async openS3(spec: S3Spec, credentials: Credentials = {}, options: CacheOptions = {}): Promise<Repository> {
    const store = openStore(spec);
    let meta: Metadata | undefined;
    try {
      let config = await readStoreConfig(store);
      const newer = config.encryption ? newerPublishedKeys(config, await readPublishedConfig(store)) : null;
      if (newer) {
        // A key change was cut short after the store's copy: its slots count, and the change is completed.
        config = { ...config, encryption: newer };
        try {
          config = await replaceStoreConfig(store, newer);
        } catch {
          // Read-only credentials: the newer slots still count for this open.
        }
      }
      const master = unlock(config, credentials);
      repositoryStateDir(config.id);
      meta = await openCache(store, config.id, master ? deriveSubKeys(master.key, config.id).meta : null, options);
      return new Repository(s3Path(spec), meta, store, config, master);
    } catch (error) {
      meta?.close();
      await store.close();
      throw error;
    }
  }

  /**
   * Brings an S3 repository's cache up to the bucket (versions another machine added, removed
   * or changed since it opened); nothing to do for a folder repository, whose database is the
   * one copy. Cleanup calls it before it decides what is unreferenced.
   */
  async syncWithStore(signal?: AbortSignal): Promise<SyncResult | null> {
    if (this.store.kind === 'folder') return null;
    return syncCache(this.meta, this.store, this.keys?.meta ?? null, signal);
  }

  /** Opens a repository; an encrypted one needs credentials (WRONG_KEY otherwise). */
  static open(path: string, credentials: Credentials = {}): Repository {
    const root = resolve(path);
    let config = readConfig(root);
    const newer = config.encryption ? newerPublishedKeys(config, readPublishedConfigFile(root)) : null;
    if (newer) {
      // A key change was cut short after the store's copy: its slots count, and the change is completed.
      config = { ...config, encryption: newer };
      try {
        writeConfig(root, config);
      } catch {
        // A read-only repository: the newer slots still count for this open.
      }
    }
    const master = unlock(config, credentials);
    keepReserve(root);
    const metadataFile = join(root, METADATA_FILE);
    // An existing repository's metadata is never initialised here: a 0-byte or schema-less
    // file (truncated, or replaced) is refused instead of silently becoming an empty one.
    if (existsSync(metadataFile) && statSync(metadataFile).size === 0) {
      throw new EngineError('NOT_A_REPOSITORY', `${metadataFile} is empty (0 bytes): not initialised; restore it from a copy of the repository`);
    }
    const meta = new Metadata(metadataFile);
    try {
      if ((meta.db.pragma('user_version', { simple: true }) as number) === 0) {
        throw new EngineError('NOT_A_REPOSITORY', `${metadataFile} holds no Blockvault schema: not initialised; restore it from a copy of the repository`);
      }
      meta.migrate();
      return new Repository(root, meta, openStore(folderStoreSpec(root, Number(meta.getSetting('block_size')))), config, master);
    } catch (error) {
      meta.close();
      throw error;
    }
  }

  /** Settings for a worker pool working on this repository's objects (each worker opens the store itself). */
  workerSettings(options: { slots?: number; syncEachObject?: boolean; blockSize?: number }): WorkerSettings {
    const blockSize = options.blockSize ?? this.blockSize;
    const spec = this.store.spec();
    const store: StoreSpec = spec.kind === 'folder' ? { ...folderStoreSpec(spec.root, blockSize), syncEachPut: options.syncEachObject ?? false } : spec;
    return {
      blockSize,
      compression: this.compression,
      slots: options.slots ?? (spec.kind === 's3' ? S3_SLOTS_PER_WORKER : SLOTS_PER_WORKER),
      store,
      keys: this.keys ? { data: this.keys.data, name: this.keys.name } : undefined,
    };
  }

  // ---- keys of an encrypted repository: slots change, data is never re-encrypted
  listKeys(): KeyInfo[] {
    return (this.config.encryption?.keys ?? []).map((slot) => ({ id: slot.id, kind: slot.kind, created: slot.created, current: slot.id === this.master?.slot }));
  }

  async addKey(credentials: Credentials): Promise<KeyInfo> {
    this.requireEncryption();
    const slot = wrapMasterKey(this.master!.key, credentials);
    await this.updateKeys((keys) => [...keys, slot]);
    return { id: slot.id, kind: slot.kind, created: slot.created, current: false };
  }

  async removeKey(id: string): Promise<void> {
    this.requireEncryption();
    await this.updateKeys((keys) => {
      if (!keys.some((slot) => slot.id === id)) throw new EngineError('NOT_FOUND', `no key ${id} in this repository`);
      if (keys.length === 1) throw new EngineError('INVALID_ARGUMENT', `key ${id} is the last key; removing it would make the repository unreadable`);
      return keys.filter((slot) => slot.id !== id);
    });
  }

  /** Re-wraps one passphrase slot (by default the one used to open) under a new passphrase. */
  async changePassphrase(newPassphrase: string, id = this.master?.slot): Promise<KeyInfo> {
    this.requireEncryption();
    const slot = wrapMasterKey(this.master!.key, { passphrase: newPassphrase }, id);
    await this.updateKeys((keys) => {
      const old = keys.find((s) => s.id === id);
      if (!old) throw new EngineError('NOT_FOUND', `no key ${id} in this repository`);
      if (old.kind !== 'passphrase') throw new EngineError('INVALID_ARGUMENT', `key ${id} is a key file, not a passphrase`);
      return keys.map((s) => (s.id === id ? slot : s));
    });
    return { id: slot.id, kind: slot.kind, created: slot.created, current: slot.id === this.master?.slot };
  }

  private requireEncryption(): void {
    if (!this.config.encryption || !this.master) throw new EngineError('INVALID_ARGUMENT', 'this repository is not encrypted');
  }

  /**
   * Applies a change to the key slots as they are now in the repository (another process or
   * machine may have changed them), as the next generation. The store's `repository/config`
   * is written first and the config second (see KeySlots): cut short between the two, every
   * open and recover already use the new slots.
   */
  private async updateKeys(change: (keys: KeySlot[]) => KeySlot[]): Promise<void> {
    const current = await this.currentConfig();
    const published = await readPublishedConfig(this.store);
    const base = newerPublishedKeys(current, published) ?? current.encryption;
    const encryption: KeySlots = {
      algorithm: 'aes-256-gcm',
      keys: change(base?.keys ?? []),
      generation: Math.max(keyGeneration(current.encryption), keyGeneration(published?.encryption)) + 1,
    };
    await publishConfig(this.store, repositoryConfigBody(this.settings, encryption));
    if (this.store.kind === 'folder') {
      this.config = { ...current, encryption };
      writeConfig(this.path, this.config);
    } else {
      this.config = await replaceStoreConfig(this.store, encryption);
    }
  }

  /** The config (settings and key slots) as the repository holds it now: blockvault.json, or the bucket's. */
  private async currentConfig(): Promise<RepositoryConfigFile> {
    return this.store.kind === 'folder' ? readConfig(this.path) : readStoreConfig(this.store);
  }

  /**
   * Writes the settings and key slots to the store (`repository/config`), durably: the slots
   * as the config holds them now (another process may have changed them since this one opened).
   */
  async publishConfig(): Promise<void> {
    if (this.config.encryption) {
      const current = await this.currentConfig();
      if (current.id === this.config.id && current.encryption && keyGeneration(current.encryption) >= keyGeneration(this.config.encryption)) this.config = { ...this.config, encryption: current.encryption };
    }
    await publishConfig(this.store, repositoryConfigBody(this.settings, this.config.encryption));
  }

  /** Publishes the config when the store lacks it (a repository made before the store held it). */
  async ensureConfigPublished(): Promise<void> {
    if ((await this.store.size(REPOSITORY_CONFIG_KEY)) === null) await this.publishConfig();
  }

  get blockSize(): number {
    return this.settings.blockSize;
  }

  /** backy2's automatic tags for backups without tags (see autotags.ts). */
  setAutoTags(on: boolean): void {
    this.meta.setSetting(AUTO_TAGS_SETTING, on ? '1' : '0');
    this.settings.backy2AutoTags = on;
  }

  async setSetting(key: 'min_age_days' | 'cleanup_grace_seconds', value: number): Promise<void> {
    if (!Number.isFinite(value) || value < 0) throw new EngineError('INVALID_ARGUMENT', `${key} must be zero or more`);
    this.meta.setSetting(key, String(value));
    if (key === 'min_age_days') this.settings.minAgeDays = value;
    else this.settings.cleanupGraceSeconds = value;
    await this.publishConfig();
  }

  close(): void {
    this.meta.close();
    void this.store.close();
  }
}

/** Where a key change keeps the config it replaces until the new one is written and read back. */
export const PREVIOUS_STORE_CONFIG_KEY = `${REPOSITORY_PREFIX}previous-${REPOSITORY_CONFIG_FILE}`;

/**
 * Puts `encryption` as the key slots of a store's config (S3): the config as the bucket holds
 * it now gets them, its bytes are first kept under PREVIOUS_STORE_CONFIG_KEY, the new config is written
 * with one PUT (atomic: readers see the old or the new, whole) and read back; only then is the
 * kept copy deleted, since it holds the old slots (a changed passphrase must stop working).
 * A failure on the way leaves the old config in place or recoverable from the kept copy.
 */
async function replaceStoreConfig(store: ObjectStore, encryption: KeySlots): Promise<RepositoryConfigFile> {
  const oldBytes = await store.get(STORE_CONFIG_KEY);
  const current = parseStoreConfig(store, oldBytes);
  const merged: RepositoryConfigFile = { ...current, encryption };
  const newBytes = Buffer.from(`${JSON.stringify(merged, null, 2)}\n`);
  await store.put(PREVIOUS_STORE_CONFIG_KEY, oldBytes);
  await store.put(STORE_CONFIG_KEY, newBytes);
  const written = await store.get(STORE_CONFIG_KEY);
  if (!written.equals(newBytes)) {
    throw new EngineError('IO_ERROR', `${store.location}: ${STORE_CONFIG_KEY} reads back different from what was written (another process changed the keys at the same moment?); the previous config is kept as ${PREVIOUS_STORE_CONFIG_KEY}`);
  }
  await store.delete(PREVIOUS_STORE_CONFIG_KEY);
  return merged;
}

/** How an S3 repository is named: its location without the endpoint. */
function s3Path(spec: S3Spec): string {
  return `s3://${spec.bucket}/${spec.prefix.replace(/^\/+|\/+$/g, '')}`;
}

interface InitialSettings { blockSize: number; compression: CompressionSetting; minAgeDays: number; grace: number; hash: string }

/** The settings `init` fixes, checked. */
function initialSettings(options: InitOptions): InitialSettings {
  const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
  checkBlockSize(blockSize);
  const compression = parseCompression(options.compression ?? 'zstd:1');
  const minAgeDays = options.minAgeDays ?? 6;
  const grace = options.cleanupGraceSeconds ?? 3600;
  if (!(minAgeDays >= 0) || !(grace >= 0)) throw new EngineError('INVALID_ARGUMENT', 'minimum age and grace period must be zero or more');
  return { blockSize, compression, minAgeDays, grace, hash: options.encryption ? `hmac-${HASH_ALGORITHM}` : HASH_ALGORITHM };
}

/** A new repository's config, with its first key slot when encrypted. */
function newConfig(options: InitOptions): { config: RepositoryConfigFile; master: { key: Buffer; slot: string } | null } {
  const config: RepositoryConfigFile = {
    format: REPOSITORY_FORMAT_NAME,
    formatVersion: REPOSITORY_FORMAT_VERSION,
    id: randomUUID(),
    created: new Date().toISOString(),
  };
  if (!options.encryption) return { config, master: null };
  const key = newMasterKey();
  const slot = wrapMasterKey(key, options.encryption);
  config.encryption = { algorithm: 'aes-256-gcm', keys: [slot] };
  return { config, master: { key, slot: slot.id } };
}

function unlock(config: RepositoryConfigFile, credentials: Credentials): { key: Buffer; slot: string } | null {
  if (!config.encryption) return null;
  const opened = unwrapMasterKey(config.encryption.keys, credentials);
  return { key: opened.master, slot: opened.slot.id };
}

function createMetadata(file: string, config: RepositoryConfigFile, initial: InitialSettings): Metadata {
  const meta = new Metadata(file, { create: true });
  try {
    meta.migrate();
    meta.transaction(() => {
      meta.setSetting('id', config.id);
      meta.setSetting('format_version', String(REPOSITORY_FORMAT_VERSION));
      meta.setSetting('block_size', String(initial.blockSize));
      meta.setSetting('hash', initial.hash);
      meta.setSetting('compression', formatCompression(initial.compression));
      meta.setSetting('min_age_days', String(initial.minAgeDays));
      meta.setSetting('cleanup_grace_seconds', String(initial.grace));
      meta.setSetting('created', config.created);
    });
    return meta;
  } catch (error) {
    meta.close();
    throw error;
  }
}
