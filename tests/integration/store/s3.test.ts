// The S3 store and the retry decorator against the real Ceph RGW: every operation with
// identical bytes, listing across pages with unfinished uploads as temporary entries, every
// operation through the fault proxy (random faults and each fault forced in turn), a request
// that fails every attempt, and wrong credentials, a missing bucket and an unreachable
// endpoint failing fast with a clear code and changing nothing.
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { CreateMultipartUploadCommand, UploadPartCommand } from '@aws-sdk/client-s3';
import { EngineError } from '../../../src-main/engine/errors';
import type { StoreEntry } from '../../../src-main/engine/store/port';
import { RetryingStore } from '../../../src-main/engine/store/retry';
import { S3Store } from '../../../src-main/engine/store/s3';
import { startFaultProxy, type FaultProxy } from '../../ceph/fault-proxy';
import { adminClient, createBucket, removeBucket, s3Spec } from '../../ceph/rgw';

const sha = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

async function collect(entries: AsyncIterable<StoreEntry>): Promise<StoreEntry[]> {
  const out: StoreEntry[] = [];
  for await (const entry of entries) out.push(entry);
  return out.sort((a, b) => a.key.localeCompare(b.key));
}

async function refused(promise: Promise<unknown>, code: string): Promise<EngineError> {
  const error = await promise.then(
    () => assert.fail(`expected ${code}, got success`),
    (e: unknown) => e,
  );
  assert.ok(error instanceof EngineError, `not an EngineError: ${String(error)}`);
  assert.equal(error.code, code, error.message);
  return error;
}

