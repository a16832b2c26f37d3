// A full repository file system (issue 9 #6): after a backup filled it and the rest was
// filled up too, read-only commands (ls, show, stats, du, restore to another file system)
// and the commands that free space (rm, cleanup, cleanup --full) still work; plain cleanup
// shows the failed backup's space; cleanup reports the bytes it really freed. Needs root to
// mount a tmpfs (the tests run as root).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupCli, blockDigests, cli, initRepo, objectFiles, ok, randomData, restoreEquals, tempDir, writeBlocks, writeImage } from '../helpers';

function freeBytes(path: string): number {
  const s = statfsSync(path);
  return s.bavail * s.bsize;
}

/** Fills the file system until ENOSPC. */
function fill(path: string): void {
  const fd = openSync(path, 'w');
  const chunk = Buffer.alloc(64 * 1024, 0x5a);
  try {
    for (;;) writeSync(fd, chunk);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'ENOSPC') throw error;
  } finally {
    closeSync(fd);
  }
  const small = Buffer.alloc(512, 0x5a);
  const again = openSync(`${path}.2`, 'w');
  try { for (;;) writeSync(again, small); } catch { /* full to the last block */ } finally { closeSync(again); }
}

describe('commands on a full repository file system', { timeout: 240_000 }, () => {
  const dir = tempDir();
  const mountPoint = mkdtempSync(join(tmpdir(), 'bv-full-'));
  before(() => execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', mountPoint]));
  after(() => {
    execFileSync('umount', [mountPoint]);
    rmSync(mountPoint, { recursive: true, force: true });
  });

  it('read-only commands and the commands that free space work; cleanup reports what it freed', async () => {
    const repo = await initRepo(mountPoint, ['--compression', 'none', '--min-age-days', '0']);
    const small = join(dir, 'small.img');
    writeBlocks(small, [1, 2, 0, 3]);
    const older = await backupCli(repo, small, 'small');
    const big = join(dir, 'big.img');
    writeImage(big, 40 * 1024 * 1024, [{ offset: 0, data: randomData(40 * 1024 * 1024) }]);
    const failed = await cli(['--repo', repo, 'backup', big, 'big']);
    assert.equal(failed.code, 1);
    assert.match(failed.stderr, /NO_SPACE/);
    fill(join(mountPoint, 'filler'));
    assert.ok(freeBytes(mountPoint) < 4096, 'the file system is full');

    for (const args of [['ls'], ['show', older], ['stats'], ['du', older]]) {
      const result = await cli(['--repo', repo, ...args]);
      assert.equal(result.code, 0, `${args[0]} on a full disk: ${result.stderr}`);
    }
    await restoreEquals(repo, older, join(dir, 'small.out'), small);

    // What the failed backup left in the store: every object file but the older version's.
    const referenced = new Set(blockDigests(repo, older).filter((d): d is string => d !== null));
    const left = [...objectFiles(repo).entries()].filter(([path]) => !referenced.has(path.split('/').pop()!)).reduce((sum, [, size]) => sum + size, 0);
    assert.ok(left > 0, 'the failed backup left objects');
    const plain = JSON.parse(await ok(['--repo', repo, 'cleanup', '--json'])) as { bytesWaiting: number; objectsWaiting: number; bytesFreed: number };
    assert.ok(plain.objectsWaiting > 0, `plain cleanup lists the failed backup's objects: ${JSON.stringify(plain)}`);
    assert.ok(Math.abs(plain.bytesWaiting + plain.bytesFreed - left) <= left * 0.1, `plain cleanup shows the space they take (${left} bytes): ${JSON.stringify(plain)}`);

    await ok(['--repo', repo, 'rm', older]);
    rmSync(join(mountPoint, 'filler.2'));
    rmSync(join(mountPoint, 'filler'));
    const before = freeBytes(mountPoint);
    const full = JSON.parse(await ok(['--repo', repo, 'cleanup', '--full', '--json'])) as { bytesFreed: number };
    const freed = freeBytes(mountPoint) - before;
    assert.ok(freed > 0, `the full cleanup freed space (${freed})`);
    assert.ok(Math.abs(full.bytesFreed - freed) <= freed * 0.1 + 1024 * 1024, `reported ${full.bytesFreed}, freed ${freed}`);

    const image = join(dir, 'after.img');
    writeBlocks(image, [7, 8]);
    const uid = await backupCli(repo, image, 'after');
    await restoreEquals(repo, uid, join(dir, 'after.out'), image);
  });
});
