// Lower-severity input and reporting defects of issue 9 #9, each through the CLI as an admin
// meets it: `|` and control characters refused in names, snapshots and tags (CLI and the
// API's schemas); hints beyond the image refused; a hints parse error names the position
// and never echoes the file; hint-verification reads counted in bytes read; `key add` on a
// plain repository says it is not encrypted; --log-file into a missing folder fails
// clearly; a negative option value gets the option's own message; a fast cleanup does not
// report objects a live cleanup is deleting.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { SCHEMAS } from '../../src-shared/api/schemas';
import { backupCli, BS, cli, initRepo, ok, openDb, query, repoState, tempDir, writeBlocks } from '../helpers';

describe('input checks', () => {
  const dir = tempDir();
  let repo: string;
  let base: string;
  const image = join(dir, 'a.img');

  before(async () => {
    repo = await initRepo(dir, ['--min-age-days', '0']);
    writeBlocks(image, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12]);
    base = await backupCli(repo, image, 'a');
  });

  for (const [what, args] of [
    ['a name with |', ['a|b']],
    ['a name with a control character', ['a\u0007b']],
    ['a name with DEL', ['a\u007fb']],
    ['a snapshot with |', ['ok', '-s', 'x|y']],
    ['a tag with |', ['ok', '-t', 'x|y']],
    ['a tag with a tab', ['ok', '-t', 'x\ty']],
  ] as const) {
    it(`refuses ${what} and changes nothing`, async () => {
      const before = repoState(repo);
      const result = await cli(['--repo', repo, 'backup', image, ...args]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /INVALID_ARGUMENT|must not contain/);
      assert.equal(repoState(repo), before);
    });
  }

  it('the API schemas refuse | in names, snapshots and tags', () => {
    for (const args of [{ source: '/x', name: 'a|b' }, { source: '/x', name: 'a', snapshot: 's|t' }, { source: '/x', name: 'a', tags: ['t|u'] }, { source: '/x', name: 'a', snapshot: 'a\u007f' }]) {
      assert.equal(SCHEMAS.startBackup.safeParse(args).success, false, JSON.stringify(args));
    }
    assert.equal(SCHEMAS.startBackup.safeParse({ source: '/x', name: 'disk-1 (vm)' }).success, true);
  });

  it('refuses hints extents beyond the image size', async () => {
    const hints = join(dir, 'beyond.json');
    writeFileSync(hints, JSON.stringify([{ offset: 12 * BS - 10, length: 100, exists: true }]));
    const result = await cli(['--repo', repo, 'backup', image, 'a', '--from', base, '--hints', hints]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /BAD_HINTS/);
    assert.match(result.stderr, /beyond|past the end/);
  });

  it('a hints parse error names the position and does not echo the file', async () => {
    const hints = join(dir, 'garbled.json');
    writeFileSync(hints, '[{"offset": 0, "length": TOPSECRET-PASSWORD}]');
    const result = await cli(['--repo', repo, 'backup', image, 'a', '--from', base, '--hints', hints]);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /BAD_HINTS/);
    assert.match(result.stderr, /position 25/);
    assert.doesNotMatch(result.stderr, /TOPSECRET|PASSWORD/);
  });

  it('hint-verification reads are counted in bytes read', async () => {
    const hints = join(dir, 'one.json');
    writeFileSync(hints, JSON.stringify([{ offset: 0, length: BS, exists: true }]));
    const uid = await backupCli(repo, image, 'a', ['--from', base, '--hints', hints]);
    const [stats] = query<{ bytes_read: number; blocks_read: number }>(repo, 'SELECT bytes_read, blocks_read FROM stats WHERE version_uid = ?', uid);
    // one hinted block read, plus the 10 sampled blocks the hints call unchanged
    assert.equal(stats.blocks_read, 11);
    assert.equal(stats.bytes_read, 11 * BS);
  });

  it('key add on a plain repository says it is not encrypted, asks nothing', async () => {
    const result = await cli(['--repo', repo, 'key', 'add']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /not encrypted/);
    assert.doesNotMatch(result.stderr + result.stdout, /passphrase:/i);
  });

  it('--log-file into a missing folder fails clearly', async () => {
    const logFile = join(dir, 'no-such-folder', 'bv.log');
    const result = await cli(['--repo', repo, '--log-file', logFile, 'ls']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /--log-file/);
    assert.match(result.stderr, /no-such-folder/);
    assert.equal(existsSync(logFile), false);
  });

  it('a negative option value gets the option\'s own message, not "argument is ambiguous"', async () => {
    const result = await cli(['init', join(dir, 'neg'), '--grace-seconds', '-5']);
    assert.notEqual(result.code, 0);
    assert.doesNotMatch(result.stderr, /ambiguous/);
    assert.match(result.stderr, /grace/);
    assert.equal(existsSync(join(dir, 'neg', 'blockvault.json')), false);
  });
});

