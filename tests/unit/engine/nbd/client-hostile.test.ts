// The NBD client against a scripted fake server: correct answers are reassembled by offset,
// and every kind of broken or hostile server ends the call with a clear IO_ERROR (never a
// hang, never wrong bytes); an error chunk fails only its own request.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { EngineError } from '../../../../src-main/engine/errors';
import { NbdClient } from '../../../../src-main/engine/nbd/client';
import { parseNbdUrl, formatNbdUrl } from '../../../../src-main/engine/nbd/address';
import { FAKE_SIZE, fakeByte, fakeServer, twoMapsAllocation, type FakeMode } from '../../../nbd-helpers';

function expected(offset: number, length: number): Buffer {
  const out = Buffer.alloc(length);
  for (let i = 0; i < length; i++) out[i] = fakeByte(offset + i);
  return out;
}

async function rejects(promise: Promise<unknown>, code: string, message: RegExp): Promise<void> {
  await assert.rejects(promise, (error: unknown) => {
    assert.ok(error instanceof EngineError, `not an EngineError: ${String(error)}`);
    assert.equal(error.code, code, error.message);
    assert.match(error.message, message);
    return true;
  });
}

test('URLs: nbd:// and nbd+unix:// parse and print back; other forms are refused', () => {
  assert.deepEqual(parseNbdUrl('nbd://example.org/disk0'), { endpoint: { kind: 'tcp', host: 'example.org', port: 10809 }, exportName: 'disk0' });
  assert.deepEqual(parseNbdUrl('nbd://[::1]:10900/a%20b'), { endpoint: { kind: 'tcp', host: '::1', port: 10900 }, exportName: 'a b' });
  assert.deepEqual(parseNbdUrl('nbd+unix:///x?socket=/run/a.sock'), { endpoint: { kind: 'unix', path: '/run/a.sock' }, exportName: 'x' });
  assert.equal(formatNbdUrl(parseNbdUrl('nbd+unix:///x?socket=/run/a.sock')), 'nbd+unix:///x?socket=/run/a.sock');
  assert.equal(formatNbdUrl(parseNbdUrl('nbd://h/e')), 'nbd://h:10809/e');
  for (const bad of ['nbd+unix:///x', 'nbd+unix://host/x?socket=/a', 'http://h/e', 'nbd://h/e?tls=1', 'nbd:']) {
    assert.throws(() => parseNbdUrl(bad), (error: EngineError) => error.code === 'INVALID_ARGUMENT');
  }
});

test('a correct server: chunks out of order are reassembled, many reads in flight', { timeout: 20000 }, async () => {
  const fake = await fakeServer('ok');
  const client = await NbdClient.connect(fake.address, { metaContexts: ['base:allocation'] });
  assert.equal(client.size, FAKE_SIZE);
  assert.equal(client.readOnly, true);
  const reads = Array.from({ length: 40 }, (_, i) => ({ offset: i * 25_000 + 3, length: 1 + i * 97 }));
  const results = await Promise.all(reads.map((r) => client.read(r.offset, r.length)));
  reads.forEach((r, i) => assert.ok(results[i]!.equals(expected(r.offset, r.length)), `read ${i}`));
  assert.deepEqual(await client.blockStatus('base:allocation', 4096, 8192), [{ offset: 4096, length: 8192, flags: 0 }]);
  await rejects(client.write(0, Buffer.alloc(1)), 'IO_ERROR', /read-only/);
  await rejects(client.read(FAKE_SIZE - 1, 2), 'INVALID_ARGUMENT', /outside the export/);
  await client.close();
  await rejects(client.read(0, 1), 'IO_ERROR', /clos/);
});

test('two meta contexts mapped from the same requests: one described in part is asked again, the other is not lost', { timeout: 20000 }, async () => {
  const fake = await fakeServer('two-maps');
  const client = await NbdClient.connect(fake.address, { metaContexts: ['base:allocation', 'qemu:dirty-bitmap:b0'] });
  const maps = await client.mapContexts(['base:allocation', 'qemu:dirty-bitmap:b0']);
  const allocation = [];
  for (let offset = 0; offset < FAKE_SIZE; offset += 100_000) allocation.push({ offset, length: Math.min(100_000, FAKE_SIZE - offset), flags: twoMapsAllocation(offset) });
  assert.deepEqual(maps.get('base:allocation'), allocation);
  assert.deepEqual(maps.get('qemu:dirty-bitmap:b0'), [
    { offset: 0, length: 300_000, flags: 0 }, { offset: 300_000, length: 50_000, flags: 1 }, { offset: 350_000, length: 350_000, flags: 0 },
    { offset: 700_000, length: 10_000, flags: 1 }, { offset: 710_000, length: FAKE_SIZE - 710_000, flags: 0 },
  ]);
  // one request per 100000 bytes (the allocation's answers), not one more for the bitmap
  assert.equal(client.stats.requests, Math.ceil(FAKE_SIZE / 100_000));
  assert.deepEqual(await client.mapContext('qemu:dirty-bitmap:b0'), maps.get('qemu:dirty-bitmap:b0'));
  await client.close();
});

