// Block buffers shared with the worker threads, for pipelines whose main thread reads objects
// (and writes blocks) while workers only decode and verify them (restore and deep scrub of a
// folder store). A *pair* is an object buffer (room for the largest object, O_DIRECT-aligned)
// and a plain buffer (one block), both page-aligned SharedArrayBuffer memory: a message to a
// worker carries a view of them, not a copy.
import { encodedCapacity, sharedAlignedBuffer } from '../codec/object';
import { roundUp, UNIT } from '../store/folder-io';

/**
 * Blocks in flight per worker when the main thread does the I/O of a restore (reads,
 * verifications and writes together) or a deep scrub, each with an object and a block buffer
 * (8 MiB for 4 MiB blocks). Restores on the 2-core VM (8-14 alternating runs each, 2 GiB bench
 * image, shared machine): 3 per worker gave
 * 0.9x the disk floor, 4 gave 1.08x, 6 gave 1.19x (the workers writing the target themselves:
 * 0.92x); 6 would keep 96 MiB, past the bench's 400 MB peak RSS with a backup's buffers.
 */
export const BLOCKS_IN_FLIGHT_PER_WORKER = 4;

export interface BlockBuffers {
  object: Buffer;
  plain: Buffer;
}

/**
 * The pairs of the last run, kept for the next one of the same block size: a restore of 4 MiB
 * blocks on 2 workers uses 8 pairs (64 MiB), whose fresh pages would cost ~16,000 page faults
 * each time (about 14 µs each on these VMs), and the garbage collector frees shared memory
 * late: with a new set per run, the bench's five restores took the peak RSS to 640 MB.
 */
let kept: { blockSize: number; buffers: BlockBuffers[] } | null = null;

/** At least `count` pairs for blocks of `blockSize` bytes (the kept ones first); give them back with keepBuffers. */
export function takeBuffers(blockSize: number, count: number): BlockBuffers[] {
  const buffers = kept?.blockSize === blockSize ? kept.buffers : [];
  kept = null;
  const objectSize = roundUp(encodedCapacity(blockSize)) + UNIT;
  while (buffers.length < count) buffers.push({ object: sharedAlignedBuffer(objectSize), plain: sharedAlignedBuffer(blockSize) });
  return buffers;
}

/** Called when a run is over and no worker uses any of `buffers` any more. */
export function keepBuffers(blockSize: number, buffers: BlockBuffers[]): void {
  kept = { blockSize, buffers };
}
