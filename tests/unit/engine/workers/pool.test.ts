// Worker pools are parked after a job and handed to the next job with the same settings; a pool
// that failed, or still has work in flight, is ended instead.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { WorkerPool } from '../../../../src-main/engine/workers/pool';
import type { WorkerSettings } from '../../../../src-main/engine/workers/protocol';

const BS = 65536;
const dir = mkdtempSync(join(tmpdir(), 'bv-pool-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const settings = (extra: Partial<WorkerSettings> = {}): WorkerSettings => ({
  blockSize: BS, compression: { algorithm: 'zstd', level: 1 }, slots: 2, store: { kind: 'folder', root: dir, direct: false }, ...extra,
});

describe('WorkerPool.take and release', () => {
  const file = join(dir, 'data');
  const data = Buffer.alloc(BS, 7);
  writeFileSync(file, data);
  const digest = createHash('sha256').update(data).digest('hex');

  async function hashWith(pool: WorkerPool): Promise<string | undefined> {
    const io = await pool.openIo({ kind: 'file', path: file, direct: false }, 'read');
    try {
      return (await pool.run({ op: 'hashOnly', input: { io, offset: 0, length: BS } })).digest;
    } finally {
      await pool.closeIo(io);
    }
  }

  it('hands a released pool to the next job with the same settings, and not to others', async () => {
    const first = WorkerPool.take(settings(), 2);
    assert.equal(await hashWith(first), digest);
    await first.release();
    const other = WorkerPool.take(settings({ compression: { algorithm: 'none', level: 0 } }), 2);
    assert.notEqual(other, first, 'other settings get a new pool');
    const again = WorkerPool.take(settings(), 2);
    assert.equal(again, first, 'the parked pool is reused');
    assert.equal(await hashWith(again), digest, 'and still works');
    const keyed = WorkerPool.take(settings({ keys: { data: Buffer.alloc(32, 1), name: Buffer.alloc(32, 2) } }), 2);
    assert.notEqual(keyed, first, 'different keys get a new pool');
    await Promise.all([other.close(), again.close(), keyed.close()]);
  });

  it('ends a pool released with work in flight or after a worker died', async () => {
    const busy = WorkerPool.take(settings(), 3);
    const io = await busy.openIo({ kind: 'file', path: file, direct: false }, 'read');
    const inFlight = assert.rejects(busy.run({ op: 'hashOnly', input: { io, offset: 0, length: BS } }), /closed with a request in flight/);
    await busy.release();
    await inFlight;
    const next = WorkerPool.take(settings(), 3);
    assert.notEqual(next, busy, 'a pool released while busy is not reused');

    // a worker thread that exits fails the pool: it is ended, not parked
    const worker = (next as unknown as { workers: Array<{ worker: { terminate(): Promise<number> } }> }).workers[0].worker;
    await worker.terminate();
    await assert.rejects(hashWith(next));
    await next.release();
    const fresh = WorkerPool.take(settings(), 3);
    assert.notEqual(fresh, next);
    assert.equal(await hashWith(fresh), digest);
    await fresh.close();
  });
});

describe('WorkerPool.runWith', () => {
  it('builds each request for the least busy worker, which runs it', async () => {
    const pool = new WorkerPool(settings(), 2);
    try {
      const data = Buffer.alloc(BS, 3);
      const digest = createHash('sha256').update(data).digest('hex');
      const chosen: number[] = [];
      const request = (worker: number) => { chosen.push(worker); return { op: 'hashOnly' as const, input: { data: Uint8Array.from(data) } }; };
      const replies = await Promise.all([pool.runWith(request), pool.runWith(request), pool.runWith(request)]);
      assert.deepEqual(chosen.slice(0, 2).sort(), [0, 1], 'the second request goes to the idle worker');
      assert.ok(replies.every((reply) => reply.digest === digest));
    } finally {
      await pool.close();
    }
  });
});
