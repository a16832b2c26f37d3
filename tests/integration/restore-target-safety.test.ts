// Issue 9 #2: a killed or failed restore never leaves a target that looks complete. A new
// file is written under a temporary name and renamed only after the last block is verified
// and flushed; after a failure, SIGTERM or kill -9 no file of the target's name appears. An
// overwritten file gets a clear INCOMPLETE marker on stderr when the restore fails or is
// interrupted.
import assert from 'node:assert/strict';
import { closeSync, existsSync, mkdirSync, openSync, readdirSync, readFileSync, readSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { BS, backupCli, blockDigests, cli, exited, initRepo, objectPath, patchFile, spawnCli, tempDir, waitFor, writeBlocks } from '../helpers';

const BLOCKS = 2048; // 128 MiB of 64 KiB blocks: a restore that runs long enough to be stopped

describe('restore target safety', () => {
  const dir = tempDir();
  let repo: string;
  let uid: string;
  let damaged: string;
  const targets = join(dir, 'targets');

  /** Names in the targets folder that belong to `name` (itself or a temporary file of it). */
  const traces = (name: string): string[] => readdirSync(targets).filter((entry) => entry.includes(name));

  before(async () => {
    repo = await initRepo(dir);
    const image = join(dir, 'big.img');
    writeBlocks(image, Array.from({ length: BLOCKS }, (_, i) => i + 1));
    uid = await backupCli(repo, image, 'big');
    // a second version whose block 30 is damaged in the store
    const small = join(dir, 'small.img');
    writeBlocks(small, Array.from({ length: 40 }, (_, i) => 50_000 + i));
    damaged = await backupCli(repo, small, 'small');
    patchFile(objectPath(repo, blockDigests(repo, damaged)[30]!), 16 + 10, Buffer.from([1, 2, 3]));
    mkdirSync(targets);
  });

  it('kill -9 mid-restore leaves no file of the target\'s name', async () => {
    const target = join(targets, 'killed.img');
    const child = spawnCli(['--repo', repo, 'restore', uid, target]);
    const done = exited(child);
    await waitFor('the restore to start writing', () => traces('killed.img').length > 0, 30_000, 2);
    child.kill('SIGKILL');
    const result = await done;
    assert.equal(result.signal, 'SIGKILL', 'the restore was killed before it finished');
    assert.equal(existsSync(target), false, 'no file of the target\'s name');
  });

  it('SIGTERM mid-restore exits 130 and leaves nothing of the target', async () => {
    const target = join(targets, 'termed.img');
    const child = spawnCli(['--repo', repo, 'restore', uid, target]);
    const done = exited(child);
    await waitFor('the restore to start writing', () => traces('termed.img').length > 0, 30_000, 2);
    child.kill('SIGTERM');
    const result = await done;
    assert.equal(result.code, 130, result.stderr);
    assert.deepEqual(traces('termed.img'), [], 'neither the target nor a temporary file remains');
  });

  it('a failed restore to a new file leaves nothing of the target', async () => {
    const target = join(targets, 'failed.img');
    const result = await cli(['--repo', repo, 'restore', damaged, target]);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[OBJECT_CORRUPT\]/);
    assert.deepEqual(traces('failed.img'), []);
  });

  it('a failed restore over an existing file says the target is INCOMPLETE', async () => {
    const target = join(targets, 'existing.img');
    writeFileSync(target, Buffer.alloc(40 * BS, 0xaa));
    const result = await cli(['--repo', repo, 'restore', damaged, target, '--force']);
    assert.equal(result.code, 1);
    assert.match(result.stderr, /\[OBJECT_CORRUPT\].*INCOMPLETE/);
    assert.ok(readFileSync(target).length === 40 * BS, 'the file is still there (it cannot be put back)');
    const jobs = JSON.parse((await cli(['--repo', repo, 'jobs', '--json'])).stdout) as Array<{ kind: string; state: string; title: string; error?: { code: string; message: string } }>;
    const job = jobs.find((j) => j.kind === 'restore' && j.title.includes('existing.img'));
    assert.equal(job?.state, 'failed');
    assert.match(job!.error!.message, /INCOMPLETE/, 'the job history marks the target incomplete');
  });

  it('an interrupted restore over an existing file says the target is INCOMPLETE', async () => {
    const target = join(targets, 'existing-big.img');
    writeFileSync(target, Buffer.alloc(BLOCKS * BS, 0xaa));
    const child = spawnCli(['--repo', repo, 'restore', uid, target, '--force']);
    const done = exited(child);
    // the target's first block changes once the restore writes
    await waitFor('the restore to start writing', () => {
      const head = Buffer.alloc(16);
      const fd = openSync(target, 'r');
      try { readSync(fd, head, 0, 16, 0); } finally { closeSync(fd); }
      return head[0] !== 0xaa;
    }, 30_000, 2);
    child.kill('SIGTERM');
    const result = await done;
    assert.equal(result.code, 130, result.stderr);
    assert.match(result.stderr, /\[CANCELED\].*INCOMPLETE/);
  });
});
