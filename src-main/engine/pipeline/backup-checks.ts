// Checks a backup makes by reading a few blocks of its source a second time. Nouns: a *sample*
// is a block chosen to be read (again). Hints are trusted for speed, so a few blocks they call
// unchanged (an incremental) or empty (a first backup) are read and must match the base or be
// zeros (HINTS_MISMATCH otherwise). A *source check* re-reads, at the end of a backup, blocks it
// read before and compares their digests with what was stored: a source that changed while it
// was read (a live disk without a snapshot) gives a version that never existed on disk.
import type { SourceCheck } from '../../../src-shared/model';
import { EngineError } from '../errors';
import type { Repository } from '../repository';
import type { WorkerPool } from '../workers/pool';
import type { SourceBlocks } from './source-blocks';

/** Blocks of the source read again at the end of a backup, unless told otherwise. */
export const SOURCE_SAMPLES = 8;

export interface BlockReading {
  pool: WorkerPool;
  reader: SourceBlocks;
  blockSize: number;
  blockLength: (idx: number) => number;
  signal: AbortSignal | undefined;
}

/** The digest of block `idx` as the source holds it now (null: all zeros). */
async function digestOf(io: BlockReading, idx: number): Promise<string | null> {
  const block = await io.reader.read(idx * io.blockSize, io.blockLength(idx), io.signal);
  if (block.length !== io.blockLength(idx)) throw new EngineError('IO_ERROR', `source ended at byte ${idx * io.blockSize + block.length} when block ${idx} was read again`);
  const result = await io.pool.run({ op: 'hashOnly', input: block.input }, block.transfer);
  block.release();
  return result.zero ? null : result.digest!;
}

function shuffled(items: number[]): number[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j], items[i]];
  }
  return items;
}

/**
 * backy2's safety net: wrong hints would silently corrupt every later version, so a few
 * blocks the hints leave out are read: with a base (`baseObjects`) they must equal the base's
 * block, on a first backup (`baseObjects` null) they must be zeros. A mismatch fails.
 */
export async function verifyHints(
  io: BlockReading,
  repo: Repository,
  baseObjects: Array<number | null> | null,
  /** blocks not to sample: those the hints name (and on a first backup those known to be empty) */
  skip: Set<number>,
  blockCount: number,
  samples: number,
  baseUid: string | null,
): Promise<{ blocks: number; bytes: number }> {
  const candidates: number[] = [];
  const end = baseObjects ? Math.min(blockCount, baseObjects.length) : blockCount;
  for (let idx = 0; idx < end; idx++) if (!skip.has(idx)) candidates.push(idx);
  const chosen = shuffled(candidates).slice(0, samples);
  const read = { blocks: 0, bytes: 0 };
  await Promise.all(chosen.map(async (idx) => {
    const actual = await digestOf(io, idx);
    read.blocks++;
    read.bytes += io.blockLength(idx);
    const objectId = baseObjects?.[idx] ?? null;
    const expected = objectId === null ? null : repo.meta.objectById(objectId)?.digest.toString('hex') ?? null;
    if (actual === expected) return;
    const where = `block ${idx} (offset ${idx * io.blockSize})`;
    throw new EngineError(
      'HINTS_MISMATCH',
      baseUid
        ? `source and base version ${baseUid} differ at ${where}, which the hints call unchanged; the hints are wrong or stale, no version was created`
        : `the source holds data at ${where}, which the hints leave out (on a first backup they list every extent that holds data); the hints are wrong or not for this source, no version was created`,
    );
  }));
  return read;
}

/** Up to `count` of the blocks read, spread evenly over them (the first and the last among them). */
export function pickSamples(read: readonly number[], count: number): number[] {
  if (count <= 0 || read.length === 0) return [];
  if (read.length <= count) return [...read];
  if (count === 1) return [read[0]];
  const picked = new Set<number>();
  for (let i = 0; i < count; i++) picked.add(read[Math.round((i * (read.length - 1)) / (count - 1))]);
  return [...picked];
}

/** Reads the sampled blocks again; `stored` holds the digest each had when the backup read it. */
export async function checkSource(io: BlockReading, stored: Map<number, string | null>): Promise<SourceCheck> {
  const changed: number[] = [];
  await Promise.all([...stored].map(async ([idx, digest]) => {
    if ((await digestOf(io, idx)) !== digest) changed.push(idx);
  }));
  return { sampled: stored.size, changed: changed.sort((a, b) => a - b), skipped: null };
}

/** The error of `--strict` when the check found changed blocks. */
export function sourceChangedError(description: string, check: SourceCheck, blockSize: number): EngineError {
  const blocks = check.changed.map((idx) => `${idx} (offset ${idx * blockSize})`).join(', ');
  return new EngineError(
    'SOURCE_CHANGED',
    `${description} changed while it was read: of ${check.sampled} blocks read again at the end, ${check.changed.length} differ (block ${blocks}); no version was created. Back up a snapshot (LVM, RBD, qcow2 with the VM stopped) or leave out --strict to keep such a version with a warning`,
  );
}

/** One line for people (job log, stderr) about a check that found changes. */
export function sourceChangedWarning(description: string, check: SourceCheck, blockSize: number): string {
  const blocks = check.changed.slice(0, 8).map((idx) => `${idx} (offset ${idx * blockSize})`).join(', ');
  return `the source ${description} changed while it was read: ${check.changed.length} of ${check.sampled} blocks read again at the end differ (block ${blocks}${check.changed.length > 8 ? ', ...' : ''}); the version may not match any state of the disk: back up a snapshot instead`;
}
