// Files and block devices as sources and targets. A *new* target is written under a hidden
// temporary name in the target's folder (`.NAME.blockvault-partial-<pid>-<random>`) and
// renamed into place only by `finish`, after every block was verified and flushed: a failed or
// killed restore never leaves a file of the target's name. An *existing* target (only with
// force) is overwritten in place: a regular file ends at the version's size, a device keeps
// its size. Sizes of block devices come from sysfs.
import { randomBytes } from 'node:crypto';
import { closeSync, constants, fstatSync, ftruncateSync, openSync, readFileSync, unlinkSync, type Stats } from 'node:fs';
import { promises as fs } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { EngineError, toEngineError } from '../errors';
import { closeAsync, fsyncAsync, readAsync, UNIT, writeFully } from '../store/folder-io';
import type { IoSpec, Source, Target, TargetOptions } from './port';

function deviceSize(stats: Stats, path: string): number {
  const major = Math.floor(stats.rdev / 256) & 0xfff;
  const minor = (stats.rdev & 0xff) | ((stats.rdev >> 12) & 0xfff00);
  try {
    const sectors = Number(readFileSync(`/sys/dev/block/${major}:${minor}/size`, 'utf8').trim());
    return sectors * 512;
  } catch (error) {
    throw new EngineError('IO_ERROR', `cannot read the size of block device ${path}: ${(error as Error).message}`, { cause: error });
  }
}

/** Size of a regular file or block device; anything else is refused. */
function sizeOf(stats: Stats, path: string, what: string): number {
  if (stats.isBlockDevice()) return deviceSize(stats, path);
  if (stats.isFile()) return stats.size;
  throw new EngineError('INVALID_ARGUMENT', `${what} ${path} is neither a regular file nor a block device`);
}

/** A regular file with less than a quarter of its bytes allocated. */
function mostlySparse(stats: Stats): boolean {
  return stats.isFile() && stats.size > 0 && stats.blocks * 512 < stats.size / 4;
}

/** A regular file or block device, opened read-only; it is never written. */
export class FileSource implements Source {
  readonly sequential = false;
  readonly size: number;
  private readonly direct: boolean;
  private closed = false;

  private constructor(readonly description: string, private readonly fd: number, stats: Stats) {
    this.size = sizeOf(stats, description, 'source');
    // Block devices (and mostly sparse files, whose holes would fill the cache with zero pages)
    // are read with O_DIRECT: a whole disk read through the page cache would push everything
    // else out of it, and the cache would never serve the next backup anyway.
    this.direct = stats.isBlockDevice() || mostlySparse(stats);
  }

  /** Opens `path` (already known to be a regular file or block device). */
  static open(path: string): FileSource {
    let fd: number;
    try {
      fd = openSync(path, constants.O_RDONLY);
    } catch (error) {
      const code = (error as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw new EngineError('NOT_FOUND', `source ${path} does not exist`);
      throw new EngineError('IO_ERROR', `cannot open source ${path}: ${(error as Error).message}`, { cause: error });
    }
    try {
      return new FileSource(path, fd, fstatSync(fd));
    } catch (error) {
      closeSync(fd);
      throw error;
    }
  }

  async read(offset: number, buffer: Buffer, length: number, signal?: AbortSignal): Promise<number> {
    let done = 0;
    while (done < length) {
      if (signal?.aborted) throw new EngineError('CANCELED', `reading ${this.description} canceled`);
      const n = await readAsync(this.fd, buffer, done, length - done, offset + done);
      if (n === 0) break;
      done += n;
    }
    return done;
  }

  spec(): IoSpec {
    return { kind: 'file', path: this.description, direct: this.direct };
  }

  async close(): Promise<void> {
    if (!this.closed) closeSync(this.fd);
    this.closed = true;
  }
}

/** Facts about a would-be target without opening it for writing. */
export function inspectTarget(path: string): { exists: boolean; size: number; isDevice: boolean } {
  let stats: Stats;
  try {
    stats = fstatOrStat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, size: 0, isDevice: false };
    throw new EngineError('IO_ERROR', `cannot inspect target ${path}: ${(error as Error).message}`, { cause: error });
  }
  return { exists: true, size: sizeOf(stats, path, 'target'), isDevice: stats.isBlockDevice() };
}

function fstatOrStat(path: string): Stats {
  const fd = openSync(path, constants.O_RDONLY | constants.O_NONBLOCK);
  try {
    return fstatSync(fd);
  } finally {
    closeSync(fd);
  }
}

export class FileTarget implements Target {
  readonly sequential = false;
  private closed = false;
  /**
   * The same file opened with O_DIRECT, for writes whose offset, length and memory are 4 KiB
   * aligned (see spec()); undefined when the file system refuses it or a write found the
   * memory unaligned.
   */
  private directFd: number | undefined;

  private constructor(
    readonly description: string,
    /** the file written: the temporary name of a new file, else the target itself */
    private readonly path: string,
    private readonly fd: number,
    readonly size: number | null,
    private readonly kind: 'new' | 'file' | 'device',
  ) {
    try {
      this.directFd = openSync(path, constants.O_WRONLY | constants.O_DIRECT);
    } catch {
      // the file system refuses O_DIRECT: the page cache it is
    }
  }

