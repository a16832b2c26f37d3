// Version bookkeeping from the command line: ls (filters, -m, --json fields), show, tags,
// protection and the rm rules (minimum age, protected), diff and block-map.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { backupCli, BS, cli, initRepo, lsJson, openDb, ok, repoState, tempDir, version, writeBlocks } from '../helpers';

describe('versions: ls, tags, protection, rm', () => {
  const dir = tempDir();
  let repo: string;
  const image1 = join(dir, 'one.img');
  const image2 = join(dir, 'two.img');
  let web1: string;
  let web2: string;
  let db1: string;

  before(async () => {
    repo = await initRepo(dir);
    writeBlocks(image1, [1, 0, 2, 3]);
    writeBlocks(image2, [1, 0, 4, 3, 5], BS, 100);
    web1 = await backupCli(repo, image1, 'web', ['-s', 'snap-mon', '-t', 'daily', '-t', 'weekly']);
    web2 = await backupCli(repo, image2, 'web', ['-s', 'snap-tue', '-t', 'daily']);
    db1 = await backupCli(repo, image1, 'db', ['-s', 'snap-mon']);
  });

  it('ls --json lists every version with the documented fields', async () => {
    const versions = await lsJson(repo);
    assert.deepEqual(versions.map((v) => v.uid), [web1, web2, db1], 'oldest first');
    const v = versions[1];
    assert.equal(v.name, 'web');
    assert.equal(v.snapshot, 'snap-tue');
    assert.match(v.date, /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$/);
    assert.ok(Math.abs(Date.parse(v.date) - Date.now()) < 120_000);
    assert.equal(v.size, 4 * BS + 100);
    assert.equal(v.blockSize, BS);
    assert.equal(v.valid, true);
    assert.equal(v.protected, false);
    assert.deepEqual(v.tags, ['daily']);
    assert.deepEqual(versions[0].tags, ['daily', 'weekly']);
    assert.deepEqual(versions[2].tags, []);
  });

  it('ls filters by name, snapshot and tag', async () => {
    assert.deepEqual((await lsJson(repo, ['-n', 'web'])).map((v) => v.uid), [web1, web2]);
    assert.deepEqual((await lsJson(repo, ['web'])).map((v) => v.uid), [web1, web2]);
    assert.deepEqual((await lsJson(repo, ['-s', 'snap-mon'])).map((v) => v.uid), [web1, db1]);
    assert.deepEqual((await lsJson(repo, ['-t', 'weekly'])).map((v) => v.uid), [web1]);
    assert.deepEqual((await lsJson(repo, ['-n', 'web', '-s', 'snap-mon'])).map((v) => v.uid), [web1]);
    assert.deepEqual(await lsJson(repo, ['-n', 'nobody']), []);
  });

  it('ls -m prints pipe-separated lines and the table has a header', async () => {
    const lines = (await ok(['--repo', repo, 'ls', '-m'])).trim().split('\n');
    assert.equal(lines.length, 3);
    const fields = lines[1].split('|');
    assert.ok(fields.includes(web2));
    assert.ok(fields.includes('web'));
    assert.ok(fields.includes('snap-tue'));
    assert.ok(fields.includes(String(4 * BS + 100)));
    assert.ok(lines.every((line) => !line.includes('uid')), 'no header in machine output');
    const table = await ok(['--repo', repo, 'ls']);
    const [header] = table.split('\n');
    for (const column of ['date', 'uid', 'name', 'snapshot', 'size', 'valid', 'protected', 'tags']) assert.match(header, new RegExp(column));
    assert.ok(table.includes(db1));
    const show = JSON.parse(await ok(['--repo', repo, 'show', web2, '--json'])) as Array<{ uid: string }>;
    assert.equal(show[0].uid, web2);
  });

  it('tag and untag', async () => {
    await ok(['--repo', repo, 'tag', db1, 'monthly', 'keep']);
    assert.deepEqual((await version(repo, db1)).tags, ['keep', 'monthly']);
    assert.deepEqual((await lsJson(repo, ['-t', 'monthly'])).map((v) => v.uid), [db1]);
    await ok(['--repo', repo, 'untag', db1, 'keep']);
    assert.deepEqual((await version(repo, db1)).tags, ['monthly']);
    const before = repoState(repo);
    const missing = await cli(['--repo', repo, 'untag', db1, 'never-had-it']);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /NOT_FOUND/);
    const comma = await cli(['--repo', repo, 'tag', db1, 'a,b']);
    assert.equal(comma.code, 1);
    assert.match(comma.stderr, /INVALID_ARGUMENT/);
    const unknown = await cli(['--repo', repo, 'tag', '00000000-0000-0000-0000-000000000000', 'x']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /NOT_FOUND/);
    assert.equal(repoState(repo), before);
  });

  it('rm refuses a version younger than the minimum age without --force', async () => {
    const before = repoState(repo);
    const result = await cli(['--repo', repo, 'rm', web2]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[TOO_YOUNG\]/);
    assert.equal(repoState(repo), before, 'nothing removed');
  });

  it('rm removes a version older than the minimum age without --force', async () => {
    const db = openDb(repo, false);
    db.prepare('UPDATE versions SET date = ? WHERE uid = ?').run(Date.now() - 7 * 86_400_000, web1);
    db.close();
    await ok(['--repo', repo, 'rm', web1]);
    assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [web2, db1]);
  });

  it('protect refuses rm always, even with --force; unprotect allows it again', async () => {
    await ok(['--repo', repo, 'protect', web2]);
    assert.equal((await version(repo, web2)).protected, true);
    const before = repoState(repo);
    for (const args of [[web2], [web2, '--force']]) {
      const result = await cli(['--repo', repo, 'rm', ...args]);
      assert.equal(result.code, 1, `rm ${args.join(' ')}`);
      assert.match(result.stderr, /\[PROTECTED\]/);
    }
    assert.equal(repoState(repo), before, 'nothing removed');
    const db = openDb(repo, false);
    db.prepare('UPDATE versions SET date = ? WHERE uid = ?').run(Date.now() - 30 * 86_400_000, web2);
    db.close();
    const old = await cli(['--repo', repo, 'rm', web2]);
    assert.equal(old.code, 1);
    assert.match(old.stderr, /\[PROTECTED\]/, 'age does not matter for a protected version');
    const db2 = openDb(repo, false);
    db2.prepare('UPDATE versions SET date = ? WHERE uid = ?').run(Date.now(), web2);
    db2.close();
    await ok(['--repo', repo, 'unprotect', web2]);
    assert.equal((await version(repo, web2)).protected, false);
    await ok(['--repo', repo, 'rm', web2, '--force']);
    assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [db1]);
  });

  it('rm --force removes a young version; an unknown UID is NOT_FOUND', async () => {
    const extra = await backupCli(repo, image2, 'extra');
    await ok(['--repo', repo, 'rm', '-f', extra]);
    assert.equal((await lsJson(repo)).some((v) => v.uid === extra), false);
    const again = await cli(['--repo', repo, 'rm', '-f', extra]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /NOT_FOUND/);
  });

  it('a repository with --min-age-days 0 allows rm without --force', async () => {
    const repo0 = await initRepo(dir, ['--min-age-days', '0'], 'repo0');
    const uid = await backupCli(repo0, image1, 'x');
    await ok(['--repo', repo0, 'rm', uid]);
    assert.deepEqual(await lsJson(repo0), []);
    const empty = await cli(['--repo', repo0, 'ls']);
    assert.equal(empty.code, 0);
    assert.match(empty.stderr, /no versions/);
  });

  it('diff and block-map describe the differences', async () => {
    const left = await backupCli(repo, image1, 'cmp');
    const image3 = join(dir, 'three.img');
    writeBlocks(image3, [1, 0, 40, 3, 50], BS, 100);
    const right = await backupCli(repo, image3, 'cmp');
    const ranges = JSON.parse(await ok(['--repo', repo, 'diff', left, right, '--json'])) as Array<{ first: number; last: number; kind: string }>;
    assert.deepEqual(ranges.map((r) => [r.first, r.last, r.kind]), [[2, 2, 'differ'], [4, 4, 'only-right']]);
    const text = await ok(['--repo', repo, 'diff', left, right]);
    assert.match(text, /DIFFER blocks 2-2/);
    assert.match(text, /ONLY-RIGHT blocks 4-4/);
    const map = JSON.parse(await ok(['--repo', repo, 'block-map', right, '--json'])) as { states: number[] };
    // block 0 dedup, 1 sparse, 2 new (seed 40), 3 dedup, 4 new (seed 50)
    assert.deepEqual(map.states, [2, 0, 1, 2, 1]);
  });
});
