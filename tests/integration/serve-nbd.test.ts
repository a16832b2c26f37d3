// serve-nbd: a version served over NBD reads back identical through qemu-img compare (no -s,
// raw file against the NBD URL), nbdinfo --map shows its sparse blocks as holes, writes are
// refused read-only, a corrupt object fails the read of its block (and only that block),
// and --cow keeps writes in an overlay without changing the version.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { EngineError } from '../../src-main/engine/errors';
import { parseNbdUrl } from '../../src-main/engine/nbd/address';
import { NbdClient } from '../../src-main/engine/nbd/client';
import { BS, backupCli, initRepo, objectPath, query, restoreEquals, seededBytes, spawnCli, tempDir, writeImage } from '../helpers';
import { run } from '../nbd-helpers';

async function startServing(args: string[]): Promise<{ child: ChildProcess; url: string; stderr: () => string }> {
  const child = spawnCli(args);
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d) => { stderr += d; });
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d) => {
      stdout += d;
      if (stdout.includes('\n')) resolve(stdout.split('\n')[0]!.trim());
    });
    child.once('exit', (code) => reject(new Error(`serve-nbd exited ${code}: ${stderr}`)));
  });
  return { child, url, stderr: () => stderr };
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

test('serve-nbd: qemu-img compare says identical, nbdinfo --map shows the holes, writes refused, corruption reported', { timeout: 120000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  writeImage(image, 40 * BS + 1000, [{ offset: 2 * BS, data: seededBytes(1, 5 * BS) }, { offset: 20 * BS + 77, data: seededBytes(2, 3 * BS) }, { offset: 40 * BS, data: seededBytes(3, 1000) }]);
  const uid = await backupCli(repo, image, 'disk');
  const socket = join(dir, 'serve.sock');
  const serving = await startServing(['--repo', repo, 'serve-nbd', uid, '--socket', socket]);
  assert.equal(serving.url, `nbd+unix:///${uid}?socket=${socket}`);
  assert.match(run('qemu-img', ['compare', '-f', 'raw', image, serving.url]), /Images are identical/);
  const map = run('nbdinfo', ['--map', serving.url]);
  const rows = map.trim().split('\n').map((line) => line.trim().split(/\s+/).slice(0, 3).map(Number));
  assert.deepEqual(rows, [[0, 2 * BS, 3], [2 * BS, 5 * BS, 0], [7 * BS, 13 * BS, 3], [20 * BS, 4 * BS, 0], [24 * BS, 16 * BS, 3], [40 * BS, 1000, 0]], map);

  const client = await NbdClient.connect(parseNbdUrl(serving.url), { metaContexts: ['base:allocation'] });
  assert.equal(client.readOnly, true);
  await assert.rejects(client.write(0, Buffer.alloc(512)), (error: EngineError) => error.code === 'IO_ERROR' && /read-only/.test(error.message));
  await client.close();
  assert.equal(await stop(serving.child), 0);
  assert.match(serving.stderr(), /10 blocks read and verified/);

  // a corrupt object: the read of its block fails with EIO and a message; other blocks still read
  const digest = query<{ digest: Buffer }>(repo, 'SELECT o.digest FROM blocks b JOIN objects o ON o.id = b.object_id WHERE b.idx = 3')[0]!.digest.toString('hex');
  const path = objectPath(repo, digest);
  const object = readFileSync(path);
  object[object.length - 10] ^= 0xff;
  writeFileSync(path, object);
  const again = await startServing(['--repo', repo, 'serve-nbd', uid, '--socket', socket]);
  const reader = await NbdClient.connect(parseNbdUrl(again.url));
  await assert.rejects(reader.read(3 * BS, 4096), (error: EngineError) => error.code === 'IO_ERROR' && /EIO.*block 3/.test(error.message));
  assert.ok((await reader.read(20 * BS, BS)).equals(readFileSync(image).subarray(20 * BS, 21 * BS)));
  await reader.close();
  assert.equal(await stop(again.child), 0);
  assert.match(again.stderr(), /last error served to a client: .*block 3/);
});

test('serve-nbd --cow: writes land in the overlay; the version is unchanged', { timeout: 120000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  writeImage(image, 16 * BS, [{ offset: 0, data: seededBytes(4, 16 * BS) }]);
  const uid = await backupCli(repo, image, 'disk');
  const serving = await startServing(['--repo', repo, 'serve-nbd', uid, '--port', '0', '--cow']);
  assert.match(serving.url, /^nbd:\/\/127\.0\.0\.1:\d+\//);
  const client = await NbdClient.connect(parseNbdUrl(serving.url));
  assert.equal(client.readOnly, false);
  const patch = seededBytes(5, 3000);
  await client.write(BS - 1000, patch);
  await client.writeZeros(10 * BS, BS);
  const expected = readFileSync(image);
  patch.copy(expected, BS - 1000);
  expected.fill(0, 10 * BS, 11 * BS);
  assert.ok((await client.read(0, 16 * BS)).equals(expected));
  await client.close();
  assert.equal(await stop(serving.child), 0);
  await restoreEquals(repo, uid, join(dir, 'restored.raw'), image);
});
