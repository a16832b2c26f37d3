// Worker thread body: reads source blocks, hashes, compresses and writes objects, and reads
// objects back for restore and scrub. Buffers are allocated on first use and then reused.
//
// CPU work (hashing, compression, decompression, verification) runs synchronously on this
// thread; object reads and writes and restore writes go to libuv's thread pool, so while one
// request waits for the disk the thread computes another. The pool sends a worker a few
// requests at once; the buffer pools below bound how many are past their CPU step.
import {
  close, closeSync, constants, fstatSync, fsync, mkdirSync, open, openSync, read, readlinkSync, readSync, rename, unlink, write,
} from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { dirname } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { ObjectCodec, alignedBuffer, isZero } from '../codec/object';
import { EngineError, toEngineError } from '../errors';
import { syncFileSystem } from '../store/folder';
import type { WorkerReply, WorkerRequest, WorkerSettings } from './protocol';

const settings = workerData as WorkerSettings;

/**
 * Worker threads run a few steps nicer than the process: when both cores are busy with
 * compression, the main thread (the GUI's IPC, web mode's server, progress) still gets a core
 * as soon as it wakes. Linux sets a thread's nice value by its kernel thread id.
 */
const WORKER_NICE_STEPS = 5;
try {
  const tid = Number(readlinkSync('/proc/thread-self').split('/').pop());
  if (Number.isInteger(tid) && tid > 0) setPriority(tid, Math.min(19, getPriority(tid) + WORKER_NICE_STEPS));
} catch {
  // not Linux, or not allowed: the default priority is fine
}
const codec = new ObjectCodec(settings.blockSize, settings.compression, settings.keys);
// Buffers are allocated on first use: a pool serves backups, scrubs and restores, which need
// different ones, and a fresh page costs a host fault on these VMs.
const slots: Array<Buffer | undefined> = new Array(settings.slots).fill(undefined);
const slot = (index: number): Buffer => (slots[index] ??= alignedBuffer(settings.blockSize));
let zeroBuffer: Buffer | undefined;
const zeroBlock = (): Buffer => (zeroBuffer ??= alignedBuffer(settings.blockSize));
const slotLength: number[] = new Array(settings.slots).fill(0);
const DIRECT_ALIGNMENT = 4096;
const roundUp = (n: number): number => Math.ceil(n / DIRECT_ALIGNMENT) * DIRECT_ALIGNMENT;
/** Requests of one worker that may wait on the disk at once, per kind of buffer. */
const IO_DEPTH = 2;
/**
 * Object files are written and read with O_DIRECT while the file system accepts it (one that
 * refuses it fails the open with EINVAL: the page cache is used from then on). See WorkerSettings.
 */
let directObjects = settings.directObjects;
let tmpCounter = 0;

/** At most `count` buffers, allocated on first need; acquire waits for a free one. */
class BufferPool {
  private readonly free: Buffer[] = [];
  private created = 0;
  private readonly waiters: Array<(buffer: Buffer) => void> = [];
  constructor(private readonly count: number, private readonly size: number) {}
  acquire(): Promise<Buffer> {
    const buffer = this.free.pop() ?? (this.created < this.count ? (this.created++, alignedBuffer(this.size)) : undefined);
    if (buffer) return Promise.resolve(buffer);
    return new Promise((resolve) => this.waiters.push(resolve));
  }
  release(buffer: Buffer): void {
    // A buffer grown for one odd object is dropped, not kept.
    if (buffer.length !== this.size) buffer = alignedBuffer(this.size);
    const waiter = this.waiters.shift();
    if (waiter) waiter(buffer);
    else this.free.push(buffer);
  }
}

// Room for the largest object (an incompressible block plus header and GCM overhead), rounded
// up for O_DIRECT reads, which read whole 4 KiB units past the end of the file.
const objectBuffers = new BufferPool(IO_DEPTH, roundUp(codec.encodedCapacity) + DIRECT_ALIGNMENT);
const plainBuffers = new BufferPool(IO_DEPTH, settings.blockSize);
const encodeBuffers = new BufferPool(IO_DEPTH, codec.encodedCapacity);

// ---- promise wrappers of the callback API (they run on libuv's thread pool)
const call = <T>(run: (done: (error: NodeJS.ErrnoException | null, value: T) => void) => void): Promise<T> =>
  new Promise<T>((resolve, reject) => run((error, value) => (error ? reject(error) : resolve(value))));