describe('S3 store on RGW', () => {
  let bucket: string;
  let store: RetryingStore;

  before(async () => {
    bucket = await createBucket();
    store = new RetryingStore(new S3Store(s3Spec(bucket)));
  });
  after(async () => {
    await store.close();
    await removeBucket(bucket);
  });

  it('puts, gets whole and in ranges, sizes and deletes with identical bytes', async () => {
    const data = randomBytes(5 * 1024 * 1024 + 17);
    const key = `objects/${sha(data)}`;
    await store.put(key, data);
    assert.equal(sha(await store.get(key)), sha(data));
    assert.equal(await store.size(key), data.length);
    assert.deepEqual(await store.get(key, { offset: 1000, length: 4096 }), data.subarray(1000, 5096));
    assert.deepEqual(await store.get(key, { offset: data.length - 10, length: 100 }), data.subarray(data.length - 10), 'a range past the end is cut');
    assert.equal((await store.get(key, { offset: data.length + 5, length: 10 })).length, 0);
    assert.equal((await store.get(key, { offset: 3, length: 0 })).length, 0);
    const room = Buffer.alloc(data.length + 100);
    const into = await store.getInto(key, room);
    assert.equal(into.buffer, room.buffer, 'read into the buffer given');
    assert.equal(sha(into), sha(data));
    assert.equal(sha(await store.getInto(key, Buffer.alloc(10))), sha(data), 'a buffer too small: a new one');
    await refused(store.getInto(key, room, { maxSize: data.length - 1 }), 'OBJECT_CORRUPT');
    await store.put('objects/e3b0c442', Buffer.alloc(0));
    assert.equal((await store.get('objects/e3b0c442')).length, 0);
    assert.equal(await store.size('objects/e3b0c442'), 0);
    await store.delete(key);
    await store.delete('objects/e3b0c442');
    await store.delete(key);
    assert.equal(await store.size(key), null);
    await refused(store.get(key), 'OBJECT_MISSING');
    await refused(store.get(key, { offset: 0, length: 0 }), 'OBJECT_MISSING');
  });

  it('refuses names outside the port\'s key syntax and changes nothing', async () => {
    for (const key of ['Objects/ABC', '../x', '/abs', 'a//b', 'sp ace', '']) await refused(store.put(key, Buffer.from('x')), 'INVALID_ARGUMENT');
    assert.deepEqual(await collect(store.list('')), []);
  });

  it('lists across pages, under a prefix, with unfinished uploads as temporary entries that delete aborts', async () => {
    const keys: string[] = [];
    const payload = Buffer.from('x');
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 1050; i++) {
      const key = `objects/${String(i).padStart(5, '0')}`;
      keys.push(key);
      pending.push(store.put(key, payload));
    }
    await store.put('manifests/one', Buffer.from('manifest'));
    await Promise.all(pending);
    const admin = adminClient();
    const upload = await admin.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: 'repo/objects/unfinished' }));
    await admin.send(new UploadPartCommand({ Bucket: bucket, Key: 'repo/objects/unfinished', UploadId: upload.UploadId, PartNumber: 1, Body: Buffer.alloc(1024) }));
    admin.destroy();

    const listed = await collect(store.list('objects/'));
    const finished = listed.filter((e) => !e.temporary);
    assert.deepEqual(finished.map((e) => e.key), keys);
    assert.ok(finished.every((e) => e.size === 1));
    const temporary = listed.filter((e) => e.temporary);
    assert.equal(temporary.length, 1);
    assert.ok(temporary[0].key.startsWith('objects/unfinished.upload-'), temporary[0].key);
    assert.deepEqual((await collect(store.list('manifests/'))).map((e) => e.key), ['manifests/one']);

    await store.delete(temporary[0].key);
    assert.deepEqual((await collect(store.list('objects/'))).filter((e) => e.temporary), []);
    await Promise.all(keys.map((key) => store.delete(key)));
    await store.delete('manifests/one');
    assert.deepEqual(await collect(store.list('')), []);
  });

  it('fails fast with UNAUTHORIZED on wrong credentials and writes nothing', async () => {
    const wrong = new RetryingStore(new S3Store(s3Spec(bucket, { credentials: { accessKeyId: 'test', secretAccessKey: 'wrong-secret' } })));
    const unknown = new RetryingStore(new S3Store(s3Spec(bucket, { credentials: { accessKeyId: 'nobody', secretAccessKey: 'x' } })));
    const started = Date.now();
    const error = await refused(wrong.put('objects/dead00', Buffer.from('no')), 'UNAUTHORIZED');
    assert.match(error.message, /access denied/);
    assert.doesNotMatch(error.message, /wrong-secret/);
    await refused(unknown.put('objects/dead00', Buffer.from('no')), 'UNAUTHORIZED');
    await refused(unknown.get('objects/dead00'), 'UNAUTHORIZED');
    await refused((unknown.inner as S3Store).checkBucket(), 'UNAUTHORIZED');
    assert.ok(Date.now() - started < 5000, 'no retries of a permanent error');
    assert.equal(wrong.retryCounts().retries + unknown.retryCounts().retries, 0);
    assert.equal(await store.size('objects/dead00'), null);
    await wrong.close();
    await unknown.close();
  });

  it('refuses block-sized puts with wrong credentials or a missing bucket at once, never as a reset connection', async () => {
    // Bodies of 2 MB and more: RGW refuses them before reading the body; 16 at once, as a backup sends them.
    const block = randomBytes(4 * 1024 * 1024 + 16);
    const wrong = new RetryingStore(new S3Store(s3Spec(bucket, { credentials: { accessKeyId: 'test', secretAccessKey: 'wrong-secret' } })));
    const absent = new RetryingStore(new S3Store(s3Spec(`${bucket}-missing`)));
    const keys: string[] = [];
    const started = Date.now();
    for (let round = 0; round < 3; round++) {
      const puts = Array.from({ length: 16 }, (_, i) => {
        const key = `objects/${sha(Buffer.from(`refused-${round}-${i}`))}`;
        keys.push(key);
        return [refused(wrong.put(key, block), 'UNAUTHORIZED'), refused(absent.put(key, block), 'NOT_FOUND')];
      }).flat();
      await Promise.all(puts);
    }
    assert.deepEqual(wrong.retryCounts(), { retries: 0, exhausted: 0, causes: {} });
    assert.deepEqual(absent.retryCounts(), { retries: 0, exhausted: 0, causes: {} });
    assert.ok(Date.now() - started < 20_000, 'no retries of a permanent error');
    const written = new Set((await collect(store.list('objects/'))).map((entry) => entry.key));
    assert.deepEqual(keys.filter((key) => written.has(key)), [], 'nothing written');
    await wrong.close();
    await absent.close();
  });

  it('fails fast with NOT_FOUND for a missing bucket and creates nothing', async () => {
    const missing = `${bucket}-missing`;
    const absent = new RetryingStore(new S3Store(s3Spec(missing)));
    const started = Date.now();
    const error = await refused(absent.put('objects/abcd', Buffer.from('x')), 'NOT_FOUND');
    assert.match(error.message, new RegExp(`bucket "${missing}" does not exist`));
    await refused((absent.inner as S3Store).checkBucket(), 'NOT_FOUND');
    await refused(collect(absent.list('')), 'NOT_FOUND');
    assert.ok(Date.now() - started < 5000);
    await absent.close();
    const check = new S3Store(s3Spec(missing));
    await refused(check.checkBucket(), 'NOT_FOUND');
    await check.close();
  });

  it('reports an unresolvable host and a refused connection with their causes', async () => {
    const dns = new RetryingStore(new S3Store(s3Spec(bucket, { endpoint: 'http://no-such-host.invalid:7480' })));
    const error = await refused(dns.size('objects/abcd'), 'IO_ERROR');
    assert.match(error.message, /cannot resolve/);
    await dns.close();
    const refusedStore = new RetryingStore(new S3Store(s3Spec(bucket, { endpoint: 'http://127.0.0.1:9' })), { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 });
    const down = await refused(refusedStore.size('objects/abcd'), 'IO_ERROR');
    assert.match(down.message, /failed 3 times.*ECONNREFUSED/);
    assert.deepEqual(refusedStore.retryCounts(), { retries: 2, exhausted: 1, causes: { ECONNREFUSED: 2 } });
    await refusedStore.close();
  });
});

