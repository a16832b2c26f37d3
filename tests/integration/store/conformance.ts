// Conformance suite of the store port: every ObjectStore (folder, S3 ...) passes it.
// `describeStoreConformance(name, makeStore)` registers the tests; `makeStore` returns a fresh,
// empty store for each test (its own folder, bucket or prefix) and a cleanup. Sizes are real
// (an empty item, a 64 MiB item, thousands of keys), failures are coded (OBJECT_MISSING), and
// an interrupted put (a process killed mid-write) is never visible.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { EngineError } from '../../../src-main/engine/errors';
import type { ObjectStore, StoreEntry } from '../../../src-main/engine/store/port';
import { objectKey } from '../../../src-main/engine/store/port';

export interface StoreUnderTest {
  store: ObjectStore;
  /** removes what the test left (a folder, a bucket's prefix) */
  dispose(): Promise<void>;
}

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');
const digestKey = (data: Uint8Array): string => objectKey(sha(data));

async function collect(entries: AsyncIterable<StoreEntry>): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for await (const entry of entries) out.push(entry);
  return out;
}

async function missing(promise: Promise<unknown>): Promise<void> {
  await assert.rejects(promise, (error: unknown) => error instanceof EngineError && error.code === 'OBJECT_MISSING');
}

export function describeStoreConformance(name: string, makeStore: () => Promise<StoreUnderTest>): void {
  describe(`store conformance: ${name}`, () => {
    const opened: StoreUnderTest[] = [];
    const fresh = async (): Promise<ObjectStore> => {
      const made = await makeStore();
      opened.push(made);
      return made.store;
    };
    after(async () => {
      for (const made of opened) {
        await made.store.close();
        await made.dispose();
      }
    });

    it('puts, gets whole and in ranges, sizes and deletes an item', async () => {
      const store = await fresh();
      const data = randomBytes(100_000);
      const key = digestKey(data);
      await store.put(key, data);
      assert.equal(sha(await store.get(key)), sha(data));
      assert.deepEqual(await store.get(key, { offset: 10, length: 1000 }), data.subarray(10, 1010));
      assert.deepEqual(await store.get(key, { offset: 99_990, length: 100 }), data.subarray(99_990), 'a range past the end is cut at the end');
      assert.equal(await store.size(key), data.length);
      const into = Buffer.alloc(200_000);
      assert.equal(sha(await store.getInto(key, into)), sha(data), 'getInto with room');
      assert.equal(sha(await store.getInto(key, Buffer.alloc(10))), sha(data), 'getInto without room gets a new buffer');
      await assert.rejects(store.getInto(key, into, { maxSize: 1000 }), (error: unknown) => error instanceof EngineError && error.code === 'OBJECT_CORRUPT');
      await store.delete(key);
      assert.equal(await store.size(key), null);
      await missing(store.get(key));
      await store.delete(key); // deleting a missing key is not an error
    });

    it('reports a missing key as OBJECT_MISSING on get, range get and getInto; size is null', async () => {
      const store = await fresh();
      const key = objectKey('ab'.repeat(32));
      await missing(store.get(key));
      await missing(store.get(key, { offset: 0, length: 10 }));
      await missing(store.getInto(key, Buffer.alloc(64)));
      assert.equal(await store.size(key), null);
    });

    it('stores an empty item and a 64 MiB item byte for byte', async () => {
      const store = await fresh();
      const empty = Buffer.alloc(0);
      await store.put(digestKey(empty), empty);
      assert.equal((await store.get(digestKey(empty))).length, 0);
      assert.equal(await store.size(digestKey(empty)), 0);
      const big = randomBytes(64 * 1024 * 1024);
      const key = digestKey(big);
      await store.put(key, big);
      assert.equal(await store.size(key), big.length);
      assert.equal(sha(await store.get(key)), sha(big));
      assert.equal(sha(await store.getInto(key, Buffer.alloc(1))), sha(big));
      const tail = await store.get(key, { offset: big.length - 5000, length: 5000 });
      assert.deepEqual(tail, big.subarray(big.length - 5000));
    });

    it('keeps other keys apart from objects and lists by prefix', async () => {
      const store = await fresh();
      const data = Buffer.from('manifest');
      await store.put('manifests/11111111-2222-3333-4444-555555555555', data);
      await store.put('repository/settings', Buffer.from('{}'));
      const object = randomBytes(5000);
      await store.put(digestKey(object), object);
      const manifests = await collect(store.list('manifests/'));
      assert.deepEqual(manifests.map((e) => e.key), ['manifests/11111111-2222-3333-4444-555555555555']);
      assert.deepEqual((await collect(store.list('objects/'))).map((e) => e.key), [digestKey(object)]);
      const all = (await collect(store.list(''))).map((e) => e.key).sort();
      assert.deepEqual(all, ['manifests/11111111-2222-3333-4444-555555555555', digestKey(object), 'repository/settings'].sort());
      assert.deepEqual(await store.get('manifests/11111111-2222-3333-4444-555555555555'), data);
    });

    it('lists thousands of keys, each once, with their sizes', async () => {
      const store = await fresh();
      const expected = new Map<string, number>();
      const items = Array.from({ length: 2500 }, (_, i) => Buffer.from(`item ${i} ${'x'.repeat(i % 97)}`));
      for (let i = 0; i < items.length; i += 50) {
        await Promise.all(items.slice(i, i + 50).map(async (item) => {
          await store.put(digestKey(item), item);
          expected.set(digestKey(item), item.length);
        }));
      }
      const listed = await collect(store.list('objects/'));
      assert.equal(listed.length, expected.size);
      assert.equal(new Set(listed.map((e) => e.key)).size, expected.size, 'no key twice');
      for (const entry of listed) {
        assert.equal(entry.temporary, false);
        assert.ok(expected.has(entry.key), `listed ${entry.key}`);
        if (entry.size !== null) assert.equal(entry.size, expected.get(entry.key));
      }
    });

    it('concurrent puts of one key leave one whole item', async () => {
      const store = await fresh();
      const key = objectKey('cd'.repeat(32));
      const versions = Array.from({ length: 8 }, (_, i) => Buffer.alloc(1024 * 1024 + i, i + 1));
      await Promise.all(versions.map((data) => store.put(key, data)));
      const got = await store.get(key);
      assert.ok(versions.some((data) => data.equals(got)), 'the item is one of the puts, whole');
      const listed = await collect(store.list('objects/'));
      assert.deepEqual(listed.map((e) => [e.key, e.temporary]), [[key, false]], 'one item, no leftovers');
    });

    it('a put whose signal aborts is not visible', async () => {
      const store = await fresh();
      const data = randomBytes(8 * 1024 * 1024);
      const key = digestKey(data);
      const controller = new AbortController();
      const put = store.put(key, data, controller.signal);
      controller.abort();
      await assert.rejects(put, (error: unknown) => error instanceof EngineError && error.code === 'CANCELED');
      assert.equal(await store.size(key), null);
      await missing(store.get(key));
    });

    it('a put killed mid-write is never visible; its leftover is listed as temporary and deletable', async () => {
      const store = await fresh();
      const key = objectKey('ef'.repeat(32));
      const bytes = 64 * 1024 * 1024;
      for (const delayMs of [0, 40, 120]) {
        const child = spawn(process.execPath, ['--import', 'tsx', join(__dirname, 'put-child.ts'), JSON.stringify(store.spec()), key, String(bytes)], { stdio: ['ignore', 'pipe', 'inherit'] });
        await new Promise<void>((resolve, reject) => {
          child.stdout.on('data', (chunk: Buffer) => { if (chunk.toString().includes('started')) resolve(); });
          child.on('exit', () => reject(new Error('the put child exited early')));
        });
        await new Promise((resolve) => setTimeout(resolve, delayMs));
        child.kill('SIGKILL');
        await new Promise((resolve) => child.once('exit', resolve));
        const size = await store.size(key);
        if (size !== null) {
          assert.equal(size, bytes, 'a visible item is whole');
          const got = await store.get(key);
          assert.ok(got.every((b) => b === 0x5a), 'and holds the bytes put');
        } else {
          await missing(store.get(key));
        }
      }
      for (const entry of await collect(store.list('objects/'))) {
        if (entry.temporary) {
          await store.delete(entry.key);
          continue;
        }
        assert.equal(entry.key, key, 'only the item itself is listed as an item');
      }
      assert.ok((await collect(store.list(''))).every((e) => !e.temporary), 'leftovers are gone after delete');
    });

    it('refuses keys it cannot store', async () => {
      const store = await fresh();
      for (const key of ['', '/abs', 'objects/../x', 'objects/NOTHEX', '../escape/x']) {
        await assert.rejects(store.put(key, Buffer.from('x')), (error: unknown) => error instanceof EngineError && error.code === 'INVALID_ARGUMENT', `key "${key}"`);
      }
    });

    it('a barrier resolves, and space() reports numbers or nulls', async () => {
      const store = await fresh();
      const data = randomBytes(10_000);
      await store.put(digestKey(data), data);
      await store.barrier();
      const space = await store.space();
      if (space) {
        for (const value of [space.used, space.free]) assert.ok(value === null || (Number.isFinite(value) && value >= 0));
      }
    });
  });
}
