// Concurrency and cancellation: two backups into one repository at once (CLI processes, and
// in one process through the engine API, also of the same data), and cancelling a backup and
// a restore through their AbortSignal.
import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Progress } from '../../src-shared/model';
import { EngineError } from '../../src-main/engine/errors';
import { backup } from '../../src-main/engine/pipeline/backup';
import { cleanup } from '../../src-main/engine/pipeline/cleanup';
import { restore } from '../../src-main/engine/pipeline/restore';
import { Repository } from '../../src-main/engine/repository';
import { cli, exited, initRepo, lsJson, objectNames, query, restoreEquals, spawnCli, tempDir, writeBlocks } from '../helpers';

describe('concurrent backups and cancellation', { timeout: 180_000 }, () => {
  const dir = tempDir();
  let repo: string;
  const imageA = join(dir, 'a.img');
  const imageB = join(dir, 'b.img');

  before(async () => {
    // zstd:19 keeps each backup busy for a second or two, so they really overlap.
    repo = await initRepo(dir, ['--compression', 'zstd:19', '--min-age-days', '0']);
    // A and B share every fourth block, so each may dedupe onto objects the other is writing.
    writeBlocks(imageA, Array.from({ length: 96 }, (_, i) => (i % 4 === 0 ? 100 + i : 1000 + i)));
    writeBlocks(imageB, Array.from({ length: 80 }, (_, i) => (i % 4 === 0 ? 100 + i : 2000 + i)).concat([0, 0, 0]));
  });

  it('two CLI backups of different sources at the same time both succeed and restore', async () => {
    const children = [spawnCli(['--repo', repo, 'backup', imageA, 'a']), spawnCli(['--repo', repo, 'backup', imageB, 'b'])];
    const results = await Promise.all(children.map(exited));
    for (const result of results) assert.equal(result.code, 0, result.stderr);
    const [uidA, uidB] = results.map((r) => r.stdout.trim().split('\n').pop()!);
    await restoreEquals(repo, uidA, join(dir, 'a.restored'), imageA);
    await restoreEquals(repo, uidB, join(dir, 'b.restored'), imageB);
    const scrub = await cli(['--repo', repo, 'scrub', uidA, uidB, '--deep']);
    assert.equal(scrub.code, 0, scrub.stdout);
    const objects = query<{ n: number }>(repo, 'SELECT count(*) AS n FROM objects')[0].n;
    assert.equal(objects, 24 + 72 + 60, 'shared blocks stored once');
    assert.equal(objectNames(repo).length, objects);
  });

  it('two engine backups of the same data in one process both succeed', async () => {
    const first = Repository.open(repo);
    const second = Repository.open(repo);
    try {
      await cli(['--repo', repo, 'rm', ...(await lsJson(repo)).map((v) => v.uid)]);
      await cleanup(first, { full: true });
      assert.deepEqual(objectNames(repo), []);
      const [x, y] = await Promise.all([
        backup(first, { source: imageA, name: 'same-1', workers: 1 }),
        backup(second, { source: imageA, name: 'same-2', workers: 1 }),
      ]);
      assert.equal(x.stats.blocksWritten + x.stats.blocksDedup, 96);
      assert.equal(y.stats.blocksWritten + y.stats.blocksDedup, 96);
      await restoreEquals(repo, x.uid, join(dir, 'same-1.restored'), imageA);
      await restoreEquals(repo, y.uid, join(dir, 'same-2.restored'), imageA);
      assert.equal(objectNames(repo).length, 96);
    } finally {
      first.close();
      second.close();
    }
  });

  it('a backup canceled through its AbortSignal leaves no version; cleanup reclaims its objects', async () => {
    const repository = Repository.open(repo);
    try {
      const versionsBefore = (await lsJson(repo)).map((v) => v.uid);
      const controller = new AbortController();
      const progress: Progress[] = [];
      const running = backup(repository, {
        source: imageB, name: 'canceled', signal: controller.signal, progressIntervalMs: 10,
        onProgress: (p) => {
          progress.push(p);
          if (p.blocksDone >= 8) controller.abort();
        },
      });
      await assert.rejects(running, (error: unknown) => error instanceof EngineError && error.code === 'CANCELED');
      assert.equal(progress[progress.length - 1].phase, 'canceled', 'the final report is always sent');
      assert.ok(progress[progress.length - 1].blocksDone < 83, 'stopped before the end');
      assert.deepEqual((await lsJson(repo)).map((v) => v.uid), versionsBefore, 'no version, not even an incomplete one');
      assert.deepEqual(query(repo, 'SELECT * FROM locks'), []);
      const result = await cleanup(repository, { full: true });
      assert.ok(result.objectsDeleted > 0, 'the canceled backup had written objects');
      assert.equal(objectNames(repo).length, 96, 'only the objects of the remaining versions are left');
      const again = await backup(repository, { source: imageB, name: 'after-cancel' });
      await restoreEquals(repo, again.uid, join(dir, 'after-cancel.restored'), imageB);
    } finally {
      repository.close();
    }
  });

  it('a restore canceled through its AbortSignal removes the new target', async () => {
    const repository = Repository.open(repo);
    try {
      const [v] = (await lsJson(repo)).filter((x) => x.name === 'after-cancel');
      const controller = new AbortController();
      const target = join(dir, 'canceled-restore.img');
      const running = restore(repository, {
        uid: v.uid, target, signal: controller.signal, progressIntervalMs: 10,
        onProgress: (p) => { if (p.blocksDone >= 4) controller.abort(); },
      });
      await assert.rejects(running, (error: unknown) => error instanceof EngineError && error.code === 'CANCELED');
      assert.equal(existsSync(target), false);
      assert.deepEqual(query(repo, 'SELECT * FROM locks'), []);
    } finally {
      repository.close();
    }
  });
});