const openAsync = (path: string, flags: number | string, mode?: number): Promise<number> => call((done) => open(path, flags, mode, done));
const closeAsync = (fd: number): Promise<void> => call<void>((done) => close(fd, (error) => done(error, undefined)));
const readAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  call((done) => read(fd, buffer, offset, length, position, done));
const writeAsync = (fd: number, buffer: Buffer, offset: number, length: number, position: number): Promise<number> =>
  call((done) => write(fd, buffer, offset, length, position, done));

/** The O_DIRECT descriptor when the transfer is aligned for it, else the ordinary one. */
function pick(fd: number, directFd: number | undefined, position: number, length: number): number {
  return directFd !== undefined && position % DIRECT_ALIGNMENT === 0 && length % DIRECT_ALIGNMENT === 0 ? directFd : fd;
}

function readFully(fd: number, target: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, target, done, length - done, position + done);
    if (n === 0) throw new EngineError('IO_ERROR', `source ended at byte ${position + done}, expected ${length - done} more bytes`);
    done += n;
  }
}

async function writeFully(fd: number, data: Buffer, position: number): Promise<void> {
  let done = 0;
  while (done < data.length) done += await writeAsync(fd, data, done, data.length - done, position + done);
}

/** Opens a new file for writing with O_DIRECT; undefined (and buffered from now on) where refused. */
async function openDirectForWrite(path: string): Promise<number | undefined> {
  if (!directObjects) return undefined;
  try {
    return await openAsync(path, constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_DIRECT, 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
    directObjects = false;
    return undefined;
  }
}

/**
 * Writes an encoded object: its whole 4 KiB units with O_DIRECT (no page-cache pages: on these
 * VMs each new one costs a host fault, about 14 µs per 4 KiB, which was 45% of a fresh
 * backup), the short tail through the page cache. The encoded view starts on a page boundary.
 */
async function writeEncoded(tmp: string, encoded: Buffer): Promise<void> {
  const head = encoded.length - (encoded.length % DIRECT_ALIGNMENT);
  const directFd = head > 0 ? await openDirectForWrite(tmp) : undefined;
  let done = 0;
  if (directFd !== undefined) {
    try {
      while (done < head) {
        const n = await writeAsync(directFd, encoded, done, head - done, done);
        done += n;
        if (n % DIRECT_ALIGNMENT !== 0) break; // a short odd write: finish through the page cache
      }
    } finally {
      await closeAsync(directFd);
    }
  }
  if (done === encoded.length && !settings.syncEachObject) return; // no tail to write
  const fd = await openAsync(tmp, directFd === undefined ? 'wx' : 'r+', 0o644);
  try {
    await writeFully(fd, encoded.subarray(done), done);
    if (settings.syncEachObject) await call<void>((cb) => fsync(fd, (error) => cb(error, undefined)));
  } finally {
    await closeAsync(fd);
  }
}

async function writeObject(path: string, encoded: Buffer): Promise<void> {
  // Unique per thread: workers of two backups in one process may write the same object at once.
  const tmp = `${path}.tmp-${process.pid}-${threadId}-${tmpCounter++}`;
  try {
    try {
      await writeEncoded(tmp, encoded);
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
      mkdirSync(dirname(path), { recursive: true });
      await writeEncoded(tmp, encoded);
    }
  } catch (error) {
    await call<void>((cb) => unlink(tmp, () => cb(null, undefined)));
    throw error;
  }
  await call<void>((cb) => rename(tmp, path, (error) => cb(error, undefined)));
}

/** Opens an object for reading, with O_DIRECT while the file system accepts it. */
function openObject(path: string): { fd: number; direct: boolean } {
  try {
    if (directObjects) {
      try {
        return { fd: openSync(path, constants.O_RDONLY | constants.O_DIRECT), direct: true };
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code !== 'EINVAL') throw error;
        directObjects = false;
      }
    }
    return { fd: openSync(path, 'r'), direct: false };
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EngineError('OBJECT_MISSING', 'object is missing');
    throw error;
  }
}

/**
 * Reads a whole object file into `buffer` (replaced by a bigger one for an oversized file);
 * returns the buffer used and the object's bytes.
 */
async function readObject(path: string, buffer: Buffer): Promise<{ buffer: Buffer; object: Buffer }> {
  const { fd, direct } = openObject(path);
  try {
    const size = fstatSync(fd).size;
    const room = direct ? roundUp(size) : size;
    if (room > buffer.length) {
      if (size > settings.blockSize * 2 + 65536) throw new EngineError('OBJECT_CORRUPT', `object has ${size} bytes, far more than a block`);
      buffer = alignedBuffer(roundUp(size));
    }
    let done = 0;
    while (done < size) {
      // O_DIRECT reads whole 4 KiB units at aligned offsets; the last one ends at end of file.
      const n = await readAsync(fd, buffer, done, room - done, done);
      if (n === 0) break;
      done += n;
    }
    return { buffer, object: buffer.subarray(0, Math.min(done, size)) };
  } finally {
    closeSync(fd);
  }
}

