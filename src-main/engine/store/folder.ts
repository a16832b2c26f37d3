// Folder object store: objects/<digest[0:2]>/<digest[2:4]>/<digest>, written by the workers
// through a temporary name and a rename. Nouns: an *object name* is a lowercase hex digest.
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { EngineError } from '../errors';
import { objectRelativePath } from '../format';

const run = promisify(execFile);
const HEX_NAME = /^[0-9a-f]{64}$/;
const HEX_DIR = /^[0-9a-f]{2}$/;

export class FolderStore {
  constructor(readonly root: string) {}

  objectPath(name: string): string {
    return join(this.root, objectRelativePath(name));
  }

  /** Stored size of an object, or null when it does not exist. */
  async size(name: string): Promise<number | null> {
    try {
      return (await fs.stat(this.objectPath(name))).size;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw error;
    }
  }

  async delete(name: string): Promise<void> {
    try {
      await fs.unlink(this.objectPath(name));
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    }
  }

  /** Every object name in the store, and leftover temporary files (crashed writes). */
  async *list(): AsyncGenerator<{ name: string; temporary: boolean; path: string }> {
    for (const first of await readDirectory(this.root)) {
      if (!HEX_DIR.test(first)) continue;
      for (const second of await readDirectory(join(this.root, first))) {
        if (!HEX_DIR.test(second)) continue;
        const folder = join(this.root, first, second);
        for (const entry of await readDirectory(folder)) {
          const name = entry.slice(0, 64);
          if (!HEX_NAME.test(name)) continue;
          yield { name, temporary: entry.length !== 64, path: join(folder, entry) };
        }
      }
    }
  }
}

async function readDirectory(path: string): Promise<string[]> {
  try {
    return await fs.readdir(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

/**
 * Makes every object written so far durable: syncfs(2) of the file system that holds `path`
 * (the store's root), through `sync --file-system` (Node has no
 * syncfs). Starting a process blocks the calling thread for 20-30 ms in a process of a few
 * hundred MB, so a backup asks a worker thread to do it (see the worker's `syncfs` op) and
 * keeps its main thread, which serves the GUI, responsive.
 */
export async function syncFileSystem(path: string): Promise<void> {
  try {
    await run('sync', ['--file-system', path]);
  } catch (error) {
    throw new EngineError('IO_ERROR', `cannot sync object store ${path}: ${(error as Error).message}`, { cause: error });
  }
}
