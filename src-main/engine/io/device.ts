// Sources and targets on the local machine. A *source* is a regular file or a block device
// opened read-only; a *target* is where a restore writes: a new file, or an existing file or
// device (only with force). Sizes of block devices come from sysfs.
import { closeSync, constants, fstatSync, openSync, readFileSync, type Stats } from 'node:fs';
import { EngineError } from '../errors';

export interface OpenedFile {
  fd: number;
  /**
   * The same file opened with O_DIRECT, where that pays: a restore target (writing through
   * the page cache costs a host fault per new page on these VMs and evicts useful cache), a
   * block device source, and a mostly sparse source (reading holes would fill the cache with
   * zero pages).
   */
  directFd?: number;
  path: string;
  size: number;
  isDevice: boolean;
  close(): void;
}

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

/** Opens path again with O_DIRECT, or returns undefined where the file system refuses it. */
function openDirect(path: string, flags: number): number | undefined {
  try {
    return openSync(path, flags | constants.O_DIRECT);
  } catch {
    return undefined;
  }
}

function describe(fd: number, path: string, directFlags?: number): OpenedFile {
  const stats = fstatSync(fd);
  const isDevice = stats.isBlockDevice();
  if (!isDevice && !stats.isFile()) {
    closeSync(fd);
    throw new EngineError('INVALID_ARGUMENT', `${path} is neither a regular file nor a block device`);
  }
  let closed = false;
  const size = isDevice ? deviceSize(stats, path) : stats.size;
  const directFd = directFlags === undefined ? undefined : openDirect(path, directFlags);
  return {
    fd,
    directFd,
    path,
    size,
    isDevice,
    close() {
      if (!closed) {
        closeSync(fd);
        if (directFd !== undefined) closeSync(directFd);
      }
      closed = true;
    },
  };
}

/** A regular file with less than a quarter of its bytes allocated. */
function mostlySparse(fd: number): boolean {
  const stats = fstatSync(fd);
  return stats.isFile() && stats.size > 0 && stats.blocks * 512 < stats.size / 4;
}

/** Opens a source read-only; it is never written. */
export function openSource(path: string): OpenedFile {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new EngineError('NOT_FOUND', `source ${path} does not exist`);
    throw new EngineError('IO_ERROR', `cannot open source ${path}: ${(error as Error).message}`, { cause: error });
  }
  // Block devices are read with O_DIRECT too: a whole disk read through the page cache would
  // push everything else out of it, and the cache would never serve the next backup anyway.
  const direct = mostlySparse(fd) || fstatSync(fd).isBlockDevice();
  return describe(fd, path, direct ? constants.O_RDONLY : undefined);
}

/** Facts about a would-be target without opening it for writing. */
export function inspectTarget(path: string): { exists: boolean; size: number; isDevice: boolean } {
  let fd: number;
  try {
    fd = openSync(path, constants.O_RDONLY);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { exists: false, size: 0, isDevice: false };
    throw new EngineError('IO_ERROR', `cannot inspect target ${path}: ${(error as Error).message}`, { cause: error });
  }
  const opened = describe(fd, path);
  opened.close();
  return { exists: true, size: opened.size, isDevice: opened.isDevice };
}

/** Opens a target for writing: creates a new file (exclusive) or opens an existing one. */
export function openTarget(path: string, create: boolean): OpenedFile {
  let fd: number;
  try {
    fd = create ? openSync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL, 0o600) : openSync(path, constants.O_WRONLY);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new EngineError('TARGET_EXISTS', `target ${path} exists; use --force to overwrite it`);
    if (code === 'ENOENT') throw new EngineError('NOT_FOUND', `cannot create target ${path}: its directory does not exist`);
    throw new EngineError('IO_ERROR', `cannot open target ${path}: ${(error as Error).message}`, { cause: error });
  }
  return describe(fd, path, constants.O_WRONLY);
}