function decodeAndVerify(object: Buffer, digest: string, length: number, out: Buffer): Buffer {
  const plaintext = codec.decode(object, out);
  if (plaintext.length !== length) {
    throw new EngineError('OBJECT_CORRUPT', `object holds ${plaintext.length} bytes, expected ${length}`);
  }
  const actual = codec.name(plaintext);
  if (actual !== digest) throw new EngineError('OBJECT_CORRUPT', `content digest is ${actual.slice(0, 16)}…, not the object's name`);
  return plaintext;
}

/**
 * Reads, decodes and verifies an object (and its file size, when given); `use` gets the
 * plaintext before its buffer is released.
 */
async function withVerifiedObject(
  path: string, digest: string, length: number, use: (plaintext: Buffer) => Promise<void> | void, storedSize?: number,
): Promise<void> {
  let objectBuffer = await objectBuffers.acquire();
  let plaintext: Buffer;
  let plainBuffer: Buffer;
  try {
    const read = await readObject(path, objectBuffer);
    objectBuffer = read.buffer;
    if (storedSize !== undefined && read.object.length !== storedSize) {
      throw new EngineError('OBJECT_CORRUPT', `object has ${read.object.length} bytes, expected ${storedSize}`);
    }
    plainBuffer = await plainBuffers.acquire();
    try {
      plaintext = decodeAndVerify(read.object, digest, length, plainBuffer);
    } catch (error) {
      plainBuffers.release(plainBuffer);
      throw error;
    }
  } finally {
    objectBuffers.release(objectBuffer);
  }
  try {
    await use(plaintext);
  } finally {
    plainBuffers.release(plainBuffer);
  }
}

async function handle(request: WorkerRequest): Promise<WorkerReply> {
  switch (request.op) {
    case 'hash': {
      const buffer = slot(request.slot);
      readFully(pick(request.fd, request.directFd, request.offset, request.length), buffer, request.length, request.offset);
      slotLength[request.slot] = request.length;
      const data = buffer.subarray(0, request.length);
      if (isZero(data)) return { id: request.id, ok: true, zero: true };
      return { id: request.id, ok: true, zero: false, digest: codec.name(data) };
    }
    case 'store': {
      if (request.path === null) return { id: request.id, ok: true };
      const data = slot(request.slot).subarray(0, slotLength[request.slot]);
      const out = await encodeBuffers.acquire();
      try {
        const encoded = codec.encode(data, out);
        await writeObject(request.path, encoded);
        return { id: request.id, ok: true, storedSize: encoded.length };
      } finally {
        encodeBuffers.release(out);
      }
    }
    case 'hashOnly': {
      const buffer = await plainBuffers.acquire();
      try {
        readFully(request.fd, buffer, request.length, request.offset);
        const data = buffer.subarray(0, request.length);
        if (isZero(data)) return { id: request.id, ok: true, zero: true };
        return { id: request.id, ok: true, zero: false, digest: codec.name(data) };
      } finally {
        plainBuffers.release(buffer);
      }
    }
    case 'restore': {
      const { fd, directFd, positions } = request;
      await withVerifiedObject(request.path, request.digest, request.length, async (plaintext) => {
        for (const position of positions) await writeFully(pick(fd, directFd, position, plaintext.length), plaintext, position);
      });
      return { id: request.id, ok: true };
    }
    case 'zero': {
      await writeFully(pick(request.fd, request.directFd, request.position, request.length), zeroBlock().subarray(0, request.length), request.position);
      return { id: request.id, ok: true };
    }
    case 'syncfs': {
      await syncFileSystem(request.path);
      return { id: request.id, ok: true };
    }
    case 'check': {
      // A stored size of 0 is unknown (objects imported without one): only the content is checked.
      await withVerifiedObject(request.path, request.digest, request.length, () => undefined, request.storedSize > 0 ? request.storedSize : undefined);
      return { id: request.id, ok: true };
    }
  }
}

parentPort!.on('message', (request: WorkerRequest) => {
  handle(request).then(
    (reply) => parentPort!.postMessage(reply),
    (error: unknown) => {
      const engineError = toEngineError(error);
      parentPort!.postMessage({ id: request.id, ok: false, code: engineError.code, message: engineError.message } satisfies WorkerReply);
    },
  );
});
