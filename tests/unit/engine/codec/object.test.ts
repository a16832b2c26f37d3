// Object encoding: a block is compressed when that makes it smaller; a large block that looks
// incompressible (every probe fails to shrink) is stored as it is without compressing it all.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, it } from 'node:test';
import { ObjectCodec, alignedBuffer } from '../../../../src-main/engine/codec/object';
import { Compression, OBJECT_HEADER_SIZE } from '../../../../src-main/engine/format';

const MIB = 1024 * 1024;

function text(length: number): Buffer {
  const words = ['alpha', 'block', 'cache', 'delta', 'entry', 'frame', 'guard', 'index'];
  const parts: string[] = [];
  for (let i = 0, size = 0; size < length; i++) {
    const word = `${words[(i * 7 + (i >> 3)) % words.length]}${i % 1000} `;
    parts.push(word);
    size += word.length;
  }
  return Buffer.from(parts.join('')).subarray(0, length);
}

function roundTrip(codec: ObjectCodec, plaintext: Buffer): { compression: number; size: number } {
  const out = alignedBuffer(codec.encodedCapacity);
  const object = Buffer.from(codec.encode(plaintext, out));
  const decoded = codec.decode(object, alignedBuffer(plaintext.length));
  assert.ok(decoded.equals(plaintext), 'decodes to the same bytes');
  return { compression: object[5], size: object.length };
}

describe('ObjectCodec compression decisions', () => {
  const codec = new ObjectCodec(4 * MIB, { algorithm: 'zstd', level: 1 });

  it('stores random data as it is', () => {
    const result = roundTrip(codec, randomBytes(4 * MIB));
    assert.equal(result.compression, Compression.none);
    assert.equal(result.size, OBJECT_HEADER_SIZE + 4 * MIB);
  });

  it('compresses text', () => {
    const result = roundTrip(codec, text(4 * MIB));
    assert.equal(result.compression, Compression.zstd);
    assert.ok(result.size < 2 * MIB, `text compressed to ${result.size}`);
  });

  it('compresses a block that is random except for one compressible stretch', () => {
    // 3.5 MiB random, then 512 KiB of text: one probe of eight lands in the text.
    const block = Buffer.concat([randomBytes(3.5 * MIB), text(0.5 * MIB)]);
    const result = roundTrip(codec, block);
    assert.equal(result.compression, Compression.zstd);
    assert.ok(result.size < 4 * MIB - 256 * 1024, `mixed block compressed to ${result.size}`);
  });

  it('tries small blocks whole, and stores them raw when compression does not pay', () => {
    const small = new ObjectCodec(64 * 1024, { algorithm: 'zstd', level: 1 });
    assert.equal(roundTrip(small, randomBytes(64 * 1024)).compression, Compression.none);
    assert.equal(roundTrip(small, text(64 * 1024)).compression, Compression.zstd);
  });

  it('encrypted: the same decisions, and the object is larger by nonce and tag only when raw', () => {
    const keys = { data: randomBytes(32), name: randomBytes(32) };
    const encrypted = new ObjectCodec(4 * MIB, { algorithm: 'zstd', level: 1 }, keys);
    const raw = roundTrip(encrypted, randomBytes(4 * MIB));
    assert.equal(raw.compression, Compression.none);
    assert.equal(raw.size, OBJECT_HEADER_SIZE + 12 + 4 * MIB + 16);
    assert.equal(roundTrip(encrypted, text(4 * MIB)).compression, Compression.zstd);
  });

  it('encrypted: a raw payload decrypts straight into the output, and any altered byte is refused', () => {
    const keys = { data: randomBytes(32), name: randomBytes(32) };
    const encrypted = new ObjectCodec(4 * MIB, { algorithm: 'zstd', level: 1 }, keys);
    for (const plaintext of [randomBytes(4 * MIB), text(4 * MIB), randomBytes(4 * MIB - 4096 - 7)]) {
      const object = Buffer.from(encrypted.encode(plaintext, alignedBuffer(encrypted.encodedCapacity)));
      const out = alignedBuffer(4 * MIB);
      assert.ok(encrypted.decode(object, out).equals(plaintext));
      // one flipped bit anywhere (compression id, length, nonce, the payload's middle, tag) is refused
      for (const at of [5, 9, OBJECT_HEADER_SIZE + 3, OBJECT_HEADER_SIZE + 12 + ((object.length - OBJECT_HEADER_SIZE - 28) >> 1), object.length - 1]) {
        const altered = Buffer.from(object);
        altered[at] ^= 0x10;
        assert.throws(() => encrypted.decode(altered, alignedBuffer(4 * MIB)), (error: Error & { code?: string }) => error.code === 'OBJECT_CORRUPT', `byte ${at}`);
      }
    }
  });

  it('encrypted: a payload longer than the output buffer is refused, not cut short', () => {
    const keys = { data: randomBytes(32), name: randomBytes(32) };
    const encrypted = new ObjectCodec(4 * MIB, { algorithm: 'zstd', level: 1 }, keys);
    const object = Buffer.from(encrypted.encode(randomBytes(64 * 1024), alignedBuffer(encrypted.encodedCapacity)));
    assert.throws(() => encrypted.decode(object, alignedBuffer(32 * 1024)), (error: Error & { code?: string }) => error.code === 'OBJECT_CORRUPT');
  });
});

