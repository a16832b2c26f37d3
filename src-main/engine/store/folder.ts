// Folder object store: the ObjectStore of a repository folder. Keys map to files under the
// root: `objects/<digest>` to objects/<digest[0:2]>/<digest[2:4]>/<digest> (the layout every
// repository and golden fixture has), any other key `a/b` to a/b. A put writes a temporary
// file `<file>.tmp-<pid>-<thread>-<n>` and renames it into place, so an item is visible whole
// or not at all; durability comes from `barrier` (syncfs) or, with `syncEachPut`, an fsync
// per item. Nouns: a *leftover* is the temporary file of a put that never finished.
import { execFile } from 'node:child_process';
import { mkdirSync, promises as fs } from 'node:fs';
import { dirname, join } from 'node:path';
import { promisify } from 'node:util';
import { isMainThread, threadId } from 'node:worker_threads';
import { EngineError, toEngineError } from '../errors';
import { OBJECTS_DIR, objectRelativePath } from '../format';
import { DirectMode, readWholeFile, writeNewFile } from './folder-io';
import { Syncer } from './folder-sync';
import { OBJECT_PREFIX, type ByteRange, type ObjectStore, type StoreEntry, type StoreSpec } from './port';

const run = promisify(execFile);
type FolderSpec = Extract<StoreSpec, { kind: 'folder' }>;

/** Keys: two or more segments of lowercase ASCII (so no key can name a file at the root). */
const KEY = /^[a-z0-9][a-z0-9._-]*(\/[a-z0-9][a-z0-9._-]*)+$/;
const OBJECT_NAME = /^[0-9a-f]{4,128}$/;
const HEX_DIR = /^[0-9a-f]{2}$/;
const LEFTOVER = /\.tmp-[0-9a-z-]+$/;
let putCounter = 0;
const BUFFERED = new DirectMode(false);

/** Creates the folders of a new folder store (its root and objects/), as `init` does. */
export function prepareFolderStore(root: string): void {
  mkdirSync(join(root, OBJECTS_DIR), { recursive: true });
}

export class FolderStore implements ObjectStore {
  readonly kind = 'folder' as const;
  readonly location: string;
  private readonly direct: DirectMode;
  private syncer: Syncer | undefined;

  constructor(private readonly folder: FolderSpec) {
    this.location = folder.root;
    this.direct = new DirectMode(folder.direct);
  }

  spec(): StoreSpec {
    return { ...this.folder };
  }

  /** The file of a key (or, with `leftover`, of a leftover's key as `list` names it). */
  private file(key: string, leftover = false): string {
    const base = leftover ? key.replace(LEFTOVER, '') : key;
    const suffix = key.slice(base.length);
    if (!KEY.test(base)) throw new EngineError('INVALID_ARGUMENT', `not a store key: "${key}"`);
    if (base.startsWith(OBJECT_PREFIX)) {
      const name = base.slice(OBJECT_PREFIX.length);
      if (!OBJECT_NAME.test(name)) throw new EngineError('INVALID_ARGUMENT', `not an object key: "${key}"`);
      return join(this.folder.root, OBJECTS_DIR, objectRelativePath(name)) + suffix;
    }
    if (base.includes('.tmp-')) throw new EngineError('INVALID_ARGUMENT', `not a store key: "${key}"`);
    return join(this.folder.root, base) + suffix;
  }

  async put(key: string, data: Buffer, signal?: AbortSignal): Promise<void> {
    const file = this.file(key);
    if (signal?.aborted) throw new EngineError('CANCELED', `put of ${key} canceled`);
    // Unique per process and thread: workers of two jobs may write the same item at once.
    const tmp = `${file}.tmp-${process.pid}-${threadId}-${putCounter++}`;
    const sync = this.folder.syncEachPut ?? false;
    // O_DIRECT is for objects; a manifest or the config (small, read back by recover) is one
    // buffered write instead of a direct open and a second open for its tail.
    const direct = key.startsWith(OBJECT_PREFIX) ? this.direct : BUFFERED;
    try {
      try {
        await writeNewFile(tmp, data, direct, sync);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
        await fs.mkdir(dirname(tmp), { recursive: true });
        await writeNewFile(tmp, data, direct, sync);
      }
      if (signal?.aborted) throw new EngineError('CANCELED', `put of ${key} canceled`);
      await fs.rename(tmp, file);
    } catch (error) {
      await fs.unlink(tmp).catch(() => undefined);
      throw toEngineError(error, `store ${this.location}: put ${key}`);
    }
  }

  async get(key: string, range?: ByteRange, signal?: AbortSignal): Promise<Buffer> {
    const file = this.file(key);
    if (signal?.aborted) throw new EngineError('CANCELED', `get of ${key} canceled`);
    try {
      if (!range) return await fs.readFile(file);
      const handle = await fs.open(file, 'r');
      try {
        const size = (await handle.stat()).size;
        const start = Math.min(range.offset, size);
        const length = Math.max(0, Math.min(range.length, size - start));
        const buffer = Buffer.allocUnsafe(length);
        let done = 0;
        while (done < length) {
          const { bytesRead } = await handle.read(buffer, done, length - done, start + done);
          if (bytesRead === 0) break;
          done += bytesRead;
        }
        return buffer.subarray(0, done);
      } finally {
        await handle.close();
      }
    } catch (error) {
      throw this.readError(error, key);
    }
  }