  get overwrites(): boolean {
    return this.kind !== 'new';
  }

  get zeroed(): boolean {
    return this.kind === 'new';
  }

  /** Opens `path` as a restore target: a new file, or (with force) an existing file or device. */
  static async open(path: string, options: TargetOptions): Promise<FileTarget> {
    const existing = inspectTarget(path);
    if (existing.exists) {
      if (!options.force) throw new EngineError('TARGET_EXISTS', `target ${path} exists; use --force to overwrite it`);
      if (existing.size < options.size) {
        throw new EngineError('TARGET_TOO_SMALL', `target ${path} has ${existing.size} bytes, the version needs ${options.size}`);
      }
      const fd = openOrThrow(path, constants.O_WRONLY);
      return new FileTarget(path, path, fd, existing.size, existing.isDevice ? 'device' : 'file');
    }
    const temporary = join(dirname(path), `.${basename(path)}.blockvault-partial-${process.pid}-${randomBytes(4).toString('hex')}`);
    const fd = openOrThrow(temporary, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, path);
    try {
      ftruncateSync(fd, options.size);
    } catch (error) {
      closeSync(fd);
      await fs.unlink(temporary).catch(() => undefined);
      throw toEngineError(error, `cannot create target ${path}`);
    }
    pendingTemporaries.add(temporary);
    return new FileTarget(path, temporary, fd, null, 'new');
  }

  async write(offset: number, data: Buffer): Promise<void> {
    if (this.directFd !== undefined && offset % UNIT === 0 && data.length % UNIT === 0) {
      try {
        return await writeFully(this.directFd, data, offset);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
        // memory that is not page-aligned: this write (and any like it) through the page cache
      }
    }
    await writeFully(this.fd, data, offset);
  }

  async writeZeros(offset: number, length: number): Promise<void> {
    const zeros = Buffer.alloc(Math.min(length, 1 << 20));
    for (let done = 0; done < length; done += zeros.length) await writeFully(this.fd, zeros.subarray(0, Math.min(zeros.length, length - done)), offset + done);
  }

  async flush(): Promise<void> {
    await fsyncAsync(this.fd);
  }

  async finish(size: number): Promise<void> {
    if (this.kind === 'file') ftruncateSync(this.fd, size);
    await this.flush();
    await this.close();
    if (this.kind === 'new') {
      await publish(this.path, this.description);
      pendingTemporaries.delete(this.path);
    }
  }

  async abort(): Promise<void> {
    await this.close();
    if (this.kind === 'new') {
      await fs.unlink(this.path).catch(() => undefined);
      pendingTemporaries.delete(this.path);
    }
  }

  spec(): IoSpec {
    // Writing through the page cache costs a host fault per new page on these VMs and evicts
    // useful cache: targets are written with O_DIRECT where the transfer is aligned.
    return { kind: 'file', path: this.path, direct: true };
  }

  private async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    if (this.directFd !== undefined) await closeAsync(this.directFd);
    await closeAsync(this.fd);
  }
}

/**
 * Temporary files of new targets not yet finished or aborted. A process that exits before a
 * cancelled restore's abort ran (the CLI quits at most 2 s after Ctrl-C or SIGTERM, however
 * busy the machine) removes them on its way out, so nothing of the target's name remains.
 */
const pendingTemporaries = new Set<string>();
process.on('exit', () => {
  for (const temporary of pendingTemporaries) {
    try { unlinkSync(temporary); } catch { /* already gone */ }
  }
});

function openOrThrow(path: string, flags: number, shownAs = path): number {
  try {
    return openSync(path, flags, 0o600);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new EngineError('TARGET_EXISTS', `target ${shownAs} exists; use --force to overwrite it`);
    if (code === 'ENOENT') throw new EngineError('NOT_FOUND', `cannot create target ${shownAs}: its directory does not exist`);
    throw new EngineError('IO_ERROR', `cannot open target ${shownAs}: ${(error as Error).message}`, { cause: error });
  }
}

/**
 * Gives the finished temporary file its final name: a hard link, which fails when a file of
 * that name appeared meanwhile (rename would replace it), then the temporary name goes; where
 * the file system has no hard links, a rename after checking the name is still free. The
 * folder is synced so the name survives a crash.
 */
async function publish(temporary: string, path: string): Promise<void> {
  try {
    await fs.link(temporary, path);
    await fs.unlink(temporary);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') {
      await fs.unlink(temporary).catch(() => undefined);
      throw new EngineError('TARGET_EXISTS', `target ${path} appeared while the restore ran; the restored image was discarded`);
    }
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'EOPNOTSUPP' && code !== 'EMLINK') throw toEngineError(error, `cannot name the restored file ${path}`);
    if (inspectTarget(path).exists) {
      await fs.unlink(temporary).catch(() => undefined);
      throw new EngineError('TARGET_EXISTS', `target ${path} appeared while the restore ran; the restored image was discarded`);
    }
    await fs.rename(temporary, path);
  }
  const folder = await fs.open(dirname(path), 'r');
  try {
    await folder.sync();
  } finally {
    await folder.close();
  }
}
