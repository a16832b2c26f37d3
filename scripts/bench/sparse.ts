// Memory test on a large, mostly sparse image (holes cost no disk): run in a child process of
// its own so its peak RSS is the engine's alone. The child writes the image, backs it up,
// restores it to a new file and checks the restore block by block, then reports over IPC.
import { fork } from 'node:child_process';
import { createHash } from 'node:crypto';
import { closeSync, openSync, readSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { backup, type BackupOptions } from '../../src-main/engine/pipeline/backup';
import { restore } from '../../src-main/engine/pipeline/restore';
import { Repository } from '../../src-main/engine/repository';
import { BENCH_BLOCK, writeSparseImage } from './image';
import { diskUsage, fail, rate, round, syncAll } from './tools';

export interface SparseResult {
  bytes: number;
  dataBlocks: number;
  backupSeconds: number;
  backupMbps: number;
  restoreSeconds: number;
  restoreMbps: number;
  peakRssBytes: number;
  restoredAllocatedBytes: number;
  /** the whole test: writing the image, backup, restore, checks */
  totalSeconds: number;
}

type Tuning = Pick<BackupOptions, 'workers' | 'slotsPerWorker' | 'syncEachObject'>;

interface ChildParams {
  work: string;
  size: number;
  seed: string;
  tuning: Tuning;
}

const DATA_FRACTION = 1 / 64;

export function runSparseChild(work: string, size: number, seed: string, tuning: Tuning): Promise<SparseResult> {
  const params: ChildParams = { work, size, seed, tuning };
  return new Promise((resolve, reject) => {
    const child = fork(process.argv[1], ['--sparse-child', JSON.stringify(params)], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
    let result: SparseResult | null = null;
    child.on('message', (message) => { result = message as SparseResult; });
    child.on('error', reject);
    child.on('exit', (code) => {
      if (code === 0 && result) resolve(result);
      else reject(new Error(`benchmark failed: the sparse test process exited with ${code}`));
    });
  });
}

function readBlock(path: string, idx: number, length: number): Buffer {
  const buffer = Buffer.alloc(length);
  const fd = openSync(path, 'r');
  try {
    let done = 0;
    while (done < length) {
      const n = readSync(fd, buffer, done, length - done, idx * BENCH_BLOCK + done);
      if (n === 0) break;
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return buffer;
}

/** The child's body: argv holds the JSON parameters. */
export async function runSparseTest(argv: string[]): Promise<void> {
  const { work, size, seed, tuning } = JSON.parse(argv[0]) as ChildParams;
  const image = join(work, 'sparse.raw');
  const repoPath = join(work, 'sparse-repo');
  const target = join(work, 'sparse-restored.raw');
  const testStarted = performance.now();
  const blockCount = Math.ceil(size / BENCH_BLOCK);
  const dataBlocks = Math.max(1, Math.round(blockCount * DATA_FRACTION));
  writeSparseImage(image, size, dataBlocks, seed);
  syncAll();
  const repo = Repository.init(repoPath, { blockSize: BENCH_BLOCK, compression: 'zstd:1' });
  try {
    let started = performance.now();
    const made = await backup(repo, { source: image, name: 'sparse', ...tuning });
    const backupSeconds = (performance.now() - started) / 1000;
    if (made.stats.blocksSparse !== blockCount - dataBlocks) fail(`sparse image: ${made.stats.blocksSparse} sparse blocks, expected ${blockCount - dataBlocks}`);
    syncAll();
    started = performance.now();
    await restore(repo, { uid: made.uid, target, workers: tuning.workers });
    const restoreSeconds = (performance.now() - started) / 1000;
    const peakRssBytes = process.resourceUsage().maxRSS * 1024;

    // Check: every data block equal, and nothing but those blocks allocated (holes read as zero).
    const step = Math.max(1, Math.floor(blockCount / dataBlocks));
    for (let n = 0, idx = 0; n < dataBlocks && idx < blockCount; n++, idx += step) {
      const length = Math.min(BENCH_BLOCK, size - idx * BENCH_BLOCK);
      const a = createHash('sha256').update(readBlock(image, idx, length)).digest('hex');
      const b = createHash('sha256').update(readBlock(target, idx, length)).digest('hex');
      if (a !== b) fail(`sparse restore differs at block ${idx}`);
    }
    const allocated = diskUsage(target);
    if (allocated > dataBlocks * BENCH_BLOCK + 1024 * 1024) fail(`sparse restore allocates ${allocated} bytes, more than its ${dataBlocks} data blocks`);
    const result: SparseResult = {
      bytes: size, dataBlocks,
      backupSeconds: round(backupSeconds, 3), backupMbps: round(rate(size, backupSeconds), 0),
      restoreSeconds: round(restoreSeconds, 3), restoreMbps: round(rate(size, restoreSeconds), 0),
      peakRssBytes, restoredAllocatedBytes: allocated, totalSeconds: round((performance.now() - testStarted) / 1000, 1),
    };
    process.send?.(result);
  } finally {
    repo.close();
    for (const path of [image, repoPath, target]) rmSync(path, { recursive: true, force: true });
  }
}