const hostile: Array<{ mode: FakeMode; code: string; message: RegExp; contexts?: string[]; at: 'connect' | 'read' | 'status' }> = [
  { mode: 'bad-greeting', code: 'IO_ERROR', message: /bad greeting magic/, at: 'connect' },
  { mode: 'oldstyle', code: 'IO_ERROR', message: /oldstyle/, at: 'connect' },
  { mode: 'huge-option-reply', code: 'IO_ERROR', message: /option reply of 2147483647 bytes/, at: 'connect' },
  { mode: 'extra-context', code: 'IO_ERROR', message: /granted meta context qemu:dirty-bitmap:evil, which was not asked for/, contexts: ['base:allocation'], at: 'connect' },
  { mode: 'ok', code: 'NOT_FOUND', message: /has no meta context qemu:dirty-bitmap:b0/, contexts: ['base:allocation', 'qemu:dirty-bitmap:b0'], at: 'connect' },
  { mode: 'stall-handshake', code: 'IO_ERROR', message: /no complete negotiation within 0.5 s/, at: 'connect' },
  { mode: 'bad-reply-magic', code: 'IO_ERROR', message: /bad reply magic 0xdeadbeef/, at: 'read' },
  { mode: 'close-mid-read', code: 'IO_ERROR', message: /closed the connection/, at: 'read' },
  { mode: 'oversized-chunk', code: 'IO_ERROR', message: /data chunk of \d+ bytes for a READ of 65536/, at: 'read' },
  { mode: 'short-read', code: 'IO_ERROR', message: /answered with 32768 bytes/, at: 'read' },
  { mode: 'stall-read', code: 'IO_ERROR', message: /did not answer READ of 65536 bytes at 65536 within 0.5 s/, at: 'read' },
  { mode: 'unknown-cookie', code: 'IO_ERROR', message: /unknown cookie/, at: 'read' },
  { mode: 'zero-extent', code: 'IO_ERROR', message: /extent of length 0/, contexts: ['base:allocation'], at: 'status' },
];

for (const c of hostile) {
  test(`hostile server (${c.mode}${c.contexts?.includes('qemu:dirty-bitmap:b0') ? ', unknown meta context' : ''}): ${c.code} at ${c.at}`, { timeout: 10000 }, async () => {
    const fake = await fakeServer(c.mode);
    const connecting = NbdClient.connect(fake.address, { timeoutMs: 500, metaContexts: c.contexts });
    if (c.at === 'connect') return rejects(connecting, c.code, c.message);
    const client = await connecting;
    if (c.at === 'status') await rejects(client.blockStatus('base:allocation', 0, 4096), c.code, c.message);
    else {
      // several requests in flight: every one of them fails, none hangs
      const reads = [client.read(65536, 65536), client.read(0, 512), client.read(4096, 100)];
      await rejects(reads[0]!, c.code, c.message);
      for (const other of reads.slice(1)) await assert.rejects(other, (error: EngineError) => error.code === 'IO_ERROR');
    }
    // the connection is dead afterwards: later requests fail at once
    await rejects(client.read(0, 1), 'IO_ERROR', /./);
    await client.close();
  });
}

test('an error chunk fails its own request only: EIO with the server message, the connection stays usable', { timeout: 10000 }, async () => {
  const fake = await fakeServer('error-chunk');
  const client = await NbdClient.connect(fake.address, { timeoutMs: 2000 });
  await rejects(client.read(0, 4096), 'IO_ERROR', /READ of 4096 bytes at 0 failed: EIO \(boom\)/);
  assert.ok((await client.read(8192, 4096)).equals(expected(8192, 4096)));
  await client.close();
});

test('a canceled read ends CANCELED and its late answer is dropped, not written into the buffer', { timeout: 10000 }, async () => {
  const fake = await fakeServer('ok');
  const client = await NbdClient.connect(fake.address);
  const controller = new AbortController();
  const buffer = Buffer.alloc(4096, 0xee);
  const reading = client.read(0, 4096, buffer, controller.signal);
  controller.abort();
  await rejects(reading, 'CANCELED', /canceled/);
  assert.ok((await client.read(100, 10)).equals(expected(100, 10)));
  assert.ok(buffer.equals(Buffer.alloc(4096, 0xee)));
  await client.close();
});
