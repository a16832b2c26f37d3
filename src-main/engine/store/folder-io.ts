// File I/O of the folder store: whole files written and read with O_DIRECT where that pays.
// Nouns: a *unit* is 4 KiB, the alignment O_DIRECT needs (offsets, lengths and the memory of
// the buffer). An item's whole units go direct, its short tail through the page cache. A
// file system that refuses O_DIRECT fails the open with EINVAL; a buffer that is not
// page-aligned fails the transfer with EINVAL: both fall back to the page cache.
//
// Why: on the VMs we measured, each new page-cache page costs a host fault (about 14 µs per
// 4 KiB, which was 45% of a fresh backup), and a backup's objects are rarely read soon.
// Everything here runs its system calls on libuv's thread pool (or, for the cheap open and
// fstat of a read, on the calling thread), so a worker computes one block while another
// waits on the disk.
import { close, closeSync, constants, fstatSync, fsync, open, openSync, read, write } from 'node:fs';
import { alignedBuffer } from '../codec/object';

export const UNIT = 4096;
export const roundUp = (n: number): number => Math.ceil(n / UNIT) * UNIT;

const call = <T>(run: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));
export const openAsync = (path: string, flags: number | string, mode?: number): Promise<number> => call((done) => open(path, flags, mode, done));
export const closeAsync = (fd: number): Promise<void> => call<void>((done) => close(fd, (error) => done(error, undefined)));
export const fsyncAsync = (fd: number): Promise<void> => call<void>((done) => fsync(fd, (error) => done(error, undefined)));
export const readAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  call((done) => read(fd, buffer, offset, length, position, done));
export const writeAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  call((done) => write(fd, buffer, offset, length, position, done));

export async function writeFully(fd: number, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += await writeAsync(fd, data, done, data.length - done, position + done);
}

const isEinval = (error: unknown): boolean => (error as NodeJS.ErrnoException)?.code === 'EINVAL';

/** Whether this folder still takes O_DIRECT (switched off at the first refusal of an open). */
export class DirectMode {
  constructor(public enabled: boolean) {}
}

/**
 * Writes `data` as the new file `path` (created exclusively): its whole units with O_DIRECT,
 * the tail through the page cache; fsynced when `sync`.
 */
export async function writeNewFile(path: string, data: Buffer, direct: DirectMode, sync: boolean): Promise<void> {
  const head = data.length - (data.length % UNIT);
  let directFd: number | undefined;
  if (direct.enabled && head > 0) {
    try {
      directFd = await openAsync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644);
    } catch (error) {
      if (!isEinval(error)) throw error;
      direct.enabled = false;
    }
  }
  let done = 0;
  if (directFd !== undefined) {
    try {
      while (done < head) {
        const n = await writeAsync(directFd, data, done, head - done, done);
        done += n;
        if (n % UNIT !== 0) break; // a short odd write: finish through the page cache
      }
    } catch (error) {
      if (!isEinval(error)) throw error;
      done = 0; // a buffer that is not page-aligned: all of it through the page cache
    } finally {
      await closeAsync(directFd);
    }
  }
  if (directFd !== undefined && done === data.length && !sync) return; // no tail to write
  const fd = await openAsync(path, directFd === undefined ? 'wx' : 'r+', 0o644);
  try {
    await writeFully(fd, data.subarray(done), done);
    if (sync) await fsyncAsync(fd);
  } finally {
    await closeAsync(fd);
  }
}

/** Opens a file for reading, with O_DIRECT while the file system accepts it. Throws ENOENT as is. */
function openForRead(path: string, direct: DirectMode): { fd: number; direct: boolean } {
  if (direct.enabled) {
    try {
      return { fd: openSync(path, constants.O_RDONLY | constants.O_DIRECT), direct: true };
    } catch (error) {
      if (!isEinval(error)) throw error;
      direct.enabled = false;
    }
  }
  return { fd: openSync(path, 'r'), direct: false };
}

/**
 * Reads the whole file into `buffer` (or a new page-aligned buffer when it lacks room);
 * returns the bytes. `tooLarge` is called with the size before anything is read.
 */
export async function readWholeFile(path: string, buffer: Buffer, direct: DirectMode, tooLarge: (size: number) => void): Promise<Buffer> {
  let opened = openForRead(path, direct);
  try {
    const size = fstatSync(opened.fd).size;
    tooLarge(size);
    for (;;) {
      const room = opened.direct ? roundUp(size) : size;
      if (room > buffer.length) buffer = alignedBuffer(roundUp(size));
      let done = 0;
      try {
        while (done < size) {
          // O_DIRECT reads whole units at aligned offsets; the last one ends at the end of file.
          const n = await readAsync(opened.fd, buffer, done, room - done, done);
          if (n === 0) break;
          done += n;
        }
        return buffer.subarray(0, Math.min(done, size));
      } catch (error) {
        if (!opened.direct || !isEinval(error)) throw error;
        // a buffer that is not page-aligned: read this file through the page cache
        closeSync(opened.fd);
        opened = { fd: openSync(path, 'r'), direct: false };
      }
    }
  } finally {
    closeSync(opened.fd);
  }
}