describe('concurrent fast cleanups', () => {
  const dir = tempDir();
  let holder: ReturnType<typeof spawn>;
  after(() => holder?.kill());

  it('a fast cleanup does not report (or take) objects a live cleanup marked', async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0']);
    const image = join(dir, 'c.img');
    writeBlocks(image, [21, 22, 23]);
    const uid = await backupCli(repo, image, 'c');
    await ok(['--repo', repo, 'rm', uid]);
    holder = spawn('sleep', ['60']);
    const db = openDb(repo, false);
    db.prepare('UPDATE objects SET state = 3').run();
    db.prepare('INSERT INTO locks(name, mode, pid, host, since, reason) VALUES (?, ?, ?, ?, ?, ?)').run(`cleanup:${holder.pid}`, 'shared', holder.pid, hostname(), Date.now(), 'cleanup');
    db.close();
    const result = JSON.parse(await ok(['--repo', repo, 'cleanup', '--json'])) as { objectsDeleted: number };
    assert.equal(result.objectsDeleted, 0, 'the live cleanup reports those');
    assert.equal(query(repo, 'SELECT 1 FROM objects').length, 3, 'and deletes them itself');
  });
});

describe('import checks the export against the repository', () => {
  const dir = tempDir();

  it('a plain export is refused by an encrypted repository (and nothing changes)', async () => {
    const env = { BLOCKVAULT_PASSPHRASE: 'correct horse battery staple' };
    const plain = await initRepo(dir, [], 'plain');
    const encrypted = join(dir, 'enc');
    await ok(['init', encrypted, '--block-size', '64K', '--encrypt'], env);
    const image = join(dir, 'i.img');
    writeBlocks(image, [31, 32]);
    const uid = await backupCli(plain, image, 'i');
    const file = join(dir, 'plain.export');
    await ok(['--repo', plain, 'export', uid, '-f', file]);
    const before = repoState(encrypted);
    const result = await cli(['--repo', encrypted, 'import', '-f', file], { env });
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /BAD_EXPORT/);
    assert.match(result.stderr, /hash/);
    assert.equal(repoState(encrypted), before);
  });
});

describe('internal errors', () => {
  const dir = tempDir();

  it('an INTERNAL error never passes raw JavaScript or SQLite text; -v shows the details', async () => {
    const repo = await initRepo(dir);
    const image = join(dir, 'x.img');
    writeBlocks(image, [41, 42]);
    const uid = await backupCli(repo, image, 'x');
    const db = openDb(repo, false);
    db.prepare('UPDATE blocks SET object_id = 999999 WHERE idx = 1').run();
    db.close();
    for (const args of [['restore', uid, join(dir, 'x.out')], ['scrub', '--deep', uid]]) {
      const result = await cli(['--repo', repo, ...args]);
      assert.notEqual(result.code, 0);
      assert.match(result.stderr, /error \[[A-Z_]+\]/);
      assert.doesNotMatch(result.stderr, /Cannot read properties|TypeError|reading '|SQLITE_|undefined|null/, result.stderr);
    }
    const verbose = await cli(['--repo', repo, '-v', 'restore', uid, join(dir, 'x2.out')]);
    assert.notEqual(verbose.code, 0);
    assert.match(verbose.stderr, /at /, 'with -v the stack is shown');
  });
});
