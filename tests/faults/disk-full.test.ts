// Fault suite, disk full: a repository on a small tmpfs that a backup fills. The backup fails
// with a clear NO_SPACE and leaves no valid partial version; with the file system still full
// (a filler file takes the last bytes) older versions restore elsewhere, the read-only commands
// answer, rm and both cleanups work and report what they freed; after space is freed a backup
// succeeds. Needs root to mount the tmpfs (CI runs as root).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { closeSync, mkdtempSync, openSync, rmSync, statfsSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupCli, cli, initRepo, randomData, restoreEquals, tempDir, writeBlocks, writeImage } from '../helpers';
import { recordFigure, timePart } from './figures';

const PART = 'disk-full';

/** Writes zeros to `file` until the file system is full; returns the bytes written. */
function fill(file: string): number {
  const fd = openSync(file, 'w');
  const chunk = Buffer.alloc(64 * 1024, 1);
  let written = 0;
  try {
    for (;;) {
      try {
        written += writeSync(fd, chunk, 0, chunk.length);
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOSPC') break;
        throw error;
      }
    }
    // the last partial chunk
    for (let size = 32 * 1024; size >= 512; size /= 2) {
      try { written += writeSync(fd, chunk, 0, size); } catch { /* full */ }
    }
  } finally {
    closeSync(fd);
  }
  return written;
}

describe('fault suite: disk full', { timeout: 300_000 }, () => {
  timePart(PART);
  const dir = tempDir('bv-faults-full-');
  const small = mkdtempSync(join(tmpdir(), 'bv-faults-small-fs-'));

  before(() => {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=24m', 'tmpfs', small], { stdio: 'ignore' });
  });
  after(() => {
    execFileSync('umount', [small]);
    rmSync(small, { recursive: true, force: true });
  });

  it('fails clearly, keeps old versions, works while full, backs up after space is freed', async () => {
    const checks: Array<[string, boolean, string]> = [];
    const check = (what: string, passed: boolean, detail = ''): void => { checks.push([what, passed, detail]); };
    const repo = await initRepo(small, ['--compression', 'none', '--min-age-days', '0']);
    // Another user's file on the same file system: deleting it is how the admin frees space.
    const ballast = join(small, 'ballast');
    writeImage(ballast, 1024 * 1024, [{ offset: 0, data: randomData(1024 * 1024) }]);
    const old = join(dir, 'old.img');
    writeBlocks(old, [1, 2, 0, 3, 4, 5, 6, 7]);
    const oldUid = await backupCli(repo, old, 'old');
    const big = join(dir, 'big.img');
    // Larger than the file system, on which init keeps a 1.5 MiB reserve file (format.ts
    // reserveBytes: a sixteenth of 24 MiB): the commands below rely on it being released when full.
    writeImage(big, 32 * 1024 * 1024, [{ offset: 0, data: randomData(32 * 1024 * 1024) }]);

    const failed = await cli(['--repo', repo, 'backup', big, 'big']);
    check('the backup that fills the disk exits 1 with NO_SPACE', failed.code === 1 && /error \[NO_SPACE\]/.test(failed.stderr), failed.stderr.trim());
    check('no stack trace without -v', !/\n\s+at .+:\d+:\d+/.test(failed.stderr), failed.stderr.trim());
    const filler = join(small, 'filler');
    fill(filler);
    check('the file system is full', statfsSync(small).bavail * statfsSync(small).bsize < 64 * 1024);

    const ls = await cli(['--repo', repo, 'ls', '--json']);
    check('ls works on the full disk', ls.code === 0, ls.stderr.trim());
    if (ls.code === 0) {
      const versions = JSON.parse(ls.stdout) as Array<{ uid: string; name: string; valid: boolean }>;
      check('no valid partial version', versions.filter((v) => v.valid).map((v) => v.uid).join() === oldUid, JSON.stringify(versions));
    }
    for (const args of [['show', oldUid], ['du'], ['stats'], ['block-map', oldUid], ['diff', oldUid, oldUid], ['jobs']]) {
      const result = await cli(['--repo', repo, ...args]);
      check(`${args[0]} works on the full disk`, result.code === 0, result.stderr.trim());
    }
    try {
      await restoreEquals(repo, oldUid, join(dir, 'old.restored'), old);
      check('an older version restores to another file system', true);
    } catch (error) {
      check('an older version restores to another file system', false, (error as Error).message);
    }
    const cleanup = await cli(['--repo', repo, 'cleanup', '--grace-seconds', '0', '--json']);
    check('cleanup works on the full disk', cleanup.code === 0, cleanup.stderr.trim());
    const full = await cli(['--repo', repo, 'cleanup', '--full', '--json']);
    check('cleanup --full works on the full disk', full.code === 0, full.stderr.trim());
    let freed = 0;
    for (const result of [cleanup, full]) if (result.code === 0) freed += (JSON.parse(result.stdout) as { bytesFreed: number }).bytesFreed;
    check('the cleanups report the space of the failed backup freed', freed > 1024 * 1024, `${freed} bytes reported freed`);
    const victim = await cli(['--repo', repo, 'rm', '--force', oldUid]);
    check('rm works on the full disk', victim.code === 0, victim.stderr.trim());

    rmSync(filler);
    rmSync(ballast);
    await cli(['--repo', repo, 'cleanup', '--full']); // with room again, the failed backup's objects go
    const fits = join(dir, 'fits.img');
    writeBlocks(fits, [11, 12, 0, 13]);
    try {
      const uid = await backupCli(repo, fits, 'fits');
      await restoreEquals(repo, uid, join(dir, 'fits.restored'), fits);
      check('a backup succeeds after space is freed', true);
    } catch (error) {
      check('a backup succeeds after space is freed', false, (error as Error).message);
    }
    const passed = checks.filter(([, ok]) => ok).length;
    recordFigure(PART, 'checks passed', `${passed}/${checks.length}`, 'all');
    const failures = checks.filter(([, ok]) => !ok).map(([what, , detail]) => `${what}: ${detail}`);
    assert.deepEqual(failures, []);
  });
});
