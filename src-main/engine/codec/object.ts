// Object codec: an *object* is one stored block, a 16-byte header (see format.ts) and its
// payload. Encoding compresses when that makes it smaller; decoding checks the header and
// returns the plaintext. Pure functions over caller-owned buffers, so workers can pool them.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes } from 'node:crypto';
import { CCtx, DCtx, compressBound } from 'zstd-napi/binding';
import {
  Compression,
  Encryption,
  GCM_NONCE_SIZE,
  GCM_TAG_SIZE,
  HASH_ALGORITHM,
  OBJECT_FORMAT_VERSION,
  OBJECT_HEADER_SIZE,
  OBJECT_MAGIC,
  type CompressionId,
  type EncryptionId,
} from '../format';
import { EngineError } from '../errors';

export interface CompressionSetting {
  algorithm: 'zstd' | 'none';
  level: number;
}

export function parseCompression(text: string): CompressionSetting {
  if (text === 'none') return { algorithm: 'none', level: 0 };
  const match = /^zstd(?::(-?\d+))?$/.exec(text);
  if (!match) throw new EngineError('INVALID_ARGUMENT', `unknown compression "${text}" (use zstd:1..19 or none)`);
  const level = match[1] === undefined ? 1 : Number(match[1]);
  if (!Number.isInteger(level) || level < 1 || level > 19) {
    throw new EngineError('INVALID_ARGUMENT', `zstd level must be 1 to 19, got ${match[1]}`);
  }
  return { algorithm: 'zstd', level };
}

export function formatCompression(setting: CompressionSetting): string {
  return setting.algorithm === 'none' ? 'none' : `zstd:${setting.level}`;
}

export function digestHex(data: Uint8Array): string {
  return createHash(HASH_ALGORITHM).update(data).digest('hex');
}

const ZEROS = Buffer.alloc(64 * 1024);

/** True when every byte of data is zero (memcmp against zeros, 64 KiB at a time). */
export function isZero(data: Buffer): boolean {
  for (let offset = 0; offset < data.length; offset += ZEROS.length) {
    const end = Math.min(offset + ZEROS.length, data.length);
    if (ZEROS.compare(data, offset, end, 0, end - offset) !== 0) return false;
  }
  return true;
}

/** WebAssembly.Memory: Node has it, @types/node does not declare it. */
const WasmMemory = (globalThis as unknown as { WebAssembly: { Memory: new (size: { initial: number; maximum: number }) => { buffer: ArrayBuffer } } }).WebAssembly.Memory;

/**
 * A page-aligned buffer. Node's large Buffers can start 16 bytes past a 32-byte boundary, and
 * on some CPUs copies between the page cache and such buffers are several times slower;
 * O_DIRECT I/O needs aligned buffers anyway. WebAssembly memory is always page aligned.
 */
export function alignedBuffer(size: number): Buffer {
  const pages = Math.max(1, Math.ceil(size / 65536));
  return Buffer.from(new WasmMemory({ initial: pages, maximum: pages }).buffer, 0, size);
}


/** WebAssembly.Memory with `shared`: its buffer is a SharedArrayBuffer (@types/node does not declare it). */
const SharedWasmMemory = WasmMemory as unknown as new (size: { initial: number; maximum: number; shared: true }) => { buffer: SharedArrayBuffer };

/** A page-aligned buffer of memory shared with worker threads (a message carries a view of it, not a copy). */
export function sharedAlignedBuffer(size: number): Buffer {
  const pages = Math.max(1, Math.ceil(size / 65536));
  return Buffer.from(new SharedWasmMemory({ initial: pages, maximum: pages, shared: true }).buffer, 0, size);
}

/**
 * The most bytes a reader accepts as one stored object of a block of `blockSize` bytes: more is
 * damage (read unread, reported OBJECT_CORRUPT), with room to spare over encodedCapacity.
 */
export function maxStoredObjectSize(blockSize: number): number {
  return blockSize * 2 + 65536;
}

/** Bytes of the largest object of a block of `blockSize` bytes (see ObjectCodec.encodedCapacity). */
export function encodedCapacity(blockSize: number): number {
  return OBJECT_HEADER_SIZE + GCM_NONCE_SIZE + Math.max(compressBound(blockSize), blockSize) + GCM_TAG_SIZE;
}

/**
 * Runs a cipher over input into output at `at`, CRYPT_CHUNK bytes at a time; returns the new
 * end offset. Node's ciphers cannot write into a caller's buffer: each update allocates its
 * output. One update of a whole block would allocate a fresh block-sized buffer per object;
 * 64 KiB chunks freed by the garbage collector in batches made glibc give their pages back
 * and fault them in again (about 190,000 extra page faults per 2 GiB backup in a worker
 * thread, 160,000 per restore, at about 14 µs each on these VMs); 16 KiB chunks stay in the
 * allocator's bins (a restore then faults like a plain one) and cost no more CPU per byte.
 */
