// Path locks: no restore writes what a running backup reads, and no backup reads what a
// running restore writes, across processes sharing the repository (lock rows in its
// metadata, taken over when their process is gone). A path's *identities* are its real path
// and, when it exists, what it is on disk: a block device by its device number (two device
// nodes or symlinks to one disk meet), a file by device and inode (hard links meet). Paths
// that are not local files (nbd://, s3:// ...) have none and take no lock.
import { randomUUID } from 'node:crypto';
import { realpathSync, statSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import type { Metadata } from '../meta/database';

export function pathIdentities(path: string): string[] {
  if (!path.startsWith('/')) return [];
  let real: string;
  try {
    real = realpathSync(path);
  } catch {
    try {
      real = join(realpathSync(dirname(path)), basename(path));
    } catch {
      return [];
    }
  }
  const identities = [`real:${real}`];
  try {
    const stats = statSync(real);
    if (stats.isBlockDevice() || stats.isCharacterDevice()) identities.push(`device:${stats.rdev}`);
    else identities.push(`inode:${stats.dev}:${stats.ino}`);
  } catch {
    // not there yet: a new file is known by its real path only
  }
  return identities;
}

/** Takes the path's locks for a job; returns the function that releases them. */
export function lockPath(meta: Metadata, path: string, kind: 'read' | 'write', reason: string): () => void {
  const identities = pathIdentities(path);
  if (identities.length === 0) return () => {};
  const names = meta.acquirePathLocks(kind, identities, randomUUID(), reason);
  return () => meta.releasePathLocks(names);
}
