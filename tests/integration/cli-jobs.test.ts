// One way in: work started from the command line runs as jobs of the services, recorded in
// the repository's job history with log, counters and outcome, and the services' checks
// apply to it (a restore target inside the repository is refused).
import assert from 'node:assert/strict';
import { existsSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { Job } from '../../src-shared/api/types';
import { backupCli, cli, initRepo, objectNames, objectPath, ok, restoreEquals, tempDir, writeBlocks } from '../helpers';

describe('CLI jobs', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'disk.img');
  let uid: string;

  before(async () => {
    repo = await initRepo(dir);
    writeBlocks(image, [1, 2, 0, 3]);
    uid = await backupCli(repo, image, 'disk');
  });

  const jobs = async (): Promise<Job[]> => JSON.parse(await ok(['--repo', repo, 'jobs', '--json'])) as Job[];

  it('backup, restore, scrub and cleanup from the terminal are jobs in the history', async () => {
    await restoreEquals(repo, uid, join(dir, 'restored.img'), image);
    await ok(['--repo', repo, 'scrub', uid, '--deep']);
    await ok(['--repo', repo, 'cleanup']);
    const history = await jobs();
    const kinds = history.map((j) => j.kind).reverse();
    assert.deepEqual(kinds, ['backup', 'restore', 'scrub', 'cleanup']);
    for (const job of history) {
      assert.equal(job.state, 'succeeded', `${job.kind}: ${JSON.stringify(job.error)}`);
      assert.ok(job.started && job.ended, 'started and ended');
      assert.ok(job.logs.some((line) => line.message === 'succeeded'), `${job.kind} log`);
    }
    const backup = history.find((j) => j.kind === 'backup')!;
    assert.equal(backup.params.name, 'disk');
    assert.equal(backup.params.source, image);
    assert.equal((backup.result as { value: { uid: string } }).value.uid, uid);
    assert.equal(backup.progress?.bytesDone, backup.progress?.bytesTotal, 'final counters recorded');
    const table = await ok(['--repo', repo, 'jobs']);
    assert.match(table, /backup\s+succeeded/);
  });

  it('a job that fails while running is recorded as failed with its error', async () => {
    const before = (await jobs()).length;
    const [digest] = objectNames(repo);
    unlinkSync(objectPath(repo, digest));
    const target = join(dir, 'broken.img');
    const result = await cli(['--repo', repo, 'restore', uid, target]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[OBJECT_MISSING\]/);
    const history = await jobs();
    assert.equal(history.length, before + 1);
    assert.equal(history[0].kind, 'restore');
    assert.equal(history[0].state, 'failed');
    assert.equal(history[0].error?.code, 'OBJECT_MISSING');
  });

  it('jobs says what a scrub found, in the GUI\'s words, not a bare "succeeded"', async () => {
    const clean = await ok(['--repo', repo, 'jobs']);
    assert.match(clean.split('\n').find((line) => /\bscrub\b/.test(line)) ?? '', /all good/);
    // the previous test deleted an object of this version
    const scrub = await cli(['--repo', repo, 'scrub', uid, '--deep']);
    assert.equal(scrub.code, 20, scrub.stderr);
    const table = await ok(['--repo', repo, 'jobs']);
    const row = table.split('\n').find((line) => /\bscrub\b/.test(line) && /found problems/.test(line));
    assert.ok(row, `a row says the scrub found problems:\n${table}`);
    assert.match(row, /1 missing block/);
  });

  it('the services\' checks apply: a restore target inside the repository is refused, no job', async () => {
    const before = (await jobs()).length;
    const inside = join(repo, 'inside.img');
    const result = await cli(['--repo', repo, 'restore', uid, inside]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[INVALID_ARGUMENT\].*inside the repository/);
    assert.equal(existsSync(inside), false);
    assert.equal((await jobs()).length, before, 'a refused call starts no job');
  });
});
