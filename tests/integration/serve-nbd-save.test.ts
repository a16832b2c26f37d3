// serve-nbd --cow --save-as (backy2's repair workflow) with real qemu-io and qemu-img over
// nbd+unix: writes at known offsets (partial blocks, across block boundaries, zeros over data,
// data into a sparse block) read back as written, the overlay is a file while serving and gone
// after, stopping saves the changed disk as a new version on top of the served one that reads
// only the changed blocks, and a save that fails leaves no new version and the served one as
// it was.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { dirname, join } from 'node:path';
import { test } from 'node:test';
import { BS, backupCli, cli, initRepo, lsJson, ok, openDb, query, restoreEquals, seededBytes, spawnCli, tempDir, writeImage } from '../helpers';
import { run } from '../nbd-helpers';

interface Serving {
  child: ChildProcess;
  url: string;
  overlay: string;
  stdout: () => string;
  stderr: () => string;
}

async function startServing(args: string[], env: Record<string, string>): Promise<Serving> {
  const child = spawnCli(args, env);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  await new Promise<void>((resolve, reject) => {
    const check = (): void => { if (stdout.includes('\n') && /press Ctrl-C/.test(stderr)) resolve(); };
    child.stdout!.on('data', check);
    child.stderr!.on('data', check);
    child.once('exit', (code) => reject(new Error(`serve-nbd exited ${code}: ${stderr}`)));
  });
  const overlay = /writes go to the overlay (\S+)\)/.exec(stderr)?.[1];
  assert.ok(overlay, `serve-nbd names its overlay file: ${stderr}`);
  return { child, url: stdout.split('\n')[0]!.trim(), overlay, stdout: () => stdout, stderr: () => stderr };
}

function stop(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    child.once('exit', (code) => resolve(code));
    child.kill('SIGTERM');
  });
}

/** qemu-io commands against an NBD URL (raw format), e.g. `write -P 0xab 1000 2000`. */
function qemuIo(url: string, ...commands: string[]): string {
  return run('qemu-io', ['-f', 'raw', ...commands.flatMap((c) => ['-c', c]), url]);
}

/** The bytes of one qemu-io pattern write. */
function pattern(byte: number, length: number): Buffer {
  return Buffer.alloc(length, byte);
}

test('serve-nbd --cow --save-as: qemu-io writes land in an overlay file; stopping saves them as a new version on top of the served one', { timeout: 180000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  const size = 24 * BS + 1000;
  // data in blocks 0-9 and 16-23 and the tail; blocks 10-15 sparse
  writeImage(image, size, [{ offset: 0, data: seededBytes(11, 10 * BS) }, { offset: 16 * BS, data: seededBytes(12, 8 * BS + 1000) }]);
  const original = readFileSync(image);
  const uid = await backupCli(repo, image, 'vm');
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const socket = join(dir, 'serve.sock');
  const serving = await startServing(['--repo', repo, 'serve-nbd', uid, '--socket', socket, '--cow', '--save-as', 'vm-repaired'], { TMPDIR: tmp });
  assert.equal(serving.url, `nbd+unix:///${uid}?socket=${socket}`);
  assert.ok(serving.overlay.startsWith(`${tmp}/`), `the overlay ${serving.overlay} is under TMPDIR`);
  assert.ok(existsSync(serving.overlay), 'the overlay file exists while serving');

  const expected = Buffer.from(original);
  const writes: Array<[number, number, number | null]> = [
    [BS - 1000, 3000, 0xab], // across the boundary of blocks 0 and 1, partial on both sides
    [3 * BS + 100, 2 * BS, 0x5c], // partial block 3, all of block 4, partial block 5
    [7 * BS, BS, null], // zeros over a whole data block
    [8 * BS + 512, 1024, null], // zeros inside a data block
    [12 * BS + 4096, 8192, 0x77], // data into a sparse block
    [24 * BS, 1000, 0x31], // the short last block, whole
  ];
  for (const [offset, length, byte] of writes) {
    qemuIo(serving.url, byte === null ? `write -z ${offset} ${length}` : `write -P 0x${byte.toString(16)} ${offset} ${length}`);
    if (byte === null) expected.fill(0, offset, offset + length);
    else pattern(byte, length).copy(expected, offset);
  }
  // a later write over part of an earlier one (the block is in the overlay already)
  qemuIo(serving.url, `write -P 0x42 ${BS - 10} 20`);
  pattern(0x42, 20).copy(expected, BS - 10);

  // reads after the writes: partial ranges across boundaries, and the whole disk
  const read = qemuIo(serving.url, `read -P 0xab ${BS - 1000} 990`, `read -P 0x42 ${BS - 10} 20`, `read -P 0xab ${BS + 10} 1990`, `read -P 0x5c ${3 * BS + 100} ${2 * BS}`, `read -P 0 ${7 * BS} ${BS}`, `read -P 0x77 ${12 * BS + 4096} 8192`);
  assert.doesNotMatch(read, /Pattern verification failed/, read);
  const expectedFile = join(dir, 'expected.raw');
  writeFileSync(expectedFile, expected);
  assert.match(run('qemu-img', ['compare', '-f', 'raw', expectedFile, serving.url]), /Images are identical/);
  // the map shows the changed sparse block as data and the zeroed block as a hole
  const map = run('nbdinfo', ['--map', serving.url]);
  const rows = map.trim().split('\n').map((line) => line.trim().split(/\s+/).slice(0, 3).map(Number));
  assert.ok(rows.some(([offset, length, type]) => offset <= 7 * BS && offset + length >= 8 * BS && type === 3), `block 7 reads as a hole: ${map}`);
  assert.ok(rows.some(([offset, length, type]) => offset <= 12 * BS && offset + length >= 13 * BS && type === 0), `block 12 holds data: ${map}`);

  assert.equal(await stop(serving.child), 0, serving.stderr());
  assert.ok(!existsSync(serving.overlay) && !existsSync(dirname(serving.overlay)), 'the overlay file and its folder are gone after serving');
  const saved = serving.stdout().trim().split('\n').pop()!;
  assert.match(saved, /^[0-9a-f-]{36}$/);
  assert.notEqual(saved, uid);
  assert.match(serving.stderr(), new RegExp(`saved as version ${saved} \\(name vm-repaired, base ${uid}`));

  // the new version: its bytes are the served disk's, its base the served version, and only
  // the 9 changed blocks (0, 1, 3, 4, 5, 7, 8, 12, 24) were read; block 7 is sparse
  const version = (await lsJson(repo)).find((v) => v.uid === saved)!;
  assert.equal(version.name, 'vm-repaired');
  assert.equal(version.baseUid, uid);
  assert.equal(version.valid, true);
  await restoreEquals(repo, saved, join(dir, 'saved.raw'), expectedFile);
  await restoreEquals(repo, uid, join(dir, 'base.raw'), image);
  const [stats] = query<{ blocks_read: number; blocks_from_base: number }>(repo, 'SELECT blocks_read, blocks_from_base FROM stats WHERE version_uid = ?', saved);
  assert.deepEqual(stats, { blocks_read: 9, blocks_from_base: 16 });
  const sparse = query<{ idx: number }>(repo, 'SELECT b.idx FROM blocks b JOIN versions v ON v.id = b.version_id WHERE v.uid = ? AND b.object_id IS NULL ORDER BY b.idx', saved).map((r) => r.idx);
  assert.deepEqual(sparse, [7, 10, 11, 13, 14, 15]);
  // recorded as a job, like every backup
  const jobs = JSON.parse(await ok(['--repo', repo, 'jobs', '--json'])) as Array<{ kind: string; state: string; title: string; params: Record<string, unknown> }>;
  const job = jobs.find((j) => j.params.saveAs === 'vm-repaired');
  assert.ok(job, JSON.stringify(jobs));
  assert.equal(job.kind, 'backup');
  assert.equal(job.state, 'succeeded');
  assert.equal(job.params.from, uid);
});