describe('S3 store through the fault proxy', () => {
  let bucket: string;
  let proxy: FaultProxy;
  let store: RetryingStore;

  before(async () => {
    bucket = await createBucket();
    proxy = await startFaultProxy({ rate: 0 });
    store = new RetryingStore(new S3Store(s3Spec(bucket, { endpoint: proxy.url, timeoutMs: 2500 })), { attempts: 8, baseDelayMs: 20, maxDelayMs: 200 });
  });
  after(async () => {
    await store.close();
    await proxy.close();
    await removeBucket(bucket);
  });

  it('retries each kind of fault and counts it by cause', async () => {
    const data = randomBytes(256 * 1024);
    proxy.script(['500', '503', 'reset', 'stall']);
    await store.put('objects/f0ced0', data);
    assert.deepEqual(store.takeRetryCounts().causes, { '500 InternalError': 1, '503 SlowDown': 1, 'connection reset': 1, timeout: 1 });
    proxy.script(['reset', 'stall', '503']);
    assert.equal(sha(await store.get('objects/f0ced0')), sha(data));
    const counts = store.takeRetryCounts();
    assert.equal(counts.retries, 3);
    assert.equal(counts.causes.timeout, 1);
    assert.equal(counts.causes['503 SlowDown'], 1);
    proxy.script(['reset', '500']);
    assert.equal(await store.size('objects/f0ced0'), data.length);
    proxy.script(['503', 'pass', 'stall']);
    assert.deepEqual((await collect(store.list('objects/'))).map((e) => e.key), ['objects/f0ced0']);
    proxy.script(['500']);
    await store.delete('objects/f0ced0');
    assert.equal(await store.size('objects/f0ced0'), null);
  });

  it('gives up after the last attempt with IO_ERROR naming the cause', async () => {
    const few = new RetryingStore(new S3Store(s3Spec(bucket, { endpoint: proxy.url, timeoutMs: 1500 })), { attempts: 3, baseDelayMs: 10, maxDelayMs: 20 });
    proxy.script(['503', '503', '503']);
    const error = await refused(few.put('objects/0e0e0e', Buffer.from('x')), 'IO_ERROR');
    assert.match(error.message, /failed 3 times; last: .*SlowDown/);
    assert.deepEqual(few.retryCounts(), { retries: 2, exhausted: 1, causes: { '503 SlowDown': 2 } });
    await few.close();
    assert.equal(await store.size('objects/0e0e0e'), null);
  });

  it('every operation succeeds with identical bytes at a 5 % fault rate', async () => {
    proxy.rate = 0.05;
    const before = { ...proxy.counts };
    const items = Array.from({ length: 120 }, (_, i) => randomBytes(16 * 1024 + i * 997));
    const keyOf = (data: Buffer): string => `objects/${sha(data)}`;
    await Promise.all(items.map((data) => store.put(keyOf(data), data)));
    for (let round = 0; round < 2; round++) {
      const read = await Promise.all(items.map((data) => store.get(keyOf(data))));
      read.forEach((data, i) => assert.equal(sha(data), sha(items[i])));
      const ranges = await Promise.all(items.map((data) => store.get(keyOf(data), { offset: 100, length: 5000 })));
      ranges.forEach((data, i) => assert.deepEqual(data, items[i].subarray(100, 5100)));
      const sizes = await Promise.all(items.map((data) => store.size(keyOf(data))));
      assert.deepEqual(sizes, items.map((data) => data.length));
      assert.deepEqual((await collect(store.list('objects/'))).map((e) => e.key), items.map(keyOf).sort());
    }
    await Promise.all(items.map((data) => store.delete(keyOf(data))));
    assert.deepEqual(await collect(store.list('')), []);
    const injected = proxy.counts['500'] + proxy.counts['503'] + proxy.counts.reset + proxy.counts.stall - (before['500'] + before['503'] + before.reset + before.stall);
    const counts = store.takeRetryCounts();
    assert.ok(injected > 0, `seed ${proxy.seed}: the proxy injected no faults in ${proxy.counts.requests - before.requests} requests`);
    // Every injected fault costs one retry; a slow moment of the shared machine may add a timeout.
    assert.ok(counts.retries >= injected, `seed ${proxy.seed}: ${injected} faults injected, ${JSON.stringify(counts)}`);
    assert.ok(Object.keys(counts.causes).some((cause) => cause.startsWith('5')), JSON.stringify(counts));
    assert.equal(counts.exhausted, 0);
    proxy.rate = 0;
  });
});
