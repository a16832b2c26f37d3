// Worker thread body: reads source blocks, hashes, compresses and writes objects, and reads
// objects back for restore and scrub. All buffers are allocated once per worker.
import { closeSync, fsyncSync, mkdirSync, openSync, readSync, renameSync, unlinkSync, writeSync, fstatSync } from 'node:fs';
import { dirname } from 'node:path';
import { parentPort, threadId, workerData } from 'node:worker_threads';
import { ObjectCodec, alignedBuffer, isZero } from '../codec/object';
import { EngineError, toEngineError } from '../errors';
import { OBJECT_HEADER_SIZE } from '../format';
import type { WorkerReply, WorkerRequest, WorkerSettings } from './protocol';

const settings = workerData as WorkerSettings;
const codec = new ObjectCodec(settings.blockSize, settings.compression, settings.keys);
const slots: Buffer[] = Array.from({ length: settings.slots }, () => alignedBuffer(settings.blockSize));
const slotLength: number[] = new Array(settings.slots).fill(0);
const scratch = alignedBuffer(settings.blockSize);
let objectBuffer = alignedBuffer(settings.blockSize + OBJECT_HEADER_SIZE + 1024);
const zeroBlock = alignedBuffer(settings.blockSize);
const DIRECT_ALIGNMENT = 4096;

/** The O_DIRECT descriptor when the transfer is aligned for it, else the ordinary one. */
function pick(fd: number, directFd: number | undefined, position: number, length: number): number {
  return directFd !== undefined && position % DIRECT_ALIGNMENT === 0 && length % DIRECT_ALIGNMENT === 0 ? directFd : fd;
}
let tmpCounter = 0;

function readFully(fd: number, target: Buffer, length: number, position: number): void {
  let done = 0;
  while (done < length) {
    const n = readSync(fd, target, done, length - done, position + done);
    if (n === 0) throw new EngineError('IO_ERROR', `source ended at byte ${position + done}, expected ${length - done} more bytes`);
    done += n;
  }
}

function writeFully(fd: number, data: Buffer, position: number | null): void {
  let done = 0;
  while (done < data.length) {
    done += writeSync(fd, data, done, data.length - done, position === null ? null : position + done);
  }
}

function writeObject(path: string, plaintext: Buffer): number {
  const encoded = codec.encode(plaintext);
  // Unique per thread: workers of two backups in one process may write the same object at once.
  const tmp = `${path}.tmp-${process.pid}-${threadId}-${tmpCounter++}`;
  let fd: number;
  try {
    fd = openSync(tmp, 'w', 0o644);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT') throw error;
    mkdirSync(dirname(path), { recursive: true });
    fd = openSync(tmp, 'w', 0o644);
  }
  try {
    writeFully(fd, encoded, null);
    if (settings.syncEachObject) fsyncSync(fd);
  } catch (error) {
    closeSync(fd);
    try { unlinkSync(tmp); } catch { /* already gone */ }
    throw error;
  }
  closeSync(fd);
  renameSync(tmp, path);
  return encoded.length;
}

/** Reads a whole object file into the pooled buffer; returns its bytes. */
function readObject(path: string): Buffer {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') throw new EngineError('OBJECT_MISSING', 'object is missing');
    throw error;
  }
  try {
    const size = fstatSync(fd).size;
    if (size > objectBuffer.length) {
      if (size > settings.blockSize * 2 + 65536) throw new EngineError('OBJECT_CORRUPT', `object has ${size} bytes, far more than a block`);
      objectBuffer = alignedBuffer(size);
    }
    let done = 0;
    while (done < size) {
      const n = readSync(fd, objectBuffer, done, size - done, done);
      if (n === 0) break;
      done += n;
    }
    return objectBuffer.subarray(0, done);
  } finally {
    closeSync(fd);
  }
}

function decodeAndVerify(object: Buffer, digest: string, length: number): Buffer {
  const plaintext = codec.decode(object, scratch);
  if (plaintext.length !== length) {
    throw new EngineError('OBJECT_CORRUPT', `object holds ${plaintext.length} bytes, expected ${length}`);
  }
  const actual = codec.name(plaintext);
  if (actual !== digest) throw new EngineError('OBJECT_CORRUPT', `content digest is ${actual.slice(0, 16)}…, not the object's name`);
  return plaintext;
}

function handle(request: WorkerRequest): WorkerReply {
  switch (request.op) {
    case 'hash': {
      const buffer = slots[request.slot];
      readFully(pick(request.fd, request.directFd, request.offset, request.length), buffer, request.length, request.offset);
      slotLength[request.slot] = request.length;
      const data = buffer.subarray(0, request.length);
      if (isZero(data)) return { id: request.id, ok: true, zero: true };
      return { id: request.id, ok: true, zero: false, digest: codec.name(data) };
    }
    case 'store': {
      if (request.path === null) return { id: request.id, ok: true };
      const data = slots[request.slot].subarray(0, slotLength[request.slot]);
      return { id: request.id, ok: true, storedSize: writeObject(request.path, data) };
    }
    case 'hashOnly': {
      readFully(request.fd, scratch, request.length, request.offset);
      const data = scratch.subarray(0, request.length);
      if (isZero(data)) return { id: request.id, ok: true, zero: true };
      return { id: request.id, ok: true, zero: false, digest: codec.name(data) };
    }
    case 'restore': {
      const plaintext = decodeAndVerify(readObject(request.path), request.digest, request.length);
      writeFully(pick(request.fd, request.directFd, request.position, plaintext.length), plaintext, request.position);
      return { id: request.id, ok: true };
    }
    case 'zero': {
      writeFully(pick(request.fd, request.directFd, request.position, request.length), zeroBlock.subarray(0, request.length), request.position);
      return { id: request.id, ok: true };
    }
    case 'check': {
      const object = readObject(request.path);
      if (object.length !== request.storedSize && request.storedSize > 0) {
        throw new EngineError('OBJECT_CORRUPT', `object has ${object.length} bytes, expected ${request.storedSize}`);
      }
      decodeAndVerify(object, request.digest, request.length);
      return { id: request.id, ok: true };
    }
  }
}

parentPort!.on('message', (request: WorkerRequest) => {
  let reply: WorkerReply;
  try {
    reply = handle(request);
  } catch (error) {
    const engineError = toEngineError(error);
    reply = { id: request.id, ok: false, code: engineError.code, message: engineError.message };
  }
  parentPort!.postMessage(reply);
});
