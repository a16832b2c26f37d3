// Read ahead for sources read on the main thread (NBD, qemu-nbd): the planned blocks come back
// exact, each read from the source once, with reads overlapping; a block read again later
// starts no reads ahead; a read ahead that fails fails the caller's read of that block, and
// close waits for reads ahead nobody took.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Source } from '../../../../src-main/engine/io/port';
import { SourceBlocks } from '../../../../src-main/engine/pipeline/source-blocks';
import type { WorkerPool } from '../../../../src-main/engine/workers/pool';

const BLOCK = 64 * 1024;
const byteAt = (offset: number): number => (offset * 7 + (offset >> 11)) & 0xff;

/** An in-memory sized source whose reads take a few milliseconds and are logged. */
class SlowSource implements Source {
  readonly description = 'memory';
  readonly sequential = false;
  readonly reads: number[] = [];
  inFlight = 0;
  maxInFlight = 0;
  failAt: number | null = null;
  constructor(readonly size: number) {}
  async read(offset: number, buffer: Buffer, length: number): Promise<number> {
    this.reads.push(offset);
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((resolve) => setTimeout(resolve, 5));
    this.inFlight--;
    if (offset === this.failAt) throw new Error(`read error at ${offset}`);
    for (let i = 0; i < length; i++) buffer[i] = byteAt(offset + i);
    return length;
  }
  async close(): Promise<void> {}
}

// no spec: the pool is never asked to open anything
const noPool = {} as WorkerPool;

function bytesOf(read: { input: unknown }): Buffer {
  const input = read.input as { data: Uint8Array };
  return Buffer.from(input.data.buffer, input.data.byteOffset, input.data.byteLength);
}

function expected(offset: number, length: number): Buffer {
  return Buffer.from(Array.from({ length }, (_, i) => byteAt(offset + i)));
}

test('planned blocks come back exact, each read once, reads overlapping; a later re-read starts nothing ahead', async () => {
  const source = new SlowSource(16 * BLOCK);
  const blocks = await SourceBlocks.open(source, noPool);
  const plan = [1, 3, 4, 7, 9, 15].map((idx) => ({ offset: idx * BLOCK, length: BLOCK }));
  blocks.readAhead(plan);
  for (const { offset, length } of plan) {
    const read = await blocks.read(offset, length);
    assert.equal(read.length, length);
    assert.ok(bytesOf(read).equals(expected(offset, length)), `block at ${offset}`);
  }
  assert.deepEqual([...source.reads].sort((a, b) => a - b), plan.map((b) => b.offset), 'every planned block read once, nothing else');
  assert.ok(source.maxInFlight >= 2, `reads did not overlap (${source.maxInFlight} at most)`);
  source.reads.length = 0;
  assert.ok(bytesOf(await blocks.read(3 * BLOCK, BLOCK)).equals(expected(3 * BLOCK, BLOCK)));
  await blocks.close();
  assert.deepEqual(source.reads, [3 * BLOCK], 'a block read again is read alone');
});

test('a read ahead that fails fails the read of its block; close waits for reads nobody took', async () => {
  const source = new SlowSource(8 * BLOCK);
  source.failAt = 2 * BLOCK;
  const blocks = await SourceBlocks.open(source, noPool);
  blocks.readAhead([0, 1, 2, 3, 4].map((idx) => ({ offset: idx * BLOCK, length: BLOCK })));
  await blocks.read(0, BLOCK);
  await blocks.read(BLOCK, BLOCK);
  await assert.rejects(blocks.read(2 * BLOCK, BLOCK), /read error at 131072/);
  // blocks 3 and 4 were started ahead; close returns only once they ended
  await blocks.close();
  assert.equal(source.inFlight, 0);
  assert.ok(source.reads.includes(4 * BLOCK));
});

test('block buffers are shared memory; a released one takes a later block, an unreleased one keeps its bytes', async () => {
  const source = new SlowSource(8 * BLOCK);
  const blocks = await SourceBlocks.open(source, noPool);
  const memory = (read: { input: unknown }): ArrayBufferLike => (read.input as { data: Uint8Array }).data.buffer;
  const first = await blocks.read(0, BLOCK);
  assert.ok(memory(first) instanceof SharedArrayBuffer, 'a worker reads the block where it landed');
  const held = await blocks.read(BLOCK, BLOCK);
  first.release();
  first.release();
  const third = await blocks.read(2 * BLOCK, BLOCK);
  const fourth = await blocks.read(3 * BLOCK, BLOCK);
  assert.equal(memory(third), memory(first), 'the released buffer took the next block');
  assert.ok(memory(fourth) !== memory(first) && memory(fourth) !== memory(held), 'a buffer released twice is handed out once');
  assert.ok(bytesOf(held).equals(expected(BLOCK, BLOCK)), 'the unreleased block is intact');
  assert.ok(bytesOf(third).equals(expected(2 * BLOCK, BLOCK)));
  assert.ok(bytesOf(fourth).equals(expected(3 * BLOCK, BLOCK)));
  await blocks.close();
});

test('the plan\'s first blocks are read as soon as it is given; a block not read ahead is asked before the next ones', async () => {
  const source = new SlowSource(16 * BLOCK);
  const blocks = await SourceBlocks.open(source, noPool);
  const plan = [0, 1, 2, 3, 4, 5, 6, 7].map((idx) => ({ offset: idx * BLOCK, length: BLOCK }));
  blocks.readAhead(plan);
  assert.deepEqual(source.reads, [0, 1, 2].map((idx) => idx * BLOCK), 'read while the caller prepares');
  const read = await blocks.read(4 * BLOCK, BLOCK);
  assert.ok(bytesOf(read).equals(expected(4 * BLOCK, BLOCK)));
  assert.deepEqual(source.reads.slice(3), [4, 5, 6].map((idx) => idx * BLOCK), 'the asked block first, then the next ones');
  await blocks.close();
});
