// Store locks age on the store's clock (S3's LastModified), not on the clocks of the machines
// that share the bucket: a lock put a moment ago counts whatever time its writer's clock shows,
// and a lock the store last saw written more than LOCK_STALE_MS ago is stale even when its
// writer's clock claims a fresh refresh. A store that tells no times falls back to the
// writer's `refreshed`. (tests/integration/s3-machines.test.ts checks the same on real RGW.)
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LOCK_STALE_MS, takeCleanupLock, takeWriterLock, type StoreLockBody } from '../../../../src-main/engine/store-locks';
import type { Metadata } from '../../../../src-main/engine/meta/database';
import type { ObjectStore, StoreEntry } from '../../../../src-main/engine/store/port';
import { EngineError } from '../../../../src-main/engine/errors';

/** An S3-like store in memory whose clock (`now`) the test sets; `withTimes: false` lists no times. */
function memoryStore(withTimes: boolean): { store: ObjectStore; items: Map<string, { data: Buffer; modified: number }>; clock: { now: number } } {
  const items = new Map<string, { data: Buffer; modified: number }>();
  const clock = { now: 1_900_000_000_000 };
  const store = {
    kind: 's3',
    location: 's3://memory/test',
    async put(key: string, data: Buffer) {
      items.set(key, { data: Buffer.from(data), modified: clock.now });
    },
    async get(key: string) {
      const item = items.get(key);
      if (!item) throw new EngineError('OBJECT_MISSING', `${key} is missing`);
      return item.data;
    },
    async delete(key: string) {
      items.delete(key);
    },
    async *list(prefix: string): AsyncIterable<StoreEntry> {
      for (const [key, item] of [...items]) {
        if (key.startsWith(prefix)) yield { key, size: item.data.length, temporary: false, ...(withTimes ? { modified: item.modified } : {}) };
      }
    },
  } as unknown as ObjectStore;
  return { store, items, clock };
}

function metadata(): Metadata {
  const settings = new Map<string, string>();
  return { getSetting: (name: string) => settings.get(name) ?? null, setSetting: (name: string, value: string) => void settings.set(name, value) } as unknown as Metadata;
}

const otherWriter = (refreshed: number): StoreLockBody => ({
  kind: 'writer', instance: 'fedcba9876543210fedcba9876543210', host: 'another-host', pid: 4242, reason: 'backup of vm1', started: refreshed, refreshed,
});
const WRITER_KEY = 'locks/writer-fedcba9876543210fedcba9876543210-000000000001';

describe('store locks on the store clock', () => {
  it("counts a lock the store saw written just now, though its writer's clock is an hour behind", async () => {
    const { store, items, clock } = memoryStore(true);
    await store.put(WRITER_KEY, Buffer.from(JSON.stringify(otherWriter(Date.now() - 60 * 60_000))));
    clock.now += 1000;
    await assert.rejects(takeCleanupLock({ store, meta: metadata() }, 'cleanup'), (error: EngineError) => error.code === 'LOCKED' && /pid 4242 on another-host/.test(error.message));
    assert.ok(items.has(WRITER_KEY), "the other machine's lock stays");
    assert.deepEqual([...items.keys()], [WRITER_KEY], "the refused cleanup's own lock is gone");
  });

  it("drops a lock the store last saw written longer ago than the stale time, though its writer's clock says it was just refreshed", async () => {
    const { store, items, clock } = memoryStore(true);
    await store.put(WRITER_KEY, Buffer.from(JSON.stringify(otherWriter(Date.now() + 60 * 60_000))));
    clock.now += LOCK_STALE_MS + 1000;
    const lock = await takeCleanupLock({ store, meta: metadata() }, 'cleanup');
    assert.ok(lock);
    assert.ok(!items.has(WRITER_KEY), 'the stale lock was removed');
    await lock.release();
    assert.equal(items.size, 0);
  });

  it('keeps a lock younger than the stale time by the store clock, and a writer waits for a live cleanup', async () => {
    const { store, clock } = memoryStore(true);
    await store.put(WRITER_KEY, Buffer.from(JSON.stringify(otherWriter(0))));
    clock.now += LOCK_STALE_MS - 60_000;
    await assert.rejects(takeCleanupLock({ store, meta: metadata() }, 'cleanup'), (error: EngineError) => error.code === 'LOCKED');
    const cleanup = { ...otherWriter(0), kind: 'cleanup' as const };
    const cleanupKey = 'locks/cleanup-fedcba9876543210fedcba9876543210-000000000002';
    await store.put(cleanupKey, Buffer.from(JSON.stringify(cleanup)));
    const waits: Array<string | null> = [];
    const controller = new AbortController();
    const writer = takeWriterLock({ store, meta: metadata(), syncWithStore: async () => undefined }, 'backup', {
      signal: controller.signal,
      onWaiting: (what) => {
        waits.push(what);
        controller.abort();
      },
    });
    await assert.rejects(writer, (error: EngineError) => error.code === 'CANCELED');
    assert.match(String(waits[0]), /waiting for a cleanup on another machine/);
  });

  it("falls back to the writer's own refresh time when the store lists no times", async () => {
    const { store, items } = memoryStore(false);
    await store.put(WRITER_KEY, Buffer.from(JSON.stringify(otherWriter(Date.now() - LOCK_STALE_MS - 60_000))));
    const lock = await takeCleanupLock({ store, meta: metadata() }, 'cleanup');
    assert.ok(lock);
    assert.ok(!items.has(WRITER_KEY));
    await lock.release();
    await store.put(WRITER_KEY, Buffer.from(JSON.stringify(otherWriter(Date.now()))));
    await assert.rejects(takeCleanupLock({ store, meta: metadata() }, 'cleanup'), (error: EngineError) => error.code === 'LOCKED');
  });
});