test('serve-nbd --save-as: a save that fails leaves no new version, the served version as it was, a clear error and no overlay', { timeout: 120000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  writeImage(image, 8 * BS, [{ offset: 0, data: seededBytes(21, 8 * BS) }]);
  const uid = await backupCli(repo, image, 'vm');
  const before = query(repo, 'SELECT b.idx, b.object_id FROM blocks b JOIN versions v ON v.id = b.version_id WHERE v.uid = ? ORDER BY b.idx', uid);
  const tmp = join(dir, 'tmp');
  mkdirSync(tmp);
  const serving = await startServing(['--repo', repo, 'serve-nbd', uid, '--socket', join(dir, 's.sock'), '--cow', '--save-as', 'vm-repaired'], { TMPDIR: tmp });
  qemuIo(serving.url, `write -P 0x99 ${2 * BS} ${BS}`);
  // a full cleanup holds the repository when the serving stops: the save's backup cannot start
  const db = openDb(repo, false);
  db.prepare('INSERT INTO locks(name, mode, pid, host, since, reason) VALUES (?, ?, ?, ?, ?, ?)').run('cleanup', 'exclusive', process.pid, hostname(), Date.now(), 'full cleanup (test)');
  db.close();
  const code = await stop(serving.child);
  assert.equal(code, 1, serving.stderr());
  assert.match(serving.stderr(), new RegExp(`error \\[LOCKED\\]: the changes to version ${uid} were not saved as vm-repaired \\(job [0-9a-f-]+\\): repository is busy: full cleanup \\(test\\).*; version ${uid} is unchanged`));
  assert.ok(!existsSync(serving.overlay), 'the overlay is removed');
  assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [uid], 'no new version');
  assert.deepEqual(query(repo, 'SELECT b.idx, b.object_id FROM blocks b JOIN versions v ON v.id = b.version_id WHERE v.uid = ? ORDER BY b.idx', uid), before);
  const unlock = openDb(repo, false);
  unlock.prepare('DELETE FROM locks WHERE name = ?').run('cleanup');
  unlock.close();
  await restoreEquals(repo, uid, join(dir, 'base.raw'), image);
});

test('serve-nbd --save-as needs --cow and a valid name, refused before serving', { timeout: 60000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  writeImage(image, 2 * BS, [{ offset: 0, data: seededBytes(31, BS) }]);
  const uid = await backupCli(repo, image, 'vm');
  const noCow = await cli(['--repo', repo, 'serve-nbd', uid, '--port', '0', '--save-as', 'x']);
  assert.equal(noCow.code, 2);
  assert.match(noCow.stderr, /--save-as needs --cow/);
  const badName = await cli(['--repo', repo, 'serve-nbd', uid, '--port', '0', '--cow', '--save-as', 'a|b']);
  assert.equal(badName.code, 1);
  assert.match(badName.stderr, /error \[INVALID_ARGUMENT\]: .*saveAs/);
});
