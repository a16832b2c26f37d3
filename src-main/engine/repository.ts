// Repository: one metadata store, one object store and the settings fixed at `init`.
// `Repository.init` creates one; `Repository.open` finds and checks one by path.
import { parseSize as parseSharedSize } from '../../src-shared/api/format';
import { randomUUID } from 'node:crypto';
import { closeSync, existsSync, fsyncSync, openSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RepositorySettings } from '../../src-shared/model';
import { deriveSubKeys, newMasterKey, unwrapMasterKey, wrapMasterKey, type Credentials, type KeySlot, type SubKeys } from './codec/keys';
import { formatCompression, parseCompression, type CompressionSetting } from './codec/object';
import { EngineError } from './errors';
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
} from './format';
import { publishConfig, repositoryConfigBody } from './describe';
import { AUTO_TAGS_SETTING } from './autotags';
import { Metadata } from './meta/database';
import { prepareFolderStore } from './store/folder';
import { openStore, type ObjectStore, type StoreSpec } from './store/index';
import type { WorkerSettings } from './workers/protocol';

/** Block sizes from which object files are written and read with O_DIRECT. */
const DIRECT_OBJECTS_MIN_BLOCK = 1024 * 1024;
/**
 * Block slots per worker thread of a backup: reads of the next blocks overlap the compression
 * of earlier ones. Scrub and restore use the same pools (slots are allocated on first use).
 */
const SLOTS_PER_WORKER = 3;

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
  encryption?: { algorithm: 'aes-256-gcm'; keys: KeySlot[] };
}

export interface KeyInfo {
  id: string;
  kind: KeySlot['kind'];
  created: string;
  /** the key this process opened the repository with */
  current: boolean;
}

function readConfig(root: string): RepositoryConfigFile {
  const configFile = join(root, REPOSITORY_CONFIG_FILE);
  let config: RepositoryConfigFile;
  try {
    config = JSON.parse(readFileSync(configFile, 'utf8')) as RepositoryConfigFile;
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    if (missing && existsSync(join(root, 'repository', 'config'))) {
      throw new EngineError('NOT_A_REPOSITORY', `${configFile} is missing, but the store in ${root} holds the repository's settings; rebuild it with "blockvault recover ${root}"`);
    }
    const reason = missing ? 'no repository there' : (error as Error).message;
    throw new EngineError('NOT_A_REPOSITORY', `${root} is not a Blockvault repository (${reason}); create one with "blockvault init"`);
  }
  if (config.format !== REPOSITORY_FORMAT_NAME) throw new EngineError('NOT_A_REPOSITORY', `${configFile} is not a Blockvault repository file`);
  if (!(config.formatVersion <= REPOSITORY_FORMAT_VERSION)) {
    throw new EngineError(
      'FORMAT_UNSUPPORTED',
      `repository ${root} has format version ${config.formatVersion}; this release of Blockvault reads up to ${REPOSITORY_FORMAT_VERSION}. Upgrade Blockvault.`,
    );
  }
  return config;
}

/** Writes blockvault.json again (recover, when the store still holds the settings). */
export function writeRepositoryConfigFile(root: string, config: RepositoryConfigFile): void {
  writeConfig(root, config);
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
    const blockSize = options.blockSize ?? DEFAULT_BLOCK_SIZE;
    checkBlockSize(blockSize);
    const compression = parseCompression(options.compression ?? 'zstd:1');
    const minAgeDays = options.minAgeDays ?? 6;
    const grace = options.cleanupGraceSeconds ?? 3600;
    if (!(minAgeDays >= 0) || !(grace >= 0)) throw new EngineError('INVALID_ARGUMENT', 'minimum age and grace period must be zero or more');
    if (existsSync(join(root, REPOSITORY_CONFIG_FILE)) || existsSync(join(root, METADATA_FILE))) {
      throw new EngineError('REPOSITORY_EXISTS', `${root} already holds a repository`);
    }
    if (existsSync(root)) {
      if (!statSync(root).isDirectory()) throw new EngineError('ALREADY_EXISTS', `${root} exists and is not a directory`);
      if (readdirSync(root).length > 0) throw new EngineError('ALREADY_EXISTS', `${root} is not empty; choose a new or empty directory`);
    }
    prepareFolderStore(root);
    const config: RepositoryConfigFile = {
      format: REPOSITORY_FORMAT_NAME,
      formatVersion: REPOSITORY_FORMAT_VERSION,
      id: randomUUID(),
      created: new Date().toISOString(),
    };
    let master: { key: Buffer; slot: string } | null = null;
    if (options.encryption) {
      const key = newMasterKey();
      const slot = wrapMasterKey(key, options.encryption);
      config.encryption = { algorithm: 'aes-256-gcm', keys: [slot] };
      master = { key, slot: slot.id };
    }
    const meta = new Metadata(join(root, METADATA_FILE), { create: true });
    try {
      meta.migrate();
      meta.transaction(() => {
        meta.setSetting('id', config.id);
        meta.setSetting('format_version', String(REPOSITORY_FORMAT_VERSION));
        meta.setSetting('block_size', String(blockSize));
        meta.setSetting('hash', options.encryption ? `hmac-${HASH_ALGORITHM}` : HASH_ALGORITHM);
        meta.setSetting('compression', formatCompression(compression));
        meta.setSetting('min_age_days', String(minAgeDays));
        meta.setSetting('cleanup_grace_seconds', String(grace));
        meta.setSetting('created', config.created);
      });
    } catch (error) {
      meta.close();
      throw error;
    }
    // The config file is written last: its presence means the repository is complete.
    writeConfig(root, config);
    return new Repository(root, meta, openStore(folderStoreSpec(root, blockSize)), config, master);
  }

  /** Opens a repository; an encrypted one needs credentials (WRONG_KEY otherwise). */
  static open(path: string, credentials: Credentials = {}): Repository {
    const root = resolve(path);
    const config = readConfig(root);
    let master: { key: Buffer; slot: string } | null = null;
    if (config.encryption) {
      const opened = unwrapMasterKey(config.encryption.keys, credentials);
      master = { key: opened.master, slot: opened.slot.id };
    }
    const meta = new Metadata(join(root, METADATA_FILE));
    try {
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
      slots: options.slots ?? SLOTS_PER_WORKER,
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

  /** Applies a change to the key slots as they are on disk now (another process may have changed them). */
  private async updateKeys(change: (keys: KeySlot[]) => KeySlot[]): Promise<void> {
    const current = readConfig(this.path);
    const merged: RepositoryConfigFile = { ...current, encryption: { algorithm: 'aes-256-gcm', keys: change(current.encryption?.keys ?? []) } };
    writeConfig(this.path, merged);
    this.config = merged;
    await this.publishConfig();
  }

  /** Writes the settings and key slots to the store (`repository/config`), durably. */
  async publishConfig(): Promise<void> {
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
  }
}
