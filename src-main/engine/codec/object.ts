// Object codec: an *object* is one stored block, a 16-byte header (see format.ts) and its
// payload. Encoding compresses when that makes it smaller; decoding checks the header and
// returns the plaintext. Pure functions over caller-owned buffers, so workers can pool them.
import { createHash } from 'node:crypto';
import { CCtx, DCtx } from 'zstd-napi/binding';
import {
  Compression,
  Encryption,
  HASH_ALGORITHM,
  OBJECT_FORMAT_VERSION,
  OBJECT_HEADER_SIZE,
  OBJECT_MAGIC,
  type CompressionId,
} from '../format';
import { EngineError } from '../errors';
import { compressBound } from 'zstd-napi/binding';

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

/** True when every byte of data is zero (word-wise scan). */
export function isZero(data: Buffer): boolean {
  const words = data.length >>> 3;
  if (words > 0 && data.byteOffset % 8 === 0) {
    const view = new BigUint64Array(data.buffer, data.byteOffset, words);
    for (let i = 0; i < words; i++) if (view[i] !== 0n) return false;
  } else {
    for (let i = 0; i < words * 8; i++) if (data[i] !== 0) return false;
  }
  for (let i = words * 8; i < data.length; i++) if (data[i] !== 0) return false;
  return true;
}

/** Reusable buffers and zstd contexts of one thread. */
export class ObjectCodec {
  private readonly cctx = new CCtx();
  private readonly dctx = new DCtx();
  private readonly encoded: Buffer;

  constructor(
    private readonly maxPlaintext: number,
    private readonly compression: CompressionSetting,
  ) {
    this.encoded = Buffer.allocUnsafe(OBJECT_HEADER_SIZE + Math.max(compressBound(maxPlaintext), maxPlaintext));
  }

  /** Encodes plaintext into the codec's buffer; the returned view is valid until the next call. */
  encode(plaintext: Buffer): Buffer {
    let compression: CompressionId = Compression.none;
    let payloadLength = plaintext.length;
    if (this.compression.algorithm === 'zstd' && plaintext.length > 0) {
      const written = this.cctx.compress(this.encoded.subarray(OBJECT_HEADER_SIZE), plaintext, this.compression.level);
      if (written < plaintext.length) {
        compression = Compression.zstd;
        payloadLength = written;
      }
    }
    if (compression === Compression.none) plaintext.copy(this.encoded, OBJECT_HEADER_SIZE);
    writeHeader(this.encoded, compression, plaintext.length);
    return this.encoded.subarray(0, OBJECT_HEADER_SIZE + payloadLength);
  }

  /** Decodes an object into `out`; returns the plaintext view. Throws OBJECT_CORRUPT. */
  decode(object: Buffer, out: Buffer): Buffer {
    const header = readHeader(object);
    if (header.length > out.length || header.length > this.maxPlaintext) {
      throw new EngineError('OBJECT_CORRUPT', `header claims ${header.length} bytes, more than a block`);
    }
    const payload = object.subarray(OBJECT_HEADER_SIZE);
    if (header.compression === Compression.none) {
      if (payload.length !== header.length) {
        throw new EngineError('OBJECT_CORRUPT', `payload has ${payload.length} bytes, header says ${header.length}`);
      }
      payload.copy(out);
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
}

export interface ObjectHeader {
  version: number;
  compression: CompressionId;
  encryption: number;
  length: number;
}

function writeHeader(target: Buffer, compression: CompressionId, length: number): void {
  OBJECT_MAGIC.copy(target, 0);
  target[4] = OBJECT_FORMAT_VERSION;
  target[5] = compression;
  target[6] = Encryption.none;
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
  const encryption = object[6];
  if (encryption !== Encryption.none) {
    throw new EngineError('OBJECT_CORRUPT', `object is encrypted (${encryption}) but the repository is not`);
  }
  const length = Number(object.readBigUInt64LE(8));
  return { version, compression, encryption, length };
}
