// The VM disk workflow from the command line: backup qcow2:PATH with --bitmap --rotate-bitmap,
// an incremental with --from --bitmap that reads only the dirty blocks (--json stats), restore
// into a new qcow2 compared with qemu-img, and the refusals a user meets (a bitmap without a
// base, --from-snap on a qcow2, an existing qcow2 target without --force).
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { backupCli, cli, initRepo, ok, tempDir } from '../helpers';
import { run } from '../nbd-helpers';

const BS = 64 * 1024;

test('CLI: qcow2 full + bitmap incremental + restore into qcow2', { timeout: 300000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'vm.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '16M']);
  run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x21 1M 1M', image]);
  const full = await backupCli(repo, `qcow2:${image}`, 'vm', ['--bitmap', 'daily', '--rotate-bitmap']);
  run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x22 8M 100k', image]);
  const result = await cli(['--repo', repo, 'backup', image, 'vm', '--from', full, '--bitmap', 'daily', '--rotate-bitmap', '--json']);
  assert.equal(result.code, 0, result.stderr);
  const json = JSON.parse(result.stdout.slice(0, result.stdout.lastIndexOf('}') + 1)) as { uid: string; stats: { bytesRead: number; blocksFromBase: number } };
  assert.ok(json.stats.bytesRead <= 2 * BS + 10 * BS, `read ${json.stats.bytesRead}`);
  assert.equal(json.stats.blocksFromBase, 256 - 2);
  const target = join(dir, 'restored.qcow2');
  await ok(['--repo', repo, 'restore', json.uid, `qcow2:${target}`]);
  assert.match(run('qemu-img', ['compare', image, target]), /Images are identical/);

  const again = await cli(['--repo', repo, 'restore', json.uid, `qcow2:${target}`]);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /TARGET_EXISTS/);
  const noBase = await cli(['--repo', repo, 'backup', image, 'vm', '--bitmap', 'daily']);
  assert.notEqual(noBase.code, 0);
  assert.match(noBase.stderr, /needs a base version/);
  const snap = await cli(['--repo', repo, 'backup', image, 'vm', '--from', full, '--from-snap', 's1']);
  assert.notEqual(snap.code, 0);
  assert.match(snap.stderr, /--from-snap is for RBD images/);
});

test('CLI: --pre and --post run around a backup (post also after a failure), their output in the job log', { timeout: 120000 }, async () => {
  const dir = tempDir();
  const repo = await initRepo(dir);
  const image = join(dir, 'disk.raw');
  const trace = join(dir, 'trace');
  writeFileSync(image, Buffer.alloc(4 * BS, 7));
  const uid = await backupCli(repo, image, 'disk', ['--pre', `echo pre-ran >> ${trace}; echo hello-from-pre`, '--post', `echo post-ran >> ${trace}`]);
  assert.deepEqual(readFileSync(trace, 'utf8').trim().split('\n'), ['pre-ran', 'post-ran']);
  const jobs = JSON.parse(await ok(['--repo', repo, 'jobs', '--json'])) as Array<{ log?: Array<{ message: string }> }>;
  assert.ok(JSON.stringify(jobs).includes('hello-from-pre'), 'the pre hook output is in the job log');
  assert.match(uid, /^[0-9a-f-]{36}$/);

  // a backup that fails (no such source, after the pre hook) still runs post; a failing pre means no backup, and post runs
  const failed = await cli(['--repo', repo, 'backup', join(dir, 'missing.raw'), 'disk', '--pre', 'true', '--post', `echo post-after-failure >> ${trace}`]);
  assert.notEqual(failed.code, 0);
  const preFails = await cli(['--repo', repo, 'backup', image, 'disk', '--pre', 'exit 3', '--post', `echo post-after-pre >> ${trace}`]);
  assert.notEqual(preFails.code, 0);
  assert.match(preFails.stderr, /pre hook "exit 3" failed \(status 3\)/);
  assert.deepEqual(readFileSync(trace, 'utf8').trim().split('\n'), ['pre-ran', 'post-ran', 'post-after-failure', 'post-after-pre']);
  // the pre hook may create the source (an LVM snapshot); the post hook removes it
  const snap = join(dir, 'snap.raw');
  await backupCli(repo, snap, 'disk', ['--pre', `cp ${image} ${snap}`, '--post', `rm ${snap}`]);
  assert.equal(existsSync(snap), false);
  const versions = JSON.parse(await ok(['--repo', repo, 'ls', '--json'])) as unknown[];
  assert.equal(versions.length, 2);
});

test('CLI: a backup over NBD with 4 MiB blocks prints nothing but its result (no listener warning from its many requests in flight)', { timeout: 120000 }, async () => {
  const dir = tempDir();
  await ok(['init', join(dir, 'repo')]); // 4 MiB blocks: 16 requests of 256 KiB each, several blocks ahead
  const image = join(dir, 'full.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', image, '32M']);
  run('qemu-io', ['-f', 'qcow2', '-c', 'write -P 0x5a 0 32M', image]);
  const result = await cli(['--repo', join(dir, 'repo'), 'backup', `qcow2:${image}`, 'big-blocks']);
  assert.equal(result.code, 0, result.stderr);
  assert.doesNotMatch(result.stderr, /MaxListenersExceeded|memory leak|Warning/);
  assert.match(result.stdout.trim().split('\n').pop()!, /^[0-9a-f-]{36}$/);
});