function cryptInto(cipher: { update(data: Uint8Array): Buffer }, input: Buffer, output: Buffer, at: number): number {
  let end = at;
  for (let offset = 0; offset < input.length; offset += CRYPT_CHUNK) {
    end += cipher.update(input.subarray(offset, Math.min(offset + CRYPT_CHUNK, input.length))).copy(output, end);
  }
  return end;
}
const CRYPT_CHUNK = 16 * 1024;
/** Incompressibility probes (see ObjectCodec.incompressible). */
const PROBES = 8;
const PROBE_SIZE = 8 * 1024;
const PROBE_RATIO = 0.97;
const PROBE_MIN_BLOCK = 256 * 1024;

/** Keys of an encrypted repository that the codec needs (see keys.ts). */
export interface CodecKeys {
  data: Uint8Array;
  name: Uint8Array;
}

/** Reusable buffers and zstd contexts of one thread. */
export class ObjectCodec {
  private readonly cctx = new CCtx();
  private readonly dctx = new DCtx();
  private readonly compressed: Buffer | null;

  constructor(
    private readonly maxPlaintext: number,
    private readonly compression: CompressionSetting,
    private readonly keys?: CodecKeys,
  ) {
    const bound = Math.max(compressBound(maxPlaintext), maxPlaintext);
    this.encodedCapacity = encodedCapacity(maxPlaintext);
    this.compressed = keys ? alignedBuffer(bound) : null;
  }

  /** Bytes an output buffer of encode() needs: the largest object of a block. */
  readonly encodedCapacity: number;

  /** The object name of a block: SHA-256 of the plaintext, or HMAC-SHA256 when encrypted. */
  name(plaintext: Uint8Array): string {
    return this.keys ? createHmac('sha256', this.keys.name).update(plaintext).digest('hex') : digestHex(plaintext);
  }

  /**
   * Encodes plaintext into `out` (encodedCapacity bytes, page aligned for O_DIRECT writes);
   * returns the view of `out` that holds the object, valid until `out` is reused.
   */
  encode(plaintext: Buffer, out: Buffer): Buffer {
    if (out.length < this.encodedCapacity) throw new EngineError('INTERNAL', `encode buffer of ${out.length} bytes, needs ${this.encodedCapacity}`);
    let compression: CompressionId = Compression.none;
    let payload: Buffer = plaintext;
    const staging = this.compressed ?? out.subarray(OBJECT_HEADER_SIZE);
    if (this.compression.algorithm === 'zstd' && plaintext.length > 0 && !this.incompressible(plaintext, staging)) {
      const written = this.cctx.compress(staging, plaintext, this.compression.level);
      if (written < plaintext.length) {
        compression = Compression.zstd;
        payload = staging.subarray(0, written);
      }
    }
    if (!this.keys) {
      if (compression === Compression.none) plaintext.copy(out, OBJECT_HEADER_SIZE);
      writeHeader(out, compression, Encryption.none, plaintext.length);
      return out.subarray(0, OBJECT_HEADER_SIZE + payload.length);
    }
    writeHeader(out, compression, Encryption.aes256gcm, plaintext.length);
    const nonce = randomBytes(GCM_NONCE_SIZE);
    nonce.copy(out, OBJECT_HEADER_SIZE);
    const cipher = createCipheriv('aes-256-gcm', this.keys.data, nonce);
    cipher.setAAD(out.subarray(0, OBJECT_HEADER_SIZE));
    let at = cryptInto(cipher, payload, out, OBJECT_HEADER_SIZE + GCM_NONCE_SIZE);
    at += cipher.final().copy(out, at);
    at += cipher.getAuthTag().copy(out, at);
    return out.subarray(0, at);
  }

  /**
   * Whether a large block looks incompressible (already compressed or encrypted data): eight
   * 8 KiB probes spread over it, and none gets 3% smaller. Such a block is stored as it is
   * without compressing all of it first, which on random data costs as much as hashing it.
   * One compressible probe is enough to compress the whole block.
   */
  private incompressible(plaintext: Buffer, staging: Buffer): boolean {
    if (plaintext.length < PROBE_MIN_BLOCK) return false;
    const step = Math.floor((plaintext.length - PROBE_SIZE) / (PROBES - 1));
    for (let i = 0; i < PROBES; i++) {
      const at = i * step;
      const written = this.cctx.compress(staging, plaintext.subarray(at, at + PROBE_SIZE), this.compression.level);
      if (written < PROBE_SIZE * PROBE_RATIO) return false;
    }
    return true;
  }

  /**
   * The plaintext of an object for a caller that only reads it (deep scrub hashes it): an
   * unencrypted stored payload is a view of `object` itself, not copied into `out` (a 4 MiB
   * copy per random block, about a tenth of a deep scrub's CPU); anything else is decode()'s.
   */
  plaintextOf(object: Buffer, out: Buffer): Buffer {
    return this.decode(object, out, true);
  }

