// Corruption: a flipped byte, a deleted object and a truncated object are found by scrub
// (exit 20), mark every version that shares the object invalid, make restore fail naming
// version, block, offset and object; a re-backup heals the store, and only a clean full deep
// scrub makes a version valid again. A source scrub reports a changed source but invalidates
// nothing.
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, readFileSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { backupCli, BS, cli, initRepo, lsJson, objectPath, ok, patchFile, restoreEquals, seededBytes, sha256, tempDir, version, writeBlocks, writeImage } from '../helpers';

interface Problem { idx: number; offset: number; object: string | null; kind: string; detail: string }
interface Report { uid: string; mode: string; percent: number; blocksChecked: number; blocksOk: number; blocksInvalid: number; blocksMissing: number; blocksMismatch: number; invalidatedVersions: string[]; revalidated: boolean; problems: Problem[] }

const digestOf = (seed: number, length = BS): string => sha256(seededBytes(seed, length));

async function report(repo: string, uid: string): Promise<Report> {
  return JSON.parse(await ok(['--repo', repo, 'scrub-report', uid, '--json'])) as Report;
}

function flipByte(path: string, offset: number): void {
  const data = readFileSync(path);
  data[offset] ^= 0x40;
  writeFileSync(path, data);
}

describe('corruption, scrub and healing', () => {
  const dir = tempDir();
  let repo: string;
  const imageA = join(dir, 'a.img');
  const imageB = join(dir, 'b.img');
  const imageC = join(dir, 'c.img');
  let a: string;
  let b: string;
  let c: string;

  before(async () => {
    repo = await initRepo(dir);
    // A and B share the blocks of seeds 1 and 2; seeds 5 and 6 are A's alone; C shares nothing.
    writeBlocks(imageA, [1, 2, 0, 5, 6, 7]);
    writeBlocks(imageB, [9, 1, 2, 0, 10]);
    writeBlocks(imageC, [20, 21, 22]);
    a = await backupCli(repo, imageA, 'a');
    b = await backupCli(repo, imageB, 'b');
    c = await backupCli(repo, imageC, 'c');
  });

  it('a clean repository scrubs clean, fast and deep', async () => {
    for (const args of [['--all'], ['--all', '--deep'], [a, b, '--deep']]) {
      const result = await cli(['--repo', repo, 'scrub', ...args]);
      assert.equal(result.code, 0, `scrub ${args.join(' ')}: ${result.stdout}${result.stderr}`);
    }
    const r = await report(repo, a);
    assert.equal(r.blocksChecked, 6);
    assert.equal(r.blocksOk, 6);
    assert.deepEqual(r.problems, []);
  });

  it('deep scrub finds a flipped byte, exits 20 and marks every sharing version invalid', async () => {
    const object = digestOf(1);
    flipByte(objectPath(repo, object), 16 + 1234);
    const result = await cli(['--repo', repo, 'scrub', a, '--deep']);
    assert.equal(result.code, 20, result.stdout + result.stderr);
    const r = await report(repo, a);
    assert.equal(r.mode, 'deep');
    assert.equal(r.blocksInvalid, 1);
    assert.equal(r.blocksMissing, 0);
    assert.deepEqual(r.problems.map((p) => [p.idx, p.offset, p.object, p.kind]), [[0, 0, object, 'invalid']]);
    assert.deepEqual([...r.invalidatedVersions].sort(), [a, b].sort());
    assert.equal((await version(repo, a)).valid, false);
    assert.equal((await version(repo, b)).valid, false, 'B shares the object');
    assert.equal((await version(repo, c)).valid, true, 'C shares nothing');
  });

  it('restore of an affected version fails naming version, block, offset and object, and leaves no file', async () => {
    const target = join(dir, 'b.restored');
    const result = await cli(['--repo', repo, 'restore', b, target]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[OBJECT_CORRUPT\]/);
    assert.ok(result.stderr.includes(`version ${b}`), result.stderr);
    assert.match(result.stderr, /block 1 \(offset 65536\)/);
    assert.ok(result.stderr.includes(digestOf(1)), 'names the object');
    assert.equal(existsSync(target), false, 'a partial new target is removed');
  });

  it('fast scrub finds a deleted object and a truncated one', async () => {
    const deleted = digestOf(5);
    const truncated = digestOf(6);
    unlinkSync(objectPath(repo, deleted));
    truncateSync(objectPath(repo, truncated), 100);
    const result = await cli(['--repo', repo, 'scrub', a]);
    assert.equal(result.code, 20, result.stdout + result.stderr);
    const r = await report(repo, a);
    assert.equal(r.mode, 'fast');
    const byIdx = new Map(r.problems.map((p) => [p.idx, p]));
    assert.equal(byIdx.get(3)?.kind, 'missing');
    assert.equal(byIdx.get(3)?.object, deleted);
    assert.equal(byIdx.get(4)?.kind, 'invalid');
    assert.equal(byIdx.get(4)?.object, truncated);
    assert.equal(byIdx.get(0)?.kind, 'invalid', 'the block marked invalid earlier is still reported');
    assert.equal(r.blocksMissing, 1);
    const text = await cli(['--repo', repo, 'scrub-report', a]);
    assert.equal(text.code, 0);
    assert.match(text.stdout, /INVALID/);
    assert.ok(text.stdout.includes(deleted));
  });

  it('deep scrub reports the missing and truncated objects too', async () => {
    const result = await cli(['--repo', repo, 'scrub', a, '--deep', '--json']);
    assert.equal(result.code, 20);
    const [r] = JSON.parse(result.stdout) as Report[];
    assert.deepEqual(r.problems.map((p) => [p.idx, p.kind]), [[0, 'invalid'], [3, 'missing'], [4, 'invalid']]);
    const restore = await cli(['--repo', repo, 'restore', a, join(dir, 'a.restored')]);
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /OBJECT_(CORRUPT|MISSING)/);
    assert.match(restore.stderr, /block \d \(offset \d+\) object [0-9a-f]{64}/);
  });

  it('scrub --all exits 20 while anything is invalid', async () => {
    const result = await cli(['--repo', repo, 'scrub', '--all', '--deep']);
    assert.equal(result.code, 20);
    assert.equal((await version(repo, c)).valid, true);
  });

  it('a re-backup of the same source writes fresh objects and restores', async () => {
    const healed = await backupCli(repo, imageA, 'a');
    const [stats] = JSON.parse(await ok(['--repo', repo, 'stats', healed, '--json'])) as Array<{ blocksWritten: number }>;
    assert.equal(stats.blocksWritten, 3, 'the three damaged objects were written again');
    await restoreEquals(repo, healed, join(dir, 'healed.restored'), imageA);
    assert.equal((await version(repo, healed)).valid, true);
    assert.equal((await version(repo, a)).valid, false, 'A stays invalid until a deep scrub');
  });

  it('a partial deep scrub or a fast scrub never revalidates', async () => {
    for (const args of [['-p', '50', '--deep'], ['-p', '99', '--deep'], []]) {
      const result = await cli(['--repo', repo, 'scrub', a, ...args]);
      assert.equal(result.code, 0, `scrub ${args.join(' ')}: ${result.stdout}${result.stderr}`);
      const r = await report(repo, a);
      assert.equal(r.revalidated, false);
      assert.equal((await version(repo, a)).valid, false, `scrub ${args.join(' ')} revalidated A`);
    }
  });

  it('a clean full deep scrub revalidates each version', async () => {
    for (const uid of [a, b]) {
      const result = await cli(['--repo', repo, 'scrub', uid, '--deep']);
      assert.equal(result.code, 0, result.stdout + result.stderr);
      assert.equal((await report(repo, uid)).revalidated, true);
      assert.equal((await version(repo, uid)).valid, true);
    }
    await restoreEquals(repo, a, join(dir, 'a-again.restored'), imageA);
    await restoreEquals(repo, b, join(dir, 'b-again.restored'), imageB);
  });

  it('finds corruption in a compressed object and in an object header', async () => {
    const text = Buffer.alloc(BS, 'the quick brown fox jumps over the lazy dog. ');
    const image = join(dir, 'text.img');
    writeImage(image, 2 * BS, [{ offset: 0, data: text }, { offset: BS, data: seededBytes(31, BS) }]);
    const uid = await backupCli(repo, image, 'text');
    const compressed = objectPath(repo, sha256(text));
    assert.ok(readFileSync(compressed).length < BS / 4, 'the text block is stored compressed');
    flipByte(compressed, readFileSync(compressed).length - 5);
    flipByte(objectPath(repo, digestOf(31)), 0);
    const result = await cli(['--repo', repo, 'scrub', uid, '--deep', '--json']);
    assert.equal(result.code, 20);
    const [r] = JSON.parse(result.stdout) as Report[];
    assert.deepEqual(r.problems.map((p) => [p.idx, p.kind]), [[0, 'invalid'], [1, 'invalid']]);
  });

  it('scrub -s SOURCE reports a changed source without invalidating anything', async () => {
    const same = await cli(['--repo', repo, 'scrub', c, '-s', imageC]);
    assert.equal(same.code, 0, same.stdout + same.stderr);
    const changed = join(dir, 'c-changed.img');
    copyFileSync(imageC, changed);
    patchFile(changed, 2 * BS + 9, Buffer.from('drift'));
    const result = await cli(['--repo', repo, 'scrub', c, '-s', changed]);
    assert.equal(result.code, 20, result.stdout + result.stderr);
    const r = await report(repo, c);
    assert.equal(r.mode, 'source');
    assert.equal(r.blocksMismatch, 1);
    assert.deepEqual(r.problems.map((p) => [p.idx, p.kind]), [[2, 'mismatch']]);
    assert.deepEqual(r.invalidatedVersions, []);
    assert.equal((await version(repo, c)).valid, true);
    assert.ok((await lsJson(repo)).find((v) => v.uid === c)?.valid);
  });

  it('scrub argument errors', async () => {
    const none = await cli(['--repo', repo, 'scrub']);
    assert.equal(none.code, 2);
    const badPercent = await cli(['--repo', repo, 'scrub', c, '-p', '0']);
    assert.equal(badPercent.code, 2);
    const tooMuch = await cli(['--repo', repo, 'scrub', c, '-p', '101']);
    assert.equal(tooMuch.code, 2);
    const unknown = await cli(['--repo', repo, 'scrub', '00000000-0000-0000-0000-000000000000']);
    assert.equal(unknown.code, 1);
    assert.match(unknown.stderr, /NOT_FOUND/);
    const never = await backupCli(repo, imageC, 'never-scrubbed');
    const noReport = await cli(['--repo', repo, 'scrub-report', never]);
    assert.equal(noReport.code, 1);
    assert.match(noReport.stderr, /NOT_FOUND/);
  });
});
