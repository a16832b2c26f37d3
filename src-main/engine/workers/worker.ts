// Worker thread body: reads source blocks, hashes, compresses and writes objects, and reads
// objects back for restore and scrub. Buffers are allocated on first use and then reused.
//
// CPU work (hashing, compression, decompression, verification) runs synchronously on this
// thread; object reads and writes (through the store, which the worker opens itself) go to
// libuv's thread pool or the network, so while one request waits the thread computes another.
// The pool sends a worker a few requests at once; the buffer pools below bound how many are
// past their CPU step.
import { closeSync, constants, openSync, readlinkSync, readSync } from 'node:fs';
import { getPriority, setPriority } from 'node:os';
import { parentPort, workerData } from 'node:worker_threads';
import { ObjectCodec, alignedBuffer, isZero, maxStoredObjectSize } from '../codec/object';
import { EngineError, toEngineError } from '../errors';
import type { IoSpec } from '../io/port';
import { roundUp, UNIT } from '../store/folder-io';
import { openStore } from '../store/index';
import type { BlockInput, WorkerReply, WorkerRequest, WorkerSettings } from './protocol';

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
/** The block a slot holds: a view of the slot's buffer, or bytes the main thread transferred. */
const slotData: Array<Buffer | undefined> = new Array(settings.slots).fill(undefined);
const store = openStore(settings.store);
/** Requests of one worker that may wait on the disk at once, per kind of buffer. */
const IO_DEPTH = 2;

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
const objectBuffers = new BufferPool(IO_DEPTH, roundUp(codec.encodedCapacity) + UNIT);
const plainBuffers = new BufferPool(IO_DEPTH, settings.blockSize);
// An encoded object's buffer is held until its put returns. A folder put is a disk write; an
// S3 PUT waits out a network round trip, during which every slot of the worker may have its
// own PUT in flight: with two buffers per worker, a backup kept about 3 of its 16 PUTs going.
// (A backup into S3 now has the main thread put its objects: `encode` and sharedOut below.)
const encodeBuffers = new BufferPool(settings.store.kind === 's3' ? Math.max(IO_DEPTH, settings.slots) : IO_DEPTH, codec.encodedCapacity);

/** WebAssembly.Memory with `shared`: its buffer is a page-aligned SharedArrayBuffer (@types/node does not declare it). */
const SharedWasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (size: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer } } }).WebAssembly.Memory;

/**
 * Per slot, the buffer `encode` writes an object into: shared with the main thread (which puts
 * it), page-aligned, allocated on first use and reused, so no object costs fresh pages.
 */
const sharedOut: Array<Buffer | undefined> = new Array(settings.slots).fill(undefined);
function sharedBuffer(index: number): Buffer {
  if (!sharedOut[index]) {
    const pages = Math.ceil(codec.encodedCapacity / 65536);
    const memory = new SharedWasmMemory({ initial: pages, maximum: pages, shared: true });
    sharedOut[index] = Buffer.from(memory.buffer, 0, codec.encodedCapacity);
  }
  return sharedOut[index];
}

/** The O_DIRECT descriptor when the transfer is aligned for it, else the ordinary one. */
function pick(io: OpenedIo, position: number, length: number): number {
  return io.directFd !== undefined && position % UNIT === 0 && length % UNIT === 0 ? io.directFd : io.fd;
}

function readFully(fd: number, target: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, target, done, length - done, position + done);
    if (n === 0) throw new EngineError('IO_ERROR', `source ended at byte ${position + done}, expected ${length - done} more bytes`);
    done += n;
  }
}

/** Sources and targets this worker opened from their IoSpec, by io handle. */
interface OpenedIo {
  fd: number;
  /** the same file with O_DIRECT, where the spec asks for it and the file system accepts it */
  directFd?: number;
}
const opened = new Map<number, OpenedIo>();

function openIo(spec: IoSpec, mode: 'read' | 'write'): OpenedIo {
  const flags = mode === 'read' ? constants.O_RDONLY : constants.O_WRONLY;
  const fd = openSync(spec.path, flags);
  let directFd: number | undefined;
  if (spec.direct) {
    try {
      directFd = openSync(spec.path, flags | constants.O_DIRECT);
    } catch {
      // the file system refuses O_DIRECT: the page cache it is
    }
  }
  return { fd, directFd };
}

function io(handle: number): OpenedIo {
  const found = opened.get(handle);
  if (!found) throw new EngineError('INTERNAL', `io handle ${handle} is not open in this worker`);
  return found;
}

const transferred = (data: Uint8Array): Buffer => Buffer.from(data.buffer, data.byteOffset, data.byteLength);

/** The bytes of a block: read from an opened source into `buffer`, or the transferred bytes. */
function blockBytes(input: BlockInput, buffer: () => Buffer): Buffer {
  if ('data' in input) return transferred(input.data);
  const source = io(input.io);
  const into = buffer();
  readFully(pick(source, input.offset, input.length), into, input.length, input.offset);
  return into.subarray(0, input.length);
}