  /**
   * Decodes an object into `out`; returns the plaintext view. Throws OBJECT_CORRUPT. With
   * `readOnly` (plaintextOf), a stored unencrypted payload is returned where it is, in `object`.
   */
  decode(object: Buffer, out: Buffer, readOnly = false): Buffer {
    const header = readHeader(object);
    if (header.length > out.length || header.length > this.maxPlaintext) {
      throw new EngineError('OBJECT_CORRUPT', `header claims ${header.length} bytes, more than a block`);
    }
    let payload = object.subarray(OBJECT_HEADER_SIZE);
    if (header.encryption === Encryption.aes256gcm) {
      if (!this.keys) throw new EngineError('OBJECT_CORRUPT', 'object is encrypted but the repository is not');
      // A stored (uncompressed) payload decrypts straight into `out`: no second copy.
      payload = this.decrypt(object, header.compression === Compression.none ? out : this.compressed!);
    } else if (this.keys) {
      throw new EngineError('OBJECT_CORRUPT', 'object is not encrypted but the repository is');
    }
    if (header.compression === Compression.none) {
      if (payload.length !== header.length) {
        throw new EngineError('OBJECT_CORRUPT', `payload has ${payload.length} bytes, header says ${header.length}`);
      }
      if (readOnly) return payload;
      if (payload.buffer !== out.buffer || payload.byteOffset !== out.byteOffset) payload.copy(out);
      return out.subarray(0, header.length);
    }
    let written: number;
    try {
      written = this.dctx.decompress(out.subarray(0, header.length), payload);
    } catch (error) {
      throw new EngineError('OBJECT_CORRUPT', `cannot decompress: ${(error as Error).message}`);
    }
    if (written !== header.length) {
      throw new EngineError('OBJECT_CORRUPT', `decompressed to ${written} bytes, header says ${header.length}`);
    }
    return out.subarray(0, written);
  }

  /** Decrypts and authenticates an object's payload into `into` (which has room for it); returns the view. */
  private decrypt(object: Buffer, into: Buffer): Buffer {
    if (object.length < OBJECT_HEADER_SIZE + GCM_NONCE_SIZE + GCM_TAG_SIZE) throw new EngineError('OBJECT_CORRUPT', 'encrypted object is truncated');
    const ciphertext = object.subarray(OBJECT_HEADER_SIZE + GCM_NONCE_SIZE, object.length - GCM_TAG_SIZE);
    // GCM's plaintext is as long as its ciphertext: more than `into` holds cannot be this block.
    if (ciphertext.length > into.length) throw new EngineError('OBJECT_CORRUPT', `encrypted payload of ${ciphertext.length} bytes is larger than a block`);
    const nonce = object.subarray(OBJECT_HEADER_SIZE, OBJECT_HEADER_SIZE + GCM_NONCE_SIZE);
    const decipher = createDecipheriv('aes-256-gcm', this.keys!.data, nonce);
    decipher.setAAD(object.subarray(0, OBJECT_HEADER_SIZE));
    decipher.setAuthTag(object.subarray(object.length - GCM_TAG_SIZE));
    try {
      const at = cryptInto(decipher, ciphertext, into, 0);
      const last = decipher.final();
      return into.subarray(0, at + last.copy(into, at));
    } catch {
      throw new EngineError('OBJECT_CORRUPT', 'authentication failed: the object was altered or damaged');
    }
  }
}

export interface ObjectHeader {
  version: number;
  compression: CompressionId;
  encryption: EncryptionId;
  length: number;
}

function writeHeader(target: Buffer, compression: CompressionId, encryption: EncryptionId, length: number): void {
  OBJECT_MAGIC.copy(target, 0);
  target[4] = OBJECT_FORMAT_VERSION;
  target[5] = compression;
  target[6] = encryption;
  target[7] = 0;
  target.writeBigUInt64LE(BigInt(length), 8);
}

export function readHeader(object: Buffer): ObjectHeader {
  if (object.length < OBJECT_HEADER_SIZE) {
    throw new EngineError('OBJECT_CORRUPT', `object has ${object.length} bytes, shorter than its header`);
  }
  if (!object.subarray(0, 4).equals(OBJECT_MAGIC)) throw new EngineError('OBJECT_CORRUPT', 'bad object magic');
  const version = object[4];
  if (version !== OBJECT_FORMAT_VERSION) {
    throw new EngineError('FORMAT_UNSUPPORTED', `object format ${version} is not supported (this release reads ${OBJECT_FORMAT_VERSION})`);
  }
  const compression = object[5] as CompressionId;
  if (compression !== Compression.none && compression !== Compression.zstd) {
    throw new EngineError('OBJECT_CORRUPT', `unknown compression ${compression}`);
  }
  const encryption = object[6] as EncryptionId;
  if (encryption !== Encryption.none && encryption !== Encryption.aes256gcm) {
    throw new EngineError('OBJECT_CORRUPT', `unknown encryption ${encryption}`);
  }
  const length = Number(object.readBigUInt64LE(8));
  return { version, compression, encryption, length };
}
