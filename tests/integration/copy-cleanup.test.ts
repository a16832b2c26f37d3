// A fast cleanup in the destination of a running copy (even with --grace-seconds 0) leaves the
// copy alone, as it leaves a running backup alone: it neither removes the copy's incomplete
// version as abandoned nor deletes the objects the copy has claimed or written; the copy ends
// valid, deep-scrubs clean and restores bit-exact. The copy is frozen (SIGSTOP) at two moments
// while the cleanup runs: while it writes objects (pending rows, no block rows yet), and after
// its block rows are in, before it marks the version valid. (Before, the cleanup removed the
// copy's version as "interrupted" and the objects it had written, and the copy failed.)
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupCli, cli, exited, freeze, initRepo, lsJson, query, restoreEquals, spawnCli, tempDir, waitFor, writeBlocks } from '../helpers';

describe('a cleanup in the destination of a running copy', () => {
  const dir = tempDir();

  for (const moment of ['objects being written', 'block rows in'] as const) {
    it(`leaves the copy whole (frozen with ${moment})`, async () => {
      const name = moment === 'block rows in' ? 'rows' : 'objects';
      const source = await initRepo(dir, [], `${name}-source`);
      const destination = await initRepo(dir, ['--grace-seconds', '0'], `${name}-destination`);
      const image = join(dir, `${name}.img`);
      writeBlocks(image, Array.from({ length: 320 }, (_, i) => (i % 10 === 9 ? 0 : 1000 + i)));
      const uid = await backupCli(source, image, 'disk');
      const child = spawnCli(['--repo', source, 'copy', uid, '--to', destination]);
      const done = exited(child);
      child.stdin!.end();
      await waitFor(`the copy with ${moment}`, () => {
        const [row] = query<{ objects: number; rows: number }>(
          destination,
          `SELECT (SELECT count(*) FROM objects) AS objects, (SELECT count(*) FROM blocks) AS rows`,
        );
        return moment === 'block rows in' ? row.rows > 0 : row.objects >= 20 && row.rows === 0;
      }, 60_000, 5);
      await freeze(child, destination);
      const cleanup = await cli(['--repo', destination, 'cleanup', '--grace-seconds', '0']);
      child.kill('SIGCONT');
      const copied = await done;
      assert.equal(cleanup.code, 0, cleanup.stderr);
      assert.doesNotMatch(cleanup.stdout + cleanup.stderr, new RegExp(uid), 'the cleanup took the running copy for an interrupted one');
      assert.equal(copied.code, 0, `the copy failed: ${copied.stderr}`);
      const [version] = await lsJson(destination);
      assert.equal(version?.uid, uid);
      assert.equal(version.valid, true);
      const scrub = await cli(['--repo', destination, 'scrub', '--deep', uid]);
      assert.equal(scrub.code, 0, `deep scrub: ${scrub.stdout}${scrub.stderr}`);
      await restoreEquals(destination, uid, join(dir, `${name}-restored.img`), image);
    });
  }
});
