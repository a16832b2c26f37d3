// A restore never writes what a running backup reads, and a backup never reads what a
// running restore writes (issue 9 #5), across processes: the second job is refused with
// LOCKED naming the first, and the first ends as it would have alone (the backup valid and
// bit-exact, the source untouched). Paths meet by real path, hard link and symlink.
import assert from 'node:assert/strict';
import { linkSync, symlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupCli, cli, exited, freeze, initRepo, query, restoreEquals, runningBackup, sha256File, spawnCli, tempDir, waitFor, writeBlocks } from '../helpers';

describe('jobs on the same path', () => {
  const dir = tempDir();

  it('refuses a restore onto the source of a running backup (also through a hard link or symlink)', { timeout: 120_000 }, async () => {
    const repo = await initRepo(dir, [], 'r1');
    const small = join(dir, 'small.img');
    writeBlocks(small, [1, 2]);
    const older = await backupCli(repo, small, 'small');
    const source = join(dir, 'source.img');
    writeBlocks(source, Array.from({ length: 1024 }, (_, i) => i + 100));
    linkSync(source, join(dir, 'hard.img'));
    symlinkSync(source, join(dir, 'soft.img'));
    const before = await sha256File(source);
    const child = spawnCli(['--repo', repo, 'backup', source, 'big']);
    const done = exited(child);
    await waitFor('the backup to start', () => runningBackup(repo));
    await freeze(child, repo);
    try {
      for (const target of [source, join(dir, 'hard.img'), join(dir, 'soft.img')]) {
        const result = await cli(['--repo', repo, 'restore', '--force', older, target]);
        assert.notEqual(result.code, 0, `restore onto ${target} must be refused`);
        assert.match(result.stderr, /LOCKED/);
        assert.match(result.stderr, /backup of/);
      }
    } finally {
      child.kill('SIGCONT');
    }
    const ended = await done;
    assert.equal(ended.code, 0, ended.stderr);
    assert.equal(await sha256File(source), before, 'the source was not touched');
    const uid = ended.stdout.trim().split('\n').pop()!;
    await restoreEquals(repo, uid, join(dir, 'big.out'), source);
  });

  it('refuses a backup of the file a running restore overwrites', { timeout: 120_000 }, async () => {
    const repo = await initRepo(dir, [], 'r2');
    const image = join(dir, 'img2.img');
    writeBlocks(image, Array.from({ length: 1024 }, (_, i) => i + 3000));
    const uid = await backupCli(repo, image, 'two');
    const target = join(dir, 'restoring.img');
    writeBlocks(target, Array.from({ length: 1024 }, (_, i) => i + 5000));
    const child = spawnCli(['--repo', repo, 'restore', '--force', uid, target]);
    const done = exited(child);
    await waitFor('the restore to take its locks', () => {
      return query(repo, "SELECT 1 FROM locks WHERE name LIKE 'path:write:%'").length > 0;
    });
    await freeze(child, repo);
    try {
      const result = await cli(['--repo', repo, 'backup', target, 'oops']);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /LOCKED/);
      assert.match(result.stderr, /restore of/);
    } finally {
      child.kill('SIGCONT');
    }
    const ended = await done;
    assert.equal(ended.code, 0, ended.stderr);
    assert.equal(await sha256File(target), await sha256File(image));
    // Once the restore is over, the same backup is accepted.
    await backupCli(repo, target, 'after');
  });
});
