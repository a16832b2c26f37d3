// Deduplication: identical blocks are stored once, inside one image and across versions;
// stats and du report it, and the object store does not grow for data it already holds.
import assert from 'node:assert/strict';
import { copyFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupCli, BS, initRepo, objectNames, ok, patchFile, query, restoreEquals, seededBytes, tempDir, writeBlocks } from '../helpers';

interface Stats { uid: string; sizeBlocks: number; blocksRead: number; blocksWritten: number; blocksDedup: number; blocksSparse: number; bytesDedup: number; bytesWritten: number; bytesSparse: number }
interface Du { sizeBytes: number; referencedBytes: number; sparseBytes: number; sharedBytes: number; exclusiveBytes: number; reclaimableBytes: number; storedBytes: number }

describe('deduplication', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'a.img');
  // 12 blocks: seeds 1,2,3 repeated, two zero blocks, one unique.
  const seeds = [1, 2, 3, 1, 2, 3, 1, 0, 0, 4, 1, 2];
  let first: string;

  it('stores a block repeated inside one image once', async () => {
    repo = await initRepo(dir);
    writeBlocks(image, seeds);
    first = await backupCli(repo, image, 'vm-a');
    assert.equal(objectNames(repo).length, 4, 'four distinct non-zero blocks, four objects');
    const [stats] = JSON.parse(await ok(['--repo', repo, 'stats', first, '--json'])) as Stats[];
    assert.equal(stats.sizeBlocks, 12);
    assert.equal(stats.blocksRead, 12);
    assert.equal(stats.blocksWritten, 4);
    assert.equal(stats.blocksDedup, 6);
    assert.equal(stats.blocksSparse, 2);
    assert.equal(stats.bytesSparse, 2 * BS);
    assert.equal(stats.bytesDedup, 6 * BS);
    await restoreEquals(repo, first, join(dir, 'a.restored'), image);
  });

  it('writes nothing new for an identical second backup, and du shows the sharing', async () => {
    const before = objectNames(repo);
    const second = await backupCli(repo, image, 'vm-a');
    assert.deepEqual(objectNames(repo), before, 'the store did not grow');
    const [stats] = JSON.parse(await ok(['--repo', repo, 'stats', second, '--json'])) as Stats[];
    assert.equal(stats.blocksWritten, 0);
    assert.equal(stats.bytesWritten, 0);
    assert.equal(stats.blocksDedup, 10);
    const du = JSON.parse(await ok(['--repo', repo, 'du', second, '--json'])) as Du;
    assert.equal(du.sizeBytes, 12 * BS);
    assert.equal(du.referencedBytes, 10 * BS);
    assert.equal(du.sparseBytes, 2 * BS);
    assert.equal(du.sharedBytes, 10 * BS, 'every non-zero block is shared with the first version');
    assert.equal(du.exclusiveBytes, 0);
    assert.equal(du.reclaimableBytes, 0, 'removing one of two identical versions frees nothing');
    assert.ok(du.storedBytes > 0);
    const diff = await ok(['--repo', repo, 'diff', first, second]);
    assert.equal(diff.trim(), 'SAME');
    await restoreEquals(repo, second, join(dir, 'a2.restored'), image);
  });

  it('dedupes across versions of different names and stores only the changed block', async () => {
    const other = join(dir, 'b.img');
    copyFileSync(image, other);
    patchFile(other, 9 * BS + 100, Buffer.from('changed'));
    const before = objectNames(repo);
    const uid = await backupCli(repo, other, 'vm-b');
    const after = objectNames(repo);
    assert.equal(after.length, before.length + 1, 'exactly one new object');
    const [stats] = JSON.parse(await ok(['--repo', repo, 'stats', uid, '--json'])) as Stats[];
    assert.equal(stats.blocksWritten, 1);
    assert.equal(stats.blocksDedup, 9);
    const du = JSON.parse(await ok(['--repo', repo, 'du', uid, '--json'])) as Du;
    assert.equal(du.exclusiveBytes, BS);
    assert.equal(du.sharedBytes, 9 * BS);
    assert.ok(du.reclaimableBytes > 0 && du.reclaimableBytes <= BS + 64, `reclaimable ${du.reclaimableBytes}`);
    const diff = JSON.parse(await ok(['--repo', repo, 'diff', first, uid, '--json'])) as Array<{ first: number; last: number; kind: string; offset: number; length: number }>;
    assert.deepEqual(diff, [{ first: 9, last: 9, offset: 9 * BS, length: BS, kind: 'differ' }]);
    await restoreEquals(repo, uid, join(dir, 'b.restored'), other);
  });

  it('dedupes a shorter last block only against identical content and length', async () => {
    // The last block holds the first 1000 bytes of seed 1: a different plaintext than block 0.
    const odd = join(dir, 'odd.img');
    writeBlocks(odd, [1, 1], BS, 1000);
    assert.deepEqual(seededBytes(1, 1000), seededBytes(1, BS).subarray(0, 1000));
    const before = objectNames(repo).length;
    const uid = await backupCli(repo, odd, 'odd');
    assert.equal(objectNames(repo).length, before + 1, 'the 1000-byte tail is a new object');
    await restoreEquals(repo, uid, join(dir, 'odd.restored'), odd);
  });

  it('keeps one object row per digest and no block row repeats a digest', async () => {
    const objects = query<{ n: number; d: number }>(repo, 'SELECT count(*) AS n, count(DISTINCT digest) AS d FROM objects');
    assert.equal(objects[0].n, objects[0].d);
    assert.equal(objects[0].n, objectNames(repo).length, 'one row per stored object');
    const columns = query<{ name: string }>(repo, "SELECT name FROM pragma_table_info('blocks')").map((c) => c.name).sort();
    assert.deepEqual(columns, ['idx', 'object_id', 'version_id']);
  });

  it('repository-wide du and stats cover every version', async () => {
    const all = JSON.parse(await ok(['--repo', repo, 'stats', '--json'])) as Stats[];
    assert.equal(all.length, 4);
    const limited = JSON.parse(await ok(['--repo', repo, 'stats', '-l', '2', '--json'])) as Stats[];
    assert.deepEqual(limited.map((s) => s.uid), all.slice(-2).map((s) => s.uid), '-l keeps the newest');
    const machine = (await ok(['--repo', repo, 'stats', '-m'])).trim().split('\n');
    assert.equal(machine.length, 4);
    assert.equal(machine[0].split('|')[0], 'statistics');
    assert.equal(machine[0].split('|')[2], all[0].uid);
    const table = await ok(['--repo', repo, 'stats']);
    assert.match(table, /blocks dedup/);
    const du = JSON.parse(await ok(['--repo', repo, 'du', '--json'])) as Du;
    assert.equal(du.reclaimableBytes, 0, 'nothing unreferenced yet');
    assert.ok(du.storedBytes > 0);
  });
});
