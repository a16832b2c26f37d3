// The NBD client against real servers: qemu-nbd serving a raw file (reads equal the file's
// bytes, many in flight; block status matches what was written; writes, zero writes, trims
// and flushes land in the file) and nbdkit (memory plugin round trip; the error filter's EIO
// fails the request with a clear error; the delay filter's stall hits the request timeout).
import assert from 'node:assert/strict';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../../src-main/engine/errors';
import { NbdClient } from '../../src-main/engine/nbd/client';
import { seededBytes, tempDir, writeImage } from '../helpers';
import { nbdkit, qemuNbd } from '../nbd-helpers';

const MiB = 1024 * 1024;

test('qemu-nbd, raw file: reads in flight equal the file; base:allocation shows data and holes', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const image = join(dir, 'disk.raw');
  writeImage(image, 16 * MiB, [{ offset: 1 * MiB, data: seededBytes(1, 256 * 1024) }, { offset: 9 * MiB + 4096, data: seededBytes(2, 3 * MiB) }]);
  const server = await qemuNbd(image, 'raw', ['-r']);
  const client = await NbdClient.connect(server.address, { metaContexts: ['base:allocation'] });
  assert.equal(client.size, 16 * MiB);
  const file = readFileSync(image);
  const reads = Array.from({ length: 64 }, (_, i) => ({ offset: (i * 251_003) % (15 * MiB), length: 4096 + i * 1237 }));
  const got = await Promise.all(reads.map((r) => client.read(r.offset, r.length)));
  reads.forEach((r, i) => assert.ok(got[i]!.equals(file.subarray(r.offset, r.offset + r.length)), `read ${i} at ${r.offset}`));
  // one read larger than the server's largest request is split
  assert.ok((await client.read(0, 16 * MiB)).equals(file));
  const map = await client.mapContext('base:allocation');
  const data = map.filter((e) => (e.flags & 1) === 0);
  assert.ok(data.some((e) => e.offset <= 1 * MiB && e.offset + e.length >= 1 * MiB + 256 * 1024), JSON.stringify(map));
  assert.ok(data.every((e) => e.offset + e.length > 1 * MiB - 4096), JSON.stringify(map));
  assert.equal(map.reduce((sum, e) => sum + e.length, 0), 16 * MiB);
  await client.close();
  await server.stop();
});

test('qemu-nbd, writable: WRITE, WRITE_ZEROES, TRIM and FLUSH land in the file', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const image = join(dir, 'disk.raw');
  writeImage(image, 4 * MiB, [{ offset: 0, data: Buffer.alloc(4 * MiB, 0x5a) }]);
  const server = await qemuNbd(image, 'raw', ['--discard=unmap']);
  const client = await NbdClient.connect(server.address);
  assert.equal(client.readOnly, false);
  const payload = seededBytes(3, 300_000);
  await Promise.all([client.write(100_000, payload), client.writeZeros(2 * MiB, MiB), client.trim(3 * MiB, 64 * 1024)]);
  await client.flush();
  await client.close();
  await server.stop();
  const file = readFileSync(image);
  assert.ok(file.subarray(100_000, 400_000).equals(payload));
  assert.ok(file.subarray(2 * MiB, 3 * MiB).equals(Buffer.alloc(MiB)));
  assert.equal(file[99_999], 0x5a);
  assert.equal(file[3 * MiB + 64 * 1024], 0x5a);
});

test('nbdkit memory plugin: write and read back in several requests at once', { timeout: 60000 }, async () => {
  const server = await nbdkit(['memory', '8M']);
  const client = await NbdClient.connect(server.address, { metaContexts: ['base:allocation'] });
  const parts = Array.from({ length: 16 }, (_, i) => ({ offset: i * 512 * 1024, data: seededBytes(10 + i, 100_000) }));
  await Promise.all(parts.map((p) => client.write(p.offset, p.data)));
  const back = await Promise.all(parts.map((p) => client.read(p.offset, p.data.length)));
  parts.forEach((p, i) => assert.ok(back[i]!.equals(p.data)));
  const map = await client.mapContext('base:allocation');
  assert.equal(map.reduce((sum, e) => sum + e.length, 0), 8 * MiB);
  await client.close();
  await server.stop();
});

test('nbdkit memory plugin, 3 GiB: the map over several 1 GiB spans asked at once is whole, in order, merged across spans', { timeout: 60000 }, async () => {
  const GiB = 1024 * MiB;
  const server = await nbdkit(['memory', '3G']);
  const client = await NbdClient.connect(server.address, { metaContexts: ['base:allocation'] });
  const written = [{ offset: GiB - 64 * 1024, length: 128 * 1024 }, { offset: 2 * GiB + 5 * MiB, length: 64 * 1024 }];
  for (const w of written) await client.write(w.offset, seededBytes(w.offset % 97, w.length));
  const map = await client.mapContext('base:allocation');
  let at = 0;
  for (const extent of map) {
    assert.equal(extent.offset, at, JSON.stringify(map));
    at += extent.length;
  }
  assert.equal(at, 3 * GiB);
  map.slice(1).forEach((extent, i) => assert.notEqual(extent.flags, map[i]!.flags, `extents ${i} and ${i + 1} should be merged`));
  const data = map.filter((e) => (e.flags & 1) === 0);
  // the first write straddles the 1 GiB span boundary: one data extent covers it
  for (const w of written) assert.ok(data.some((e) => e.offset <= w.offset && e.offset + e.length >= w.offset + w.length), `${w.offset} in ${JSON.stringify(map)}`);
  assert.ok(data.reduce((sum, e) => sum + e.length, 0) < 16 * MiB, JSON.stringify(map));
  await client.close();
  await server.stop();
});

test('nbdkit error filter: EIO fails the request with the errno; the connection still serves other requests', { timeout: 60000 }, async () => {
  const trigger = join(tempDir(), 'inject');
  writeFileSync(trigger, '');
  const server = await nbdkit(['--filter=error', 'pattern', '1M', 'error-pread=EIO', 'error-pread-rate=100%', `error-pread-file=${trigger}`]);
  const client = await NbdClient.connect(server.address);
  await assert.rejects(client.read(0, 4096), (error: EngineError) => error.code === 'IO_ERROR' && /READ of 4096 bytes at 0 failed: EIO/.test(error.message));
  rmSync(trigger);
  // the pattern plugin: each 8-byte word is its own offset, big-endian
  const back = await client.read(4096, 16);
  assert.equal(back.readBigUInt64BE(0), 4096n);
  assert.equal(back.readBigUInt64BE(8), 4104n);
  await client.close();
  const full = await nbdkit(['--filter=error', 'pattern', '1M', 'error-pread=ENOSPC', 'error-pread-rate=100%']);
  const other = await NbdClient.connect(full.address);
  await assert.rejects(other.read(0, 512), (error: EngineError) => error.code === 'NO_SPACE' && /ENOSPC/.test(error.message));
  await other.close();
  await server.stop();
  await full.stop();
});

test('nbdkit delay filter: a stalled read ends with a timeout error, not a hang', { timeout: 60000 }, async () => {
  const server = await nbdkit(['--filter=delay', 'memory', '1M', 'rdelay=30']);
  const client = await NbdClient.connect(server.address, { timeoutMs: 700 });
  await assert.rejects(client.read(0, 4096), (error: EngineError) => error.code === 'IO_ERROR' && /did not answer READ of 4096 bytes at 0 within 0.7 s/.test(error.message));
  await client.close();
  await server.stop();
});
