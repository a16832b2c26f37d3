// Block buffers shared with the worker threads, for pipelines whose main thread reads objects
// (and writes blocks) while workers only decode and verify them (restore and deep scrub of a
// folder store). A *unit* is page-aligned SharedArrayBuffer memory with room for the largest
// object of a block, O_DIRECT-aligned (a message to a worker carries a view of it, not a
// copy); a restore uses them in *pairs*, an object buffer and a plain buffer (the verified
// block it writes), a deep scrub as object buffers plus one plain buffer per worker.
import { encodedCapacity, sharedAlignedBuffer } from '../codec/object';
import { roundUp, UNIT } from '../store/folder-io';

/**
 * Blocks in flight per worker when the main thread does the I/O of a restore (reads,
 * verifications and writes together), each with an object and a plain buffer (8 MiB for
 * 4 MiB blocks). Restores on the 2-core VM (8-14 alternating runs each, 2 GiB bench image,
 * shared machine): 3 per worker gave 0.9x the disk floor, 4 gave 1.08x, 6 gave 1.19x (the
 * workers writing the target themselves: 0.92x); 6 would keep 96 MiB, past the bench's 400 MB
 * peak RSS with a backup's buffers. A deep scrub uses the same memory: 2 * 4 units per worker,
 * one of them its plain buffer, the others objects in flight (7 per worker).
 */
export const BLOCKS_IN_FLIGHT_PER_WORKER = 4;

export interface BlockBuffers {
  object: Buffer;
  plain: Buffer;
}

/**
 * The units of the last run, kept for the next one of the same block size: a restore of 4 MiB
 * blocks on 2 workers uses 16 (65 MiB), whose fresh pages would cost ~16,000 page faults each
 * time (about 14 µs each on these VMs), and the garbage collector frees shared memory late:
 * with a new set per run, the bench's five restores took the peak RSS to 640 MB.
 */
let kept: { blockSize: number; units: Buffer[] } | null = null;

/** At least `count` units for blocks of `blockSize` bytes (the kept ones first); give them back with keepUnits. */
export function takeUnits(blockSize: number, count: number): Buffer[] {
  const units = kept?.blockSize === blockSize ? kept.units : [];
  kept = null;
  const size = roundUp(encodedCapacity(blockSize)) + UNIT;
  while (units.length < count) units.push(sharedAlignedBuffer(size));
  return units;
}

/** Called when a run is over and no worker uses any of `units` any more. */
export function keepUnits(blockSize: number, units: Buffer[]): void {
  kept = { blockSize, units };
}

/** At least `count` pairs of units (see takeUnits); give them back with keepBuffers. */
export function takeBuffers(blockSize: number, count: number): BlockBuffers[] {
  const units = takeUnits(blockSize, count * 2);
  if (units.length % 2 === 1) units.push(sharedAlignedBuffer(units[0].length));
  return Array.from({ length: units.length / 2 }, (_, i) => ({ object: units[2 * i], plain: units[2 * i + 1] }));
}

/** Called when a run is over and no worker uses any of `buffers` any more. */
export function keepBuffers(blockSize: number, buffers: BlockBuffers[]): void {
  keepUnits(blockSize, buffers.flatMap((pair) => [pair.object, pair.plain]));
}
