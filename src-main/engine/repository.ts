// Repository: one metadata store, one object store and the settings fixed at `init`.
// `Repository.init` creates one; `Repository.open` finds and checks one by path.
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import type { RepositorySettings } from '../../src-shared/model';
import { formatCompression, parseCompression, type CompressionSetting } from './codec/object';
import { EngineError } from './errors';
import {
  DEFAULT_BLOCK_SIZE,
  HASH_ALGORITHM,
  MAX_BLOCK_SIZE,
  METADATA_FILE,
  MIN_BLOCK_SIZE,
  OBJECTS_DIR,
  REPOSITORY_CONFIG_FILE,
  REPOSITORY_FORMAT_NAME,
  REPOSITORY_FORMAT_VERSION,
} from './format';
import { Metadata } from './meta/database';
import { FolderStore } from './store/folder';

export interface InitOptions {
  blockSize?: number;
  compression?: string;
  minAgeDays?: number;
  cleanupGraceSeconds?: number;
}

interface RepositoryConfigFile {
  format: string;
  formatVersion: number;
  id: string;
  created: string;
}

/** Parses sizes such as 4M, 64K, 1G, 4194304. */
export function parseSize(text: string): number {
  const match = /^(\d+)\s*([kmgt]?)(i?b)?$/i.exec(text.trim());
  if (!match) throw new EngineError('INVALID_ARGUMENT', `not a size: "${text}" (use e.g. 4M, 64K, 4194304)`);
  const power = ' kmgt'.indexOf((match[2] || ' ').toLowerCase());
  return Number(match[1]) * 1024 ** power;
}

export function checkBlockSize(blockSize: number): void {
  if (!Number.isInteger(blockSize) || blockSize < MIN_BLOCK_SIZE || blockSize > MAX_BLOCK_SIZE || (blockSize & (blockSize - 1)) !== 0) {
    throw new EngineError('INVALID_ARGUMENT', `block size must be a power of two from 64K to 64M, got ${blockSize}`);
  }
}

export class Repository {
  readonly settings: RepositorySettings;
  readonly compression: CompressionSetting;

  private constructor(
    readonly path: string,
    readonly meta: Metadata,
    readonly store: FolderStore,
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
      encrypted: false,
      minAgeDays: Number(setting('min_age_days')),
      cleanupGraceSeconds: Number(setting('cleanup_grace_seconds')),
      created: setting('created'),
    };
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
    mkdirSync(join(root, OBJECTS_DIR), { recursive: true });
    const config: RepositoryConfigFile = {
      format: REPOSITORY_FORMAT_NAME,
      formatVersion: REPOSITORY_FORMAT_VERSION,
      id: randomUUID(),
      created: new Date().toISOString(),
    };
    const meta = new Metadata(join(root, METADATA_FILE), { create: true });
    try {
      meta.migrate();
      meta.transaction(() => {
        meta.setSetting('id', config.id);
        meta.setSetting('format_version', String(REPOSITORY_FORMAT_VERSION));
        meta.setSetting('block_size', String(blockSize));
        meta.setSetting('hash', HASH_ALGORITHM);
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
    writeFileSync(join(root, REPOSITORY_CONFIG_FILE), `${JSON.stringify(config, null, 2)}\n`);
    return new Repository(root, meta, new FolderStore(join(root, OBJECTS_DIR)));
  }

  static open(path: string): Repository {
    const root = resolve(path);
    const configFile = join(root, REPOSITORY_CONFIG_FILE);
    let config: RepositoryConfigFile;
    try {
      config = JSON.parse(readFileSync(configFile, 'utf8')) as RepositoryConfigFile;
    } catch (error) {
      const reason = (error as NodeJS.ErrnoException).code === 'ENOENT' ? 'no repository there' : (error as Error).message;
      throw new EngineError('NOT_A_REPOSITORY', `${root} is not a Blockvault repository (${reason}); create one with "blockvault init"`);
    }
    if (config.format !== REPOSITORY_FORMAT_NAME) throw new EngineError('NOT_A_REPOSITORY', `${configFile} is not a Blockvault repository file`);
    if (!(config.formatVersion <= REPOSITORY_FORMAT_VERSION)) {
      throw new EngineError(
        'FORMAT_UNSUPPORTED',
        `repository ${root} has format version ${config.formatVersion}; this release of Blockvault reads up to ${REPOSITORY_FORMAT_VERSION}. Upgrade Blockvault.`,
      );
    }
    const meta = new Metadata(join(root, METADATA_FILE));
    try {
      meta.migrate();
      return new Repository(root, meta, new FolderStore(join(root, OBJECTS_DIR)));
    } catch (error) {
      meta.close();
      throw error;
    }
  }

  get blockSize(): number {
    return this.settings.blockSize;
  }

  setSetting(key: 'min_age_days' | 'cleanup_grace_seconds', value: number): void {
    if (!Number.isFinite(value) || value < 0) throw new EngineError('INVALID_ARGUMENT', `${key} must be zero or more`);
    this.meta.setSetting(key, String(value));
    if (key === 'min_age_days') this.settings.minAgeDays = value;
    else this.settings.cleanupGraceSeconds = value;
  }

  close(): void {
    this.meta.close();
  }
}