  async getInto(key: string, buffer: Buffer, options: { maxSize?: number; signal?: AbortSignal } = {}): Promise<Buffer> {
    const file = this.file(key);
    if (options.signal?.aborted) throw new EngineError('CANCELED', `get of ${key} canceled`);
    try {
      return await readWholeFile(file, buffer, this.direct, (size) => {
        if (options.maxSize !== undefined && size > options.maxSize) {
          throw new EngineError('OBJECT_CORRUPT', `${key} has ${size} bytes, more than the ${options.maxSize} an item of it can have`);
        }
      });
    } catch (error) {
      throw this.readError(error, key);
    }
  }

  private readError(error: unknown, key: string): EngineError {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return new EngineError('OBJECT_MISSING', `${key} is missing`);
    return toEngineError(error, `store ${this.location}: get ${key}`);
  }

  async size(key: string): Promise<number | null> {
    try {
      return (await fs.stat(this.file(key))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw toEngineError(error, `store ${this.location}: size of ${key}`);
    }
  }

  async delete(key: string): Promise<void> {
    try {
      await fs.unlink(this.file(key, true));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw toEngineError(error, `store ${this.location}: delete ${key}`);
    }
  }

  async *list(prefix: string, signal?: AbortSignal): AsyncGenerator<StoreEntry> {
    // Objects: walk the fan-out folders; other keys: walk the folders beside objects/.
    if (OBJECT_PREFIX.startsWith(prefix) || prefix.startsWith(OBJECT_PREFIX)) {
      const objects = join(this.folder.root, OBJECTS_DIR);
      for await (const first of entries(objects)) {
        if (!HEX_DIR.test(first)) continue;
        for await (const second of entries(join(objects, first))) {
          if (!HEX_DIR.test(second)) continue;
          for await (const name of entries(join(objects, first, second))) {
            if (signal?.aborted) throw new EngineError('CANCELED', 'listing canceled');
            const key = `${OBJECT_PREFIX}${name}`;
            const temporary = LEFTOVER.test(name);
            if (!OBJECT_NAME.test(temporary ? name.replace(LEFTOVER, '') : name) || !key.startsWith(prefix)) continue;
            yield { key, size: await fileSize(join(objects, first, second, name)), temporary };
          }
        }
      }
    }
    yield* this.walk('', prefix, signal);
  }

  /** Keys of files under `relative` (a folder below the root, not objects/) that start with prefix. */
  private async *walk(relative: string, prefix: string, signal?: AbortSignal): AsyncGenerator<StoreEntry> {
    const folder = join(this.folder.root, relative);
    for await (const name of entries(folder)) {
      if (signal?.aborted) throw new EngineError('CANCELED', 'listing canceled');
      const key = relative ? `${relative}/${name}` : name;
      if (!relative && name === OBJECTS_DIR) continue;
      // Only descend where keys with the prefix can be; files at the root are not items.
      if (!(key.startsWith(prefix) || prefix.startsWith(`${key}/`))) continue;
      const stats = await fs.lstat(join(folder, name)).catch(() => null);
      if (!stats) continue;
      if (stats.isDirectory()) yield* this.walk(key, prefix, signal);
      else if (relative && stats.isFile()) {
        const temporary = LEFTOVER.test(key);
        if (KEY.test(temporary ? key.replace(LEFTOVER, '') : key)) yield { key, size: stats.size, temporary };
      }
    }
  }

  /**
   * Makes every item written so far durable: syncfs(2) of the store's file system, through
   * `sync --file-system` (Node has no syncfs). On the main thread a syncer (folder-sync.ts)
   * does it, started at the first barrier and kept until the store closes: starting a process
   * blocks the calling thread for 10-40 ms in a process of a few hundred MB. A worker thread
   * starts `sync` itself (a process it started would not be reaped once the worker ended).
   */
  async barrier(): Promise<void> {
    try {
      if (isMainThread) await (this.syncer ??= new Syncer(this.folder.root)).sync();
      else await run('sync', ['--file-system', this.folder.root]);
    } catch (error) {
      throw new EngineError('IO_ERROR', `cannot sync object store ${this.location}: ${(error as Error).message}`, { cause: error });
    }
  }

  async space(): Promise<{ used: number | null; free: number | null }> {
    const stats = await fs.statfs(this.folder.root);
    return { used: (stats.blocks - stats.bfree) * stats.bsize, free: stats.bavail * stats.bsize };
  }

  async close(): Promise<void> {
    this.syncer?.close();
    this.syncer = undefined;
  }
}

/** Names in a folder, streamed; none when it does not exist. */
async function* entries(path: string): AsyncGenerator<string> {
  let dir;
  try {
    dir = await fs.opendir(path, { bufferSize: 256 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT' || (error as NodeJS.ErrnoException).code === 'ENOTDIR') return;
    throw error;
  }
  for await (const entry of dir) yield entry.name;
}

async function fileSize(path: string): Promise<number | null> {
  return (await fs.stat(path).catch(() => null))?.size ?? null;
}
