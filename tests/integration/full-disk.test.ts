// A full disk: a repository on a small tmpfs runs out of space during a backup (NO_SPACE, no
// valid version, the repository still works after cleanup), and a restore to a full file
// system fails clearly and removes its partial target. Needs root to mount; skipped otherwise.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupCli, cli, initRepo, lsJson, objectNames, ok, randomData, restoreEquals, tempDir, writeBlocks, writeImage } from '../helpers';

function tryMount(dir: string, size: string): boolean {
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

describe('full disk', { timeout: 120_000 }, () => {
  const dir = tempDir();
  // Not inside `dir`: it must be unmounted before anything removes it.
  const small = mkdtempSync(join(tmpdir(), 'bv-small-fs-'));
  let mounted = false;

  before(() => {
    mounted = tryMount(small, '3m');
  });
  after(() => {
    if (mounted) execFileSync('umount', [small]);
    rmSync(small, { recursive: true, force: true });
  });

  it('a backup that fills the disk fails with NO_SPACE and leaves the repository usable', async (t) => {
    if (!mounted) { t.skip('cannot mount a tmpfs here (needs root)'); return; }
    const repo = await initRepo(small, ['--compression', 'none', '--min-age-days', '0']);
    // a small volume keeps a reserve too (a sixteenth of it): without one, a backup that filled
    // the disk while its WAL was not yet checkpointed left cleanup no room (SQLITE_FULL)
    assert.equal(statSync(join(repo, 'reserve')).size, 192 * 1024);
    const big = join(dir, 'big.img');
    writeImage(big, 6 * 1024 * 1024, [{ offset: 0, data: randomData(6 * 1024 * 1024) }]);
    const result = await cli(['--repo', repo, 'backup', big, 'big']);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /\[NO_SPACE\]/);
    assert.equal(result.stderr.trim().split('\n').pop()!.startsWith('blockvault backup: error'), true);
    assert.ok((await lsJson(repo)).every((v) => v.valid === false), 'no valid version');

    const cleaned = JSON.parse(await ok(['--repo', repo, 'cleanup', '--full', '--json'])) as { objectsDeleted: number };
    assert.ok(cleaned.objectsDeleted > 0);
    assert.deepEqual(await lsJson(repo), []);
    assert.deepEqual(objectNames(repo), []);
    const leftovers = readdirSync(join(repo, 'objects'), { recursive: true }).map(String).filter((name) => name.includes('.tmp-'));
    assert.deepEqual(leftovers, [], 'no temporary files left');

    const image = join(dir, 'fits.img');
    writeBlocks(image, [1, 2, 0, 3]);
    const uid = await backupCli(repo, image, 'fits');
    await restoreEquals(repo, uid, join(dir, 'fits.restored'), image);
  });

  it('a restore to a full file system fails with NO_SPACE and removes the partial file', async (t) => {
    if (!mounted) { t.skip('cannot mount a tmpfs here (needs root)'); return; }
    const repo = await initRepo(dir, [], 'outside');
    const image = join(dir, 'restore-src.img');
    writeImage(image, 6 * 1024 * 1024, [{ offset: 0, data: randomData(6 * 1024 * 1024) }]);
    const uid = await backupCli(repo, image, 'r');
    const target = join(small, 'target.img');
    const result = await cli(['--repo', repo, 'restore', uid, target]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /\[NO_SPACE\]/);
    assert.match(result.stderr, new RegExp(`version ${uid} block \\d+`));
    assert.equal(existsSync(target), false);
  });
});
