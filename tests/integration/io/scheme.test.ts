// Sources and targets without a spec (the way NBD, qcow2 and RBD plug in): a kind registered in
// engine/io/schemes.ts is opened by its prefix; its blocks are read on the main thread and
// transferred to the workers, its allocation map's holes and zero extents are recorded sparse
// without being read, and a restore writes verified blocks to it from the main thread.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import type { AllocationExtent, Source, Target } from '../../../src-main/engine/io/port';
import { SCHEMES, type IoScheme } from '../../../src-main/engine/io/schemes';
import { backup } from '../../../src-main/engine/pipeline/backup';
import { restore } from '../../../src-main/engine/pipeline/restore';
import { Repository } from '../../../src-main/engine/repository';
import { BS, seededBytes, tempDir } from '../../helpers';

const sha = (data: Uint8Array): string => createHash('sha256').update(data).digest('hex');

/**
 * An image in memory: 9 blocks and a short tail; blocks 2-4 a hole, block 6 zeros that are
 * data, block 8 and the short tail a zero extent.
 */
function image(): { bytes: Buffer; map: AllocationExtent[] } {
  const size = 9 * BS + 777;
  const bytes = Buffer.alloc(size);
  for (const idx of [0, 1, 5, 7]) seededBytes(idx + 1, BS).copy(bytes, idx * BS);
  const map: AllocationExtent[] = [
    { offset: 0, length: 2 * BS, kind: 'data' },
    { offset: 2 * BS, length: 3 * BS, kind: 'hole' },
    { offset: 5 * BS, length: 3 * BS, kind: 'data' },
    { offset: 8 * BS, length: size - 8 * BS, kind: 'zero' },
  ];
  return { bytes, map };
}

class MemorySource implements Source {
  readonly sequential = false;
  readonly reads: number[] = [];
  constructor(readonly description: string, private readonly bytes: Buffer, private readonly map: AllocationExtent[]) {}
  get size(): number { return this.bytes.length; }
  async read(offset: number, buffer: Buffer, length: number): Promise<number> {
    this.reads.push(offset);
    return this.bytes.copy(buffer, 0, offset, Math.min(offset + length, this.bytes.length));
  }
  async allocation(): Promise<AllocationExtent[]> { return this.map; }
  async close(): Promise<void> {}
}

class MemoryTarget implements Target {
  readonly sequential = false;
  readonly overwrites = false;
  readonly zeroed = true;
  readonly size = null;
  bytes = Buffer.alloc(0);
  finished = false;
  constructor(readonly description: string, size: number) { this.bytes = Buffer.alloc(size); }
  async write(offset: number, data: Buffer): Promise<void> { data.copy(this.bytes, offset); }
  async writeZeros(offset: number, length: number): Promise<void> { this.bytes.fill(0, offset, offset + length); }
  async flush(): Promise<void> {}
  async finish(size: number): Promise<void> { this.bytes = this.bytes.subarray(0, size); this.finished = true; }
  async abort(): Promise<void> {}
}

describe('a registered kind of source and target without a spec', () => {
  const dir = tempDir();
  const repo = Repository.init(join(dir, 'repo'), { blockSize: BS });
  const { bytes, map } = image();
  const sources: MemorySource[] = [];
  const targets: MemoryTarget[] = [];
  const scheme: IoScheme = {
    title: 'test memory image',
    prefixes: ['memory:'],
    async openSource(location) { const source = new MemorySource(location, bytes, map); sources.push(source); return source; },
    async openTarget(location, options) { const target = new MemoryTarget(location, options.size); targets.push(target); return target; },
  };
  SCHEMES.push(scheme);
  after(() => {
    SCHEMES.splice(SCHEMES.indexOf(scheme), 1);
    repo.close();
  });

  it('backs up through main-thread reads, skipping the allocation map\'s hole unread, and restores bit-exact', async () => {
    const result = await backup(repo, { source: 'memory:disk', name: 'disk' });
    assert.equal(result.stats.sizeBytes, bytes.length);
    // Each data block is read once, and the end-of-backup source check reads some again (never a hole).
    assert.deepEqual([...new Set(sources[0].reads)].sort((a, b) => a - b), [0, 1, 5, 6, 7].map((idx) => idx * BS), 'the hole and the zero extent (short tail included) were not read');
    assert.equal(result.sourceCheck?.changed.length, 0);
    assert.equal(result.stats.blocksSparse, 6, 'the hole, the zero extent and the zero block 6 are sparse');
    assert.equal(result.stats.bytesRead, 5 * BS);

    await restore(repo, { uid: result.uid, target: 'memory:out' });
    assert.ok(targets[0].finished);
    assert.equal(sha(targets[0].bytes), sha(bytes), 'a target without a spec gets every verified block');

    const file = join(dir, 'restored.img');
    await restore(repo, { uid: result.uid, target: file });
    assert.equal(sha(readFileSync(file)), sha(bytes));
  });
});