describe('ObjectCodec.plaintextOf (deep scrub: the plaintext only read, never written)', () => {
  const codec = new ObjectCodec(4 * MIB, { algorithm: 'zstd', level: 1 });
  const encode = (c: ObjectCodec, plaintext: Buffer): Buffer => Buffer.from(c.encode(plaintext, alignedBuffer(c.encodedCapacity)));

  it('gives a stored payload in place, without writing the output buffer', () => {
    const plaintext = randomBytes(4 * MIB);
    const object = encode(codec, plaintext);
    assert.equal(object[5], Compression.none);
    const out = alignedBuffer(4 * MIB);
    const view = codec.plaintextOf(object, out);
    assert.ok(view.equals(plaintext));
    assert.equal(view.buffer, object.buffer, 'a view of the object');
    assert.ok(out.every((byte) => byte === 0), 'the output buffer is untouched');
  });

  it('decodes a compressed payload into the output buffer', () => {
    const plaintext = text(4 * MIB);
    const object = encode(codec, plaintext);
    assert.equal(object[5], Compression.zstd);
    const out = alignedBuffer(4 * MIB);
    const view = codec.plaintextOf(object, out);
    assert.ok(view.equals(plaintext));
    assert.equal(view.buffer, out.buffer);
  });

  it('refuses a stored payload whose length differs from its header, and a header longer than a block', () => {
    const object = encode(codec, randomBytes(MIB));
    assert.throws(() => codec.plaintextOf(object.subarray(0, object.length - 1), alignedBuffer(4 * MIB)), { code: 'OBJECT_CORRUPT' });
    const longer = Buffer.from(object);
    longer.writeBigUInt64LE(BigInt(8 * MIB), 8);
    assert.throws(() => codec.plaintextOf(longer, alignedBuffer(4 * MIB)), { code: 'OBJECT_CORRUPT' });
  });

  it('in an encrypted repository authenticates and decrypts, and refuses a plain object', () => {
    const keys = { data: randomBytes(32), name: randomBytes(32) };
    const encrypted = new ObjectCodec(4 * MIB, { algorithm: 'zstd', level: 1 }, keys);
    const plaintext = randomBytes(MIB);
    const object = encode(encrypted, plaintext);
    assert.ok(encrypted.plaintextOf(object, alignedBuffer(4 * MIB)).equals(plaintext));
    const tampered = Buffer.from(object);
    tampered[100] ^= 1;
    assert.throws(() => encrypted.plaintextOf(tampered, alignedBuffer(4 * MIB)), { code: 'OBJECT_CORRUPT' });
    assert.throws(() => encrypted.plaintextOf(encode(codec, plaintext), alignedBuffer(4 * MIB)), { code: 'OBJECT_CORRUPT' });
  });
});
