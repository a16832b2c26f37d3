// The restore's I/O without its verification, as a reference measured in the same run: every
// object of a version read from the folder store into the restore's buffers and every block
// written to a new file, with the same number of blocks in flight and O_DIRECT, nothing
// decoded or hashed (the file's bytes are not the image). A restore cannot be faster than this
// on the same disk; `dd`'s floor can be, when its buffer's pages happen to be contiguous (see
// README, "Folder restore and deep scrub against the disk").
import { unlinkSync } from 'node:fs';
import { maxStoredObjectSize } from '../../src-main/engine/codec/object';
import { openTarget } from '../../src-main/engine/io/index';
import { BLOCKS_IN_FLIGHT_PER_WORKER, keepBuffers, takeBuffers } from '../../src-main/engine/pipeline/block-buffers';
import { runBounded } from '../../src-main/engine/pipeline/bounded';
import type { Repository } from '../../src-main/engine/repository';
import { objectKey } from '../../src-main/engine/store/index';
import { defaultWorkerCount } from '../../src-main/engine/workers/pool';

/** Replays the I/O of restoring version `uid` to the new file `target` (removed afterwards). */
export async function replayRestoreIo(repo: Repository, uid: string, target: string, workers = defaultWorkerCount()): Promise<void> {
  const meta = repo.meta;
  const version = meta.requireVersion(uid);
  const repeated = meta.repeatedObjects(version.id);
  const out = await openTarget(target, { size: version.size });
  const free = takeBuffers(version.block_size, workers * BLOCKS_IN_FLIGHT_PER_WORKER);
  try {
    await runBounded(meta.iterateBlocks(version.id), free.length, undefined, async (block) => {
      if (block.object_id === null) return;
      const repeats = repeated.get(block.object_id);
      if (repeats && repeats[0] !== block.idx) return;
      const positions = (repeats ?? [block.idx]).map((idx) => idx * version.block_size);
      const length = Math.min(version.block_size, version.size - block.idx * version.block_size);
      const buffers = free.pop()!;
      try {
        await repo.store.getInto(objectKey(block.digest!.toString('hex')), buffers.object, { maxSize: maxStoredObjectSize(version.block_size) });
        for (const position of positions) await out.write(position, buffers.plain.subarray(0, length));
      } finally {
        free.push(buffers);
      }
    });
    await out.finish(version.size);
  } catch (error) {
    await out.abort('failed');
    throw error;
  } finally {
    keepBuffers(version.block_size, free);
  }
  unlinkSync(target);
}
