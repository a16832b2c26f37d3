import assert from 'node:assert/strict';
import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli, lastLine, randomData, seededBytes, sha256File, tempDir, writeImage } from '../helpers';

const BS = 64 * 1024;

async function initRepo(dir: string, args: string[] = []): Promise<string> {
  const repo = join(dir, 'repo');
  const result = await cli(['init', repo, '--block-size', '64K', ...args]);
  assert.equal(result.code, 0, result.stderr);
  return repo;
}

async function backupAndRestore(repo: string, image: string, dir: string, name: string): Promise<string> {
  const backup = await cli(['--repo', repo, 'backup', image, name]);
  assert.equal(backup.code, 0, backup.stderr);
  const uid = lastLine(backup.stdout);
  const target = join(dir, `${name}.restored`);
  const restore = await cli(['--repo', repo, 'restore', uid, target]);
  assert.equal(restore.code, 0, restore.stderr);
  assert.equal(await sha256File(target), await sha256File(image), `${name}: restored bytes differ`);
  assert.equal(statSync(target).size, statSync(image).size);
  return uid;
}

describe('backup and restore round trips', () => {
  const dir = tempDir();
  let repo: string;

  it('creates a repository and refuses a second init there', async () => {
    repo = await initRepo(dir);
    const again = await cli(['init', repo]);
    assert.equal(again.code, 1);
    assert.match(again.stderr, /REPOSITORY_EXISTS/);
  });

  const cases: Array<[string, number, (path: string, size: number) => void]> = [
    ['empty', 0, (p, s) => writeImage(p, s, [])],
    ['one-byte', 1, (p) => writeFileSync(p, Buffer.from([7]))],
    ['one-block', BS, (p, s) => writeImage(p, s, [{ offset: 0, data: randomData(s) }])],
    ['odd-size', 5 * BS + 12345, (p, s) => writeImage(p, s, [{ offset: 0, data: seededBytes(3, s) }])],
    ['mostly-sparse', 200 * BS + 1, (p, s) => writeImage(p, s, [{ offset: 17 * BS + 5, data: randomData(100) }, { offset: s - 1, data: Buffer.from([1]) }])],
  ];
  for (const [name, size, make] of cases) {
    it(`round-trips a ${name} image`, async () => {
      const image = join(dir, `${name}.img`);
      make(image, size);
      await backupAndRestore(repo, image, dir, name);
    });
  }

  it('writes a restored new file sparse', async () => {
    const image = join(dir, 'sparse-check.img');
    writeImage(image, 400 * BS, [{ offset: 0, data: randomData(BS) }]);
    await backupAndRestore(repo, image, dir, 'sparse-check');
    const restored = statSync(join(dir, 'sparse-check.restored'));
    assert.ok(restored.blocks * 512 < 20 * BS, `restored file allocates ${restored.blocks * 512} bytes`);
  });

  it('refuses an existing target without --force and leaves it untouched', async () => {
    const image = join(dir, 'odd-size.img');
    const target = join(dir, 'existing.bin');
    writeFileSync(target, 'keep me');
    const backup = await cli(['--repo', repo, 'ls', '-n', 'odd-size', '--json']);
    const uid = JSON.parse(backup.stdout)[0].uid as string;
    const result = await cli(['--repo', repo, 'restore', uid, target]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /TARGET_EXISTS/);
    assert.equal((await import('node:fs')).readFileSync(target, 'utf8'), 'keep me');
    assert.ok(existsSync(image));
  });
});