/** Decodes an object into `out` (with `readOnly`, a stored payload may stay where it is: see ObjectCodec.plaintextOf) and checks it against its name. */
function decodeAndVerify(object: Buffer, digest: string, length: number, out: Buffer, readOnly = false): Buffer {
  const plaintext = codec.decode(object, out, readOnly);
  if (plaintext.length !== length) {
    throw new EngineError('OBJECT_CORRUPT', `object holds ${plaintext.length} bytes, expected ${length}`);
  }
  const actual = codec.name(plaintext);
  if (actual !== digest) throw new EngineError('OBJECT_CORRUPT', `content digest is ${actual.slice(0, 16)}…, not the object's name`);
  return plaintext;
}

/**
 * Reads, decodes and verifies an object (and its stored size, when given); `use` gets the
 * plaintext before its buffer is released.
 */
async function withVerifiedObject(
  key: string, digest: string, length: number, use: (plaintext: Buffer) => Promise<void> | void, storedSize?: number,
): Promise<void> {
  const objectBuffer = await objectBuffers.acquire();
  let plaintext: Buffer;
  let plainBuffer: Buffer;
  try {
    // A buffer grown for an oversized object is dropped by the store's caller: the pool keeps its own.
    const object = await store.getInto(key, objectBuffer, { maxSize: maxStoredObjectSize(settings.blockSize) });
    if (storedSize !== undefined && object.length !== storedSize) {
      throw new EngineError('OBJECT_CORRUPT', `object has ${object.length} bytes, expected ${storedSize}`);
    }
    plainBuffer = await plainBuffers.acquire();
    try {
      plaintext = decodeAndVerify(object, digest, length, plainBuffer);
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

type Reply = { reply: WorkerReply; transfer?: ArrayBuffer[] };
const done = (id: number, extra: Partial<Extract<WorkerReply, { ok: true }>> = {}): Reply => ({ reply: { id, ok: true, ...extra } });
const hashed = (id: number, data: Buffer): Reply => (isZero(data) ? done(id, { zero: true }) : done(id, { zero: false, digest: codec.name(data) }));

async function handle(request: WorkerRequest): Promise<Reply> {
  switch (request.op) {
    case 'open': {
      opened.set(request.handle, openIo(request.spec, request.mode));
      return done(request.id);
    }
    case 'close': {
      const found = opened.get(request.handle);
      opened.delete(request.handle);
      if (found) {
        closeSync(found.fd);
        if (found.directFd !== undefined) closeSync(found.directFd);
      }
      return done(request.id);
    }
    case 'hash': {
      const data = blockBytes(request.input, () => slot(request.slot));
      slotData[request.slot] = data;
      return hashed(request.id, data);
    }
    case 'store': {
      const data = slotData[request.slot];
      slotData[request.slot] = undefined;
      if (request.key === null) return done(request.id);
      if (!data) throw new EngineError('INTERNAL', `slot ${request.slot} holds no block`);
      const out = await encodeBuffers.acquire();
      try {
        const encoded = codec.encode(data, out);
        await store.put(request.key, encoded);
        return done(request.id, { storedSize: encoded.length });
      } finally {
        encodeBuffers.release(out);
      }
    }
    case 'encode': {
      const data = slotData[request.slot];
      slotData[request.slot] = undefined;
      if (!data) throw new EngineError('INTERNAL', `slot ${request.slot} holds no block`);
      const encoded = codec.encode(data, sharedBuffer(request.slot));
      return done(request.id, { storedSize: encoded.length, data: encoded });
    }
    case 'hashOnly': {
      if ('data' in request.input) return hashed(request.id, transferred(request.input.data));
      const buffer = await plainBuffers.acquire();
      try {
        return hashed(request.id, blockBytes(request.input, () => buffer));
      } finally {
        plainBuffers.release(buffer);
      }
    }
    case 'verify': {
      decodeAndVerify(transferred(request.object), request.digest, request.length, transferred(request.plain), request.checkOnly);
      return done(request.id);
    }
    case 'decode': {
      let copy: Buffer | undefined;
      await withVerifiedObject(request.key, request.digest, request.length, (plaintext) => {
        copy = Buffer.allocUnsafeSlow(plaintext.length);
        plaintext.copy(copy);
      });
      return { reply: { id: request.id, ok: true, data: copy! }, transfer: [copy!.buffer as ArrayBuffer] };
    }
    case 'retries':
      return done(request.id, { retries: store.takeRetryCounts() });
    case 'check': {
      // A stored size of 0 is unknown (objects imported without one): only the content is checked.
      await withVerifiedObject(request.key, request.digest, request.length, () => undefined, request.storedSize > 0 ? request.storedSize : undefined);
      return done(request.id);
    }
  }
}

parentPort!.on('message', (request: WorkerRequest) => {
  handle(request).then(
    ({ reply, transfer }) => parentPort!.postMessage(reply, transfer),
    (error: unknown) => {
      const engineError = toEngineError(error);
      parentPort!.postMessage({ id: request.id, ok: false, code: engineError.code, message: engineError.message } satisfies WorkerReply);
    },
  );
});
