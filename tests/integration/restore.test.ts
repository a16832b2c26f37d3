// Restore rules: existing targets only with --force, never smaller than the version; a forced
// target gets every block, zeros included, unless --sparse; block devices as source and
// target (loop devices, when this machine can make them).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backupCli, BS, cli, initRepo, ok, restoreEquals, sha256, sha256File, tempDir, writeBlocks } from '../helpers';

function loopDevice(file: string): string | null {
  try {
    return execFileSync('losetup', ['--find', '--show', file], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return null;
  }
}

describe('restore rules', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'src.img');
  // 6 blocks and an odd tail; blocks 1 and 4 are zero.
  const seeds = [1, 0, 2, 3, 0, 4];
  const size = 5 * BS + 3000;
  let uid: string;
  let source: Buffer;

  before(async () => {
    repo = await initRepo(dir);
    writeBlocks(image, seeds, BS, 3000);
    source = readFileSync(image);
    assert.equal(source.length, size);
    uid = await backupCli(repo, image, 'src');
  });

  it('refuses an existing target without --force, and leaves it untouched', async () => {
    const target = join(dir, 'existing.bin');
    writeFileSync(target, Buffer.alloc(size * 2, 0xee));
    const result = await cli(['--repo', repo, 'restore', uid, target]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[TARGET_EXISTS\]/);
    assert.ok(readFileSync(target).every((b) => b === 0xee));
  });

  it('refuses a smaller existing target even with --force (TARGET_TOO_SMALL), untouched', async () => {
    const target = join(dir, 'small.bin');
    writeFileSync(target, Buffer.alloc(size - 1, 0xee));
    const result = await cli(['--repo', repo, 'restore', uid, target, '--force']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[TARGET_TOO_SMALL\]/);
    assert.equal(statSync(target).size, size - 1);
    assert.ok(readFileSync(target).every((b) => b === 0xee));
  });

  it('--force to a larger regular file writes every block, zeros included, and ends at the version\'s size', async () => {
    // issue 9 #3: the old tail was kept, so the result was neither the version nor the old file
    const target = join(dir, 'larger.bin');
    writeFileSync(target, Buffer.alloc(size + 2 * BS + 123, 0xff));
    await ok(['--repo', repo, 'restore', uid, target, '--force']);
    const data = readFileSync(target);
    assert.equal(data.length, size, 'a regular file ends at the version\'s size');
    assert.equal(sha256(data), sha256(source), 'the file equals the source');
    assert.ok(data.subarray(BS, 2 * BS).every((b) => b === 0), 'zero block 1 was written');
    assert.ok(data.subarray(4 * BS, 5 * BS).every((b) => b === 0), 'zero block 4 was written');
  });

  it('--force of the same size restores exactly', async () => {
    const target = join(dir, 'same.bin');
    writeFileSync(target, Buffer.alloc(size, 0x5a));
    await ok(['--repo', repo, 'restore', uid, target, '-f']);
    assert.equal(await sha256File(target), sha256(source));
  });

  it('--force --sparse skips zero blocks (the target is said to be zeroed)', async () => {
    const target = join(dir, 'sparse.bin');
    writeFileSync(target, Buffer.alloc(size, 0xff));
    await ok(['--repo', repo, 'restore', uid, target, '--force', '--sparse']);
    const data = readFileSync(target);
    for (const [i, seed] of seeds.entries()) {
      const block = data.subarray(i * BS, Math.min(size, (i + 1) * BS));
      if (seed === 0) assert.ok(block.every((b) => b === 0xff), `zero block ${i} was not written`);
      else assert.ok(block.equals(source.subarray(i * BS, Math.min(size, (i + 1) * BS))), `data block ${i} restored`);
    }
  });

  it('a new file in a missing directory fails clearly', async () => {
    const result = await cli(['--repo', repo, 'restore', uid, join(dir, 'no', 'such', 'dir', 'x.img')]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /NOT_FOUND/);
  });

  it('an unknown version fails with NOT_FOUND and creates no target', async () => {
    const target = join(dir, 'unknown.img');
    const result = await cli(['--repo', repo, 'restore', '00000000-0000-0000-0000-000000000000', target]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /NOT_FOUND/);
    assert.equal(existsSync(target), false);
  });

  it('reads a repeated object once and writes it to every block that holds it', async () => {
    // Seed 5 at blocks 0, 3 and 6; seed 6 at 2 and 7; zeros at 4; a lone block at 1 and 5.
    const repeats = join(dir, 'repeats.img');
    writeBlocks(repeats, [5, 7, 6, 5, 0, 8, 5, 6]);
    const repeatUid = await backupCli(repo, repeats, 'repeats');
    const target = join(dir, 'repeats.restored');
    const out = await ok(['--repo', repo, 'restore', repeatUid, target]);
    assert.match(out, /7 blocks verified, 1 sparse/);
    assert.equal(await sha256File(target), await sha256File(repeats));
    const forced = join(dir, 'repeats.forced');
    writeFileSync(forced, Buffer.alloc(8 * BS, 0xab));
    await ok(['--repo', repo, 'restore', '--force', repeatUid, forced]);
    assert.equal(await sha256File(forced), await sha256File(repeats), 'a forced target gets the repeats and the zero block');

    // A damaged repeated object fails the restore at its first block, naming the object.
    const digest = sha256(readFileSync(repeats).subarray(0, BS));
    const objectFile = join(repo, 'objects', digest.slice(0, 2), digest.slice(2, 4), digest);
    const original = readFileSync(objectFile);
    const damaged = Buffer.from(original);
    damaged[damaged.length - 1] ^= 0x01;
    writeFileSync(objectFile, damaged);
    try {
      const failed = await cli(['--repo', repo, 'restore', repeatUid, join(dir, 'repeats.bad')]);
      assert.equal(failed.code, 1);
      assert.match(failed.stderr, new RegExp(`block 0 \\(offset 0\\) object ${digest}`));
      assert.equal(existsSync(join(dir, 'repeats.bad')), false, 'the partial new file is removed');
    } finally {
      writeFileSync(objectFile, original);
    }
  });

  describe('block devices (loop)', () => {
    const loops: string[] = [];
    after(() => {
      for (const loop of loops) {
        try { execFileSync('losetup', ['-d', loop]); } catch { /* already detached */ }
      }
    });

    it('backs up a block device and restores to one, refusing a smaller device', async (t) => {
      const backing = join(dir, 'dev-src.img');
      writeBlocks(backing, [7, 0, 8, 9, 7, 0, 0, 10]);
      const sourceDevice = loopDevice(backing);
      if (!sourceDevice) {
        t.skip('cannot create loop devices here (needs root and /dev/loop-control)');
        return;
      }
      loops.push(sourceDevice);
      const devUid = await backupCli(repo, sourceDevice, 'device');
      const [v] = JSON.parse(await ok(['--repo', repo, 'show', devUid, '--json'])) as Array<{ size: number }>;
      assert.equal(v.size, 8 * BS, 'the device size comes from the kernel');
      await restoreEquals(repo, devUid, join(dir, 'dev.restored'), backing);

      const targetBacking = join(dir, 'dev-target.img');
      writeFileSync(targetBacking, Buffer.alloc(10 * BS, 0xff));
      const targetDevice = loopDevice(targetBacking)!;
      loops.push(targetDevice);
      const refused = await cli(['--repo', repo, 'restore', devUid, targetDevice]);
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /TARGET_EXISTS/, 'a device is an existing target');
      await ok(['--repo', repo, 'restore', devUid, targetDevice, '--force']);
      const written = readFileSync(targetBacking);
      assert.equal(sha256(written.subarray(0, 8 * BS)), await sha256File(backing), 'zeros were written to the device');
      assert.equal(written.length, 10 * BS, 'a device keeps its size');
      assert.ok(written.subarray(8 * BS).every((b) => b === 0xff), 'bytes past the version are untouched on a device');

      const smallBacking = join(dir, 'dev-small.img');
      writeFileSync(smallBacking, Buffer.alloc(4 * BS, 0xee));
      const smallDevice = loopDevice(smallBacking)!;
      loops.push(smallDevice);
      const small = await cli(['--repo', repo, 'restore', devUid, smallDevice, '--force']);
      assert.equal(small.code, 1);
      assert.match(small.stderr, /TARGET_TOO_SMALL/);
      assert.ok(readFileSync(smallBacking).every((b) => b === 0xee));
    });
  });
});
