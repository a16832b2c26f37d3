// Source-change sampling: at the end of a backup a few blocks read before (8, spread over the
// disk) are read again and compared with what was stored. The changing source is a real NBD
// server (nbdkit's eval plugin over two files) whose first block reads differently the second
// time, as a live disk written during the backup would: without --strict the version is kept
// with a warning in the job log and on stderr (exit 3); with --strict the backup fails with
// SOURCE_CHANGED and leaves no version. An unchanged file passes the check; a stream is not
// re-read and the log says so.
import assert from 'node:assert/strict';
import { existsSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { BS, backupCli, cli, initRepo, lsJson, ok, restoreEquals, seededBytes, tempDir, writeImage } from '../helpers';
import { nbdkit } from '../nbd-helpers';

interface JobJson { kind: string; state: string; params: Record<string, unknown>; logs: Array<{ level: string; message: string }> }

async function jobOf(repo: string, uid: string): Promise<JobJson> {
  const jobs = JSON.parse(await ok(['--repo', repo, 'jobs', '--json'])) as JobJson[];
  const job = jobs.find((j) => j.kind === 'backup' && j.params.uid === uid);
  assert.ok(job, `a backup job made ${uid}`);
  return job;
}

const size = 16 * BS;

test('a source that changes while it is read: a warning (exit 3, job log, stderr) and the version kept; --strict: SOURCE_CHANGED and no version', { timeout: 180000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const disk = join(dir, 'disk.raw');
  const changed = join(dir, 'changed.raw');
  const marker = join(dir, 'block0-read');
  writeImage(disk, size, [{ offset: 0, data: seededBytes(41, size) }]);
  writeImage(changed, size, [{ offset: 0, data: seededBytes(42, size) }]);
  // Block 0 reads from disk.raw the first time and from changed.raw after that.
  const pread = `if [ "$4" -lt ${BS} ] && [ -e ${marker} ]; then f=${changed}; else f=${disk}; fi; [ "$4" -lt ${BS} ] && touch ${marker}; dd if=$f skip=$4 count=$3 iflag=skip_bytes,count_bytes status=none`;
  const server = await nbdkit(['eval', `get_size=echo ${size}`, `pread=${pread}`]);

  const result = await cli(['--repo', repo, 'backup', server.url, 'live']);
  assert.equal(result.code, 3, result.stderr);
  assert.ok(existsSync(marker), 'block 0 was read');
  assert.match(result.stderr, /warning: the source nbd\+unix:\/\/\/\?socket=\S+ changed while it was read: 1 of 8 blocks read again at the end differ \(block 0 \(offset 0\)\)/);
  const uid = result.stdout.trim().split('\n').pop()!;
  const [version] = await lsJson(repo, ['-n', 'live']);
  assert.equal(version.uid, uid);
  assert.equal(version.valid, true);
  // the version holds block 0 as it was first read
  await restoreEquals(repo, uid, join(dir, 'live.raw'), disk);
  const job = await jobOf(repo, uid);
  assert.equal(job.state, 'succeeded');
  assert.ok(job.logs.some((line) => line.level === 'warn' && /changed while it was read: 1 of 8 blocks/.test(line.message)), JSON.stringify(job.logs));

  rmSync(marker);
  const strict = await cli(['--repo', repo, 'backup', server.url, 'strict', '--strict']);
  assert.equal(strict.code, 1, strict.stderr);
  assert.match(strict.stderr, /error \[SOURCE_CHANGED\]: nbd\+unix:\/\/\/\?socket=\S+ changed while it was read: of 8 blocks read again at the end, 1 differ \(block 0 \(offset 0\)\); no version was created/);
  assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [uid], 'no version, not even an invalid one');
  await server.stop();
});

test('an unchanged source passes the check (exit 0, the log says how many blocks were read again); a stream is not read again and the log says so', { timeout: 180000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const disk = join(dir, 'disk.raw');
  writeImage(disk, size, [{ offset: 0, data: seededBytes(41, size) }]);
  const uid = await backupCli(repo, disk, 'file', ['--strict']);
  const job = await jobOf(repo, uid);
  assert.ok(job.logs.some((line) => line.level === 'info' && /source unchanged: 8 blocks read again at the end match what was stored/.test(line.message)), JSON.stringify(job.logs));
  // a source of 3 blocks: all of them are read again
  const small = join(dir, 'small.raw');
  writeImage(small, 3 * BS, [{ offset: 0, data: seededBytes(43, 3 * BS) }]);
  const smallJob = await jobOf(repo, await backupCli(repo, small, 'small'));
  assert.ok(smallJob.logs.some((line) => /source unchanged: 3 blocks read again/.test(line.message)), JSON.stringify(smallJob.logs));

  const stream = await cli(['--repo', repo, 'backup', '-', 'stream', '--strict'], { input: 'x'.repeat(2 * BS + 5) });
  assert.equal(stream.code, 0, stream.stderr);
  const streamJob = await jobOf(repo, stream.stdout.trim().split('\n').pop()!);
  assert.ok(streamJob.logs.some((line) => /source not read again at the end: stdin is a stream: its blocks cannot be read again/.test(line.message)), JSON.stringify(streamJob.logs));
});
