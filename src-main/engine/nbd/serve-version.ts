// Serving a version over NBD (instant access): a VersionExport behind an NbdServer on a Unix
// socket or 127.0.0.1, with the commands that attach it. The CLI's serve-nbd and the services
// (the GUI's "Serve over NBD") both start and stop servings through here. *Saving* a
// copy-on-write serving (serve-nbd --save-as, backy2's repair workflow) backs up its disk as
// a new version whose base is the served version: the overlay's blocks are the change list,
// every other block comes from the base unread.
import type { BackupResult } from '../../../src-shared/model';
import { EngineError } from '../errors';
import type { Source } from '../io/port';
import { backup, checkVersionName } from '../pipeline/backup';
import type { RunOptions } from '../pipeline/progress';
import type { Repository } from '../repository';
import { VersionState } from '../meta/schema';
import { formatNbdUrl, type NbdEndpoint } from './address';
import { NbdServer, type Listen } from './server';
import { VersionExport } from './version-export';

export interface ServeVersionOptions {
  /** a Unix socket path, or a TCP port on 127.0.0.1 (0: any free port) */
  listen: Listen;
  /** writes go to an overlay (a sparse temporary file) instead of being refused */
  cow?: boolean;
  /** the folder the overlay's private folder is made in (default: the temporary directory) */
  overlayDir?: string;
  /** with cow: the name the changed disk will be saved as (checked now, so a bad name fails at once) */
  saveAs?: string;
  exportName?: string;
}

export interface Serving {
  uid: string;
  url: string;
  /** ways to attach the export (for people: printed by the CLI, shown by the GUI) */
  attach: string[];
  readonly backend: VersionExport;
  readonly server: NbdServer;
  /** Stops serving and removes the overlay (unsaved changes are gone). */
  stop(): Promise<void>;
}

export async function serveVersion(repo: Repository, uid: string, options: ServeVersionOptions): Promise<Serving> {
  if (options.saveAs !== undefined) {
    if (!options.cow) throw new EngineError('INVALID_ARGUMENT', 'saving a served version needs copy-on-write (--cow): a read-only serving has no changes');
    checkVersionName(options.saveAs);
    const version = repo.meta.requireVersion(uid);
    if (version.state !== VersionState.valid) throw new EngineError('INVALID_ARGUMENT', `version ${version.uid} is not valid: its changes cannot be saved as a new version on top of it (scrub it first)`);
  }
  const backend = await VersionExport.open(repo, uid, { cow: options.cow, overlayDir: options.overlayDir });
  let server: NbdServer;
  try {
    server = await NbdServer.listen(options.listen, options.exportName ?? backend.uid, backend);
  } catch (error) {
    await backend.close();
    throw error;
  }
  const url = formatNbdUrl(server.address);
  const attach = attachCommands(url, server.address.endpoint, server.address.exportName, backend.uid, options.cow === true);
  const stop = async (): Promise<void> => {
    await server.close();
    await backend.close();
  };
  return { uid: backend.uid, url, attach, backend, server, stop };
}

/** The served disk as a backup source: overlay blocks over the version's. */
function servedDisk(backend: VersionExport): Source {
  return {
    description: `the copy-on-write overlay of version ${backend.uid}`,
    size: backend.size,
    sequential: false,
    async read(offset: number, buffer: Buffer, length: number): Promise<number> {
      const n = Math.max(0, Math.min(length, backend.size - offset));
      (await backend.read(offset, n)).copy(buffer);
      return n;
    },
    async close(): Promise<void> {},
  };
}

export interface SaveOptions extends RunOptions {
  name: string;
  /** the new version's UID (default: a random UUID) */
  uid?: string;
  snapshot?: string;
  tags?: string[];
}

/**
 * Stops listening and keeps the served disk as a new version whose base is the served one:
 * only the overlay's blocks are read, every other block is the base's. The overlay stays until
 * `serving.stop()`; a failed save leaves no new version, and the served version never changes.
 */
export async function saveServing(repo: Repository, serving: Serving, options: SaveOptions): Promise<BackupResult> {
  if (!serving.backend.writable) throw new EngineError('INVALID_ARGUMENT', `version ${serving.uid} is served read-only: there are no changes to save`);
  await serving.server.close();
  await serving.backend.settled();
  const changed = serving.backend.changedExtents();
  return backup(repo, {
    source: `serve-nbd ${serving.uid} --cow`,
    input: servedDisk(serving.backend),
    name: options.name,
    uid: options.uid,
    snapshot: options.snapshot,
    tags: options.tags,
    from: serving.uid,
    hints: changed.map((extent) => ({ ...extent, exists: true })),
    // The change list is exact (every write went through the overlay) and the disk no longer changes.
    hintSamples: 0,
    sourceSamples: 0,
    signal: options.signal,
    onProgress: options.onProgress,
    progressIntervalMs: options.progressIntervalMs,
  });
}

/** A word for a POSIX shell: as it is when it has no special characters, else in single quotes. */
export function shellWord(text: string): string {
  return /^[A-Za-z0-9_\/.:,=@%+-]+$/.test(text) ? text : `'${text.replace(/'/g, `'\\''`)}'`;
}

/**
 * Commands that attach a served export, ready to paste into a shell (the URL is quoted: its
 * `?` is a glob character): inspect it, copy it to a file, map its data, mount it as a file
 * with FUSE, or connect it as a kernel block device where the nbd module exists.
 */
export function attachCommands(url: string, endpoint: NbdEndpoint, exportName: string, uid: string, cow: boolean): string[] {
  const u = shellWord(url);
  const mountpoint = shellWord(`/tmp/mnt/${uid}`);
  const nbdClientAddress = endpoint.kind === 'unix' ? `-unix ${shellWord(endpoint.path)}` : `${endpoint.host} ${endpoint.port}`;
  return [
    `qemu-img info ${u}`,
    `qemu-img convert -p -O raw ${u} ${shellWord(`${uid}.raw`)}`,
    `nbdinfo --map ${u}`,
    `mkdir -p ${mountpoint} && nbdfuse ${cow ? '' : '-r '}${mountpoint} ${u} &`,
    `qemu-nbd --connect=/dev/nbd0 --format=raw${cow ? '' : ' --read-only'} ${u}`,
    `nbd-client ${nbdClientAddress} /dev/nbd0 -N ${shellWord(exportName)}${cow ? '' : ' -readonly'}`,
  ];
}
