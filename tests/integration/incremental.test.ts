// Incremental backups: --from with rbd-diff hints (strings and booleans, unaligned extents,
// exists:false), wrong hints caught by sampling, --from without hints, bad hints files
// (hints on a first backup: first-backup-hints.test.ts).
import assert from 'node:assert/strict';
import { copyFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { backupCli, blockDigests, BS, cli, initRepo, lsJson, objectNames, ok, patchFile, repoState, restoreEquals, seededBytes, tempDir, writeBlocks } from '../helpers';

interface Stats { blocksRead: number; blocksWritten: number; blocksDedup: number; blocksSparse: number; blocksFromBase: number; sizeBlocks: number }

async function statsOf(repo: string, uid: string): Promise<Stats> {
  return (JSON.parse(await ok(['--repo', repo, 'stats', uid, '--json'])) as Stats[])[0];
}

describe('incremental backups', () => {
  const dir = tempDir();
  let repo: string;
  const base = join(dir, 'base.img');
  let baseUid: string;
  // 16 blocks, all distinct non-zero except block 12.
  const seeds = Array.from({ length: 16 }, (_, i) => (i === 12 ? 0 : 100 + i));

  before(async () => {
    repo = await initRepo(dir);
    writeBlocks(base, seeds);
    baseUid = await backupCli(repo, base, 'vm');
  });

  it('reads only hinted blocks, takes the rest from the base, and restores bit-exact', async () => {
    const changed = join(dir, 'changed.img');
    copyFileSync(base, changed);
    // Unaligned change inside block 3.
    patchFile(changed, 3 * BS + 1000, Buffer.from('hello, block three'));
    // A change straddling blocks 7 and 8.
    patchFile(changed, 8 * BS - 10, seededBytes(7, 20));
    // Block 10 became zero.
    patchFile(changed, 10 * BS, Buffer.alloc(BS));
    // Block 12 was zero and now holds data.
    patchFile(changed, 12 * BS + 5, Buffer.from([1, 2, 3]));
    const hints = join(dir, 'hints.json');
    // Formatted over several lines, as `rbd diff --format=json --pretty-format` prints it.
    writeFileSync(hints, JSON.stringify([
      { offset: 3 * BS + 1000, length: 18, exists: 'true' },
      { offset: 8 * BS - 10, length: 20, exists: true },
      { offset: 10 * BS, length: BS, exists: 'false' },
      { offset: 12 * BS + 5, length: 3, exists: true },
    ], null, 2));
    const uid = await backupCli(repo, changed, 'vm', ['--from', baseUid, '--hints', hints]);
    const stats = await statsOf(repo, uid);
    assert.equal(stats.blocksRead, 15, 'blocks 3, 7, 8, 10 and 12 read, and 10 the hints call unchanged sampled against the base');
    assert.equal(stats.blocksFromBase, 11);
    assert.equal(stats.blocksWritten, 4, 'blocks 3, 7, 8 and 12 hold new data');
    const digests = blockDigests(repo, uid);
    assert.equal(digests[10], null, 'block 10 became sparse');
    assert.notEqual(digests[12], null);
    assert.deepEqual((await lsJson(repo)).find((v) => v.uid === uid)?.baseUid, baseUid);
    await restoreEquals(repo, uid, join(dir, 'changed.restored'), changed);
    const clean = await cli(['--repo', repo, 'scrub', '--deep', uid]);
    assert.equal(clean.code, 0, clean.stdout + clean.stderr);
  });

  it('accepts empty hints (nothing changed)', async () => {
    const hints = join(dir, 'empty-hints.json');
    writeFileSync(hints, '[]\n');
    const uid = await backupCli(repo, base, 'vm', ['--from', baseUid, '--hints', hints]);
    const stats = await statsOf(repo, uid);
    assert.equal(stats.blocksRead, 10, 'only the 10 sampled blocks the hints call unchanged');
    assert.equal(stats.blocksFromBase, 16);
    assert.deepEqual(blockDigests(repo, uid), blockDigests(repo, baseUid));
    await restoreEquals(repo, uid, join(dir, 'empty.restored'), base);
  });

  it('handles a source that grew, with an odd tail, and hints up to its end', async () => {
    const grown = join(dir, 'grown.img');
    const grownSeeds = [...seeds, 200, 201, 202];
    writeBlocks(grown, grownSeeds, BS, 777);
    const hints = join(dir, 'grown-hints.json');
    writeFileSync(hints, JSON.stringify([{ offset: 16 * BS, length: 2 * BS + 777, exists: 'true' }]));
    const uid = await backupCli(repo, grown, 'vm', ['--from', baseUid, '--hints', hints]);
    const stats = await statsOf(repo, uid);
    assert.equal(stats.sizeBlocks, 19);
    // Blocks 16-18 are new; the base's last block may be reread because the size changed.
    assert.ok(stats.blocksFromBase === 16 || stats.blocksFromBase === 15, `blocksFromBase ${stats.blocksFromBase}`);
    assert.equal(stats.blocksWritten, 3);
    await restoreEquals(repo, uid, join(dir, 'grown.restored'), grown);
  });

  it('handles a source that shrank to an odd size', async () => {
    const shrunk = join(dir, 'shrunk.img');
    writeBlocks(shrunk, seeds.slice(0, 10), BS, 4097);
    const hints = join(dir, 'shrunk-hints.json');
    writeFileSync(hints, '[]');
    const uid = await backupCli(repo, shrunk, 'vm', ['--from', baseUid, '--hints', hints]);
    await restoreEquals(repo, uid, join(dir, 'shrunk.restored'), shrunk);
  });

  it('fails with HINTS_MISMATCH when a block changed outside the hints, creating no version', async () => {
    // Hints name block 0 only; block 5 changed too. With 15 unhinted blocks and 10 samples a
    // single change could be missed, so change six of them: any 10 of 15 include one.
    const wrong = join(dir, 'wrong.img');
    copyFileSync(base, wrong);
    patchFile(wrong, 0, Buffer.from('hinted'));
    for (const idx of [2, 5, 6, 9, 13, 15]) patchFile(wrong, idx * BS + 17, Buffer.from('not hinted'));
    const hints = join(dir, 'wrong-hints.json');
    writeFileSync(hints, JSON.stringify([{ offset: 0, length: 6, exists: 'true' }]));
    const before = repoState(repo);
    const result = await cli(['--repo', repo, 'backup', wrong, 'vm', '--from', baseUid, '--hints', hints]);
    assert.equal(result.code, 1, result.stderr);
    assert.match(result.stderr, /\[HINTS_MISMATCH\]/);
    assert.match(result.stderr, /block (2|5|6|9|13|15) /);
    assert.equal(result.stdout.trim(), '', 'no UID printed');
    assert.equal(repoState(repo), before, 'repository unchanged');
    assert.ok((await lsJson(repo)).every((v) => v.valid), 'no invalid or incomplete version left behind');
  });

  it('rereads everything with --from and no hints, but writes only new data', async () => {
    const changed = join(dir, 'nohints.img');
    copyFileSync(base, changed);
    patchFile(changed, 4 * BS + 3, Buffer.from('four'));
    patchFile(changed, 14 * BS, Buffer.alloc(BS));
    const objects = objectNames(repo).length;
    const uid = await backupCli(repo, changed, 'vm', ['--from', baseUid]);
    const stats = await statsOf(repo, uid);
    assert.equal(stats.blocksRead, 16);
    assert.equal(stats.blocksWritten, 1);
    assert.equal(stats.blocksSparse, 2);
    assert.equal(objectNames(repo).length, objects + 1);
    await restoreEquals(repo, uid, join(dir, 'nohints.restored'), changed);
  });

  describe('refuses bad hints and changes nothing', () => {
    const cases: Array<[string, string, RegExp]> = [
      ['not JSON', '{"offset": 0, "length"', /BAD_HINTS/],
      ['an object instead of a list', '{"offset":0,"length":1,"exists":"true"}', /BAD_HINTS/],
      ['a list of numbers', '[1, 2, 3]', /BAD_HINTS/],
      ['a missing length', '[{"offset":0,"exists":"true"}]', /BAD_HINTS/],
      ['a negative offset', '[{"offset":-65536,"length":10,"exists":"true"}]', /BAD_HINTS/],
      ['a negative length', '[{"offset":0,"length":-1,"exists":true}]', /BAD_HINTS/],
      ['a fractional offset', '[{"offset":1.5,"length":1,"exists":true}]', /BAD_HINTS/],
      ['an offset as a string', '[{"offset":"0","length":1,"exists":true}]', /BAD_HINTS/],
      ['exists "yes"', '[{"offset":0,"length":1,"exists":"yes"}]', /BAD_HINTS/],
      ['exists missing', '[{"offset":0,"length":1}]', /BAD_HINTS/],
      ['an empty file', '', /BAD_HINTS/],
      ['a valid entry followed by a bad one', '[{"offset":0,"length":1,"exists":true},{"offset":-1,"length":1,"exists":true}]', /BAD_HINTS/],
    ];
    for (const [what, text, code] of cases) {
      it(`with ${what}`, async () => {
        const hints = join(dir, `bad-${what.replace(/\W+/g, '-')}.json`);
        writeFileSync(hints, text);
        const before = repoState(repo);
        const result = await cli(['--repo', repo, 'backup', base, 'vm', '--from', baseUid, '--hints', hints]);
        assert.equal(result.code, 1, `${what}: exit ${result.code} ${result.stderr}`);
        assert.match(result.stderr, code);
        assert.equal(result.stderr.trim().split('\n').length, 1, 'one error line');
        assert.equal(repoState(repo), before);
      });
    }

    it('with a hints file that does not exist', async () => {
      const before = repoState(repo);
      const result = await cli(['--repo', repo, 'backup', base, 'vm', '--from', baseUid, '--hints', join(dir, 'nope.json')]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /BAD_HINTS/);
      assert.equal(repoState(repo), before);
    });

    it('with hints but no --from that leave out blocks holding data (a first backup samples them to be zeros)', async () => {
      const hints = join(dir, 'ok-hints.json');
      writeFileSync(hints, '[]');
      const before = repoState(repo);
      const result = await cli(['--repo', repo, 'backup', base, 'vm', '--hints', hints]);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /HINTS_MISMATCH.*the source holds data at block \d+/);
      assert.equal(repoState(repo), before);
    });

    it('with --from naming an unknown version', async () => {
      const before = repoState(repo);
      const result = await cli(['--repo', repo, 'backup', base, 'vm', '--from', '00000000-0000-0000-0000-000000000000']);
      assert.equal(result.code, 1);
      assert.match(result.stderr, /NOT_FOUND/);
      assert.equal(repoState(repo), before);
    });
  });
});
