// Two machines sharing one bucket (two state folders = two caches, on the real RGW): a cleanup
// on one never deletes what the other's running or later backup uses.
//   - a cleanup refuses (LOCKED, nothing deleted) while the other machine writes a version;
//   - a backup waits while the other machine's cleanup runs, then completes;
//   - a backup after the other machine removed a version and cleaned up its objects stores
//     those objects again instead of deduplicating onto names the bucket no longer holds;
//   - locks of dead jobs stop counting (this host: at once; another host: once stale by the
//     store's clock, which tests/unit/engine/store/store-locks-clock.test.ts checks).
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from '@aws-sdk/client-s3';
import { adminClient, createBucket, RGW_ENDPOINT, removeBucket } from '../ceph/rgw';
import { CLI, cli, exited, lastLine, ok, sha256File, sleep, tempDir, writeBlocks } from '../helpers';

describe('two machines on one bucket', () => {
  const dir = tempDir();
  let bucket = '';
  const repo = (): string => `s3://${bucket}/shared`;
  const machine = (name: string): Record<string, string> => ({
    XDG_STATE_HOME: join(dir, name), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', AWS_PROFILE: '',
    BLOCKVAULT_S3_ENDPOINT: RGW_ENDPOINT, BLOCKVAULT_S3_PATH_STYLE: '1',
  });
  const A = machine('machine-a');
  const B = machine('machine-b');
  const image = join(dir, 'image.raw');
  const s3 = adminClient();

  const keys = async (prefix: string): Promise<string[]> => {
    const out: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: `shared/${prefix}`, ContinuationToken }));
      out.push(...(page.Contents ?? []).map((item) => item.Key!));
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return out.sort();
  };
  const restoresExact = async (env: Record<string, string>, uid: string, expected: string): Promise<void> => {
    const target = join(dir, `restored-${Math.random().toString(36).slice(2)}`);
    await ok(['--repo', repo(), 'restore', uid, target], env);
    assert.equal(await sha256File(target), await sha256File(expected));
  };

  before(async () => {
    bucket = await createBucket();
    writeBlocks(image, [1, 2, 0, 3, 4, 1, 5]);
    await ok(['init', repo(), '--block-size', '64K'], A);
  });
  after(async () => {
    s3.destroy();
    await removeBucket(bucket);
  });

  it("refuses a cleanup while another machine's backup runs, deleting nothing; the backup completes and restores bit-exact", async () => {
    const first = lastLine(await ok(['--repo', repo(), 'backup', image, 'vm'], A));
    await ok(['--repo', repo(), 'rm', '--force', first], A); // its objects are unreferenced now
    // Machine B backs up from a stream that stays open: it holds its lock until the stream ends.
    const streamed = join(dir, 'streamed.raw');
    writeBlocks(streamed, [7, 8, 9, 1, 2]);
    const data = readFileSync(streamed);
    const child = spawn(process.execPath, [CLI, '--repo', repo(), 'backup', '-', 'streamed'], { env: { ...process.env, ...B }, stdio: ['pipe', 'pipe', 'pipe'] });
    const done = exited(child);
    after(() => { if (child.exitCode === null) child.kill('SIGKILL'); });
    child.stdin!.write(data.subarray(0, 2 * 64 * 1024));
    for (let tries = 0; !(await keys('locks/')).some((key) => key.includes('/writer-')); tries++) {
      assert.ok(tries < 200 && child.exitCode === null, 'machine B holds its writer lock');
      await sleep(100);
    }
    const before = await keys('objects/');

    for (const args of [['cleanup', '--grace-seconds', '0'], ['cleanup', '--full']]) {
      const refused = await cli(['--repo', repo(), ...args], { env: A });
      assert.equal(refused.code, 1, refused.stdout);
      assert.match(refused.stderr, /\[LOCKED\].*another machine is writing into s3:\/\/.*backup of - as streamed.*nothing was deleted/);
    }
    const afterRefused = new Set(await keys('objects/'));
    assert.deepEqual(before.filter((key) => !afterRefused.has(key)), [], 'the refused cleanups deleted nothing (machine B may have added objects)');

    child.stdin!.end(data.subarray(2 * 64 * 1024));
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    const uid = lastLine(result.stdout);
    // Now the cleanups run: machine A's cache learns B's version first and keeps its objects.
    await ok(['--repo', repo(), 'cleanup', '--grace-seconds', '0'], A);
    await ok(['--repo', repo(), 'cleanup', '--full'], A);
    assert.deepEqual(await keys('locks/'), [], 'no lock is left behind');
    await restoresExact(A, uid, streamed);
    await restoresExact(B, uid, streamed);
  });

  it("waits while another machine's cleanup runs, then completes", async () => {
    const lockKey = 'shared/locks/cleanup-0123456789abcdef0123456789abcdef-000000000000';
    const body = { kind: 'cleanup', instance: '0123456789abcdef0123456789abcdef', host: 'another-host', pid: 4242, reason: 'full cleanup', started: Date.now(), refreshed: Date.now() };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: lockKey, Body: JSON.stringify(body) }));
    const child = spawn(process.execPath, [CLI, '--repo', repo(), 'backup', image, 'waits'], { env: { ...process.env, ...A }, stdio: ['ignore', 'pipe', 'pipe'] });
    const done = exited(child);
    await sleep(3000);
    assert.equal(child.exitCode, null, 'the backup waits for the cleanup');
    const manifestsWhileWaiting = (await keys('manifests/')).length;
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: lockKey }));
    const result = await done;
    assert.equal(result.code, 0, result.stderr);
    assert.equal((await keys('manifests/')).length, manifestsWhileWaiting + 1);
    await restoresExact(B, lastLine(result.stdout), image);
  });

  it("stores again the objects of a version another machine removed and cleaned up, instead of deduplicating onto them", async () => {
    const other = join(dir, 'other.raw');
    writeBlocks(other, [11, 12, 13, 0, 14]);
    const first = lastLine(await ok(['--repo', repo(), 'backup', other, 'other'], A));
    // Machine B learns of it, removes it and deletes its objects; machine A's cache still has them.
    await ok(['--repo', repo(), 'rm', '--force', first], B);
    await ok(['--repo', repo(), 'cleanup', '--grace-seconds', '0'], B);
    const again = lastLine(await ok(['--repo', repo(), 'backup', other, 'other'], A));
    await restoresExact(B, again, other);
    const scrub = await cli(['--repo', repo(), 'scrub', '--deep', again], { env: A });
    assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
  });

  it("ignores the lock of a dead job on this host at once, and ages another host's lock on the store's clock, not on that host's", async () => {
    const dead = { kind: 'writer', instance: 'fedcba9876543210fedcba9876543210', host: hostname(), pid: 2 ** 22 + 7, reason: 'backup of /dev/gone as gone', started: Date.now(), refreshed: Date.now() };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'shared/locks/writer-fedcba9876543210fedcba9876543210-00000000dead', Body: JSON.stringify(dead) }));
    await ok(['--repo', repo(), 'cleanup', '--grace-seconds', '0'], A);
    assert.deepEqual(await keys('locks/'), [], 'the cleanup removed the dead job\'s lock');
    // Another host whose clock runs 21 minutes behind (more than the stale time) has just put
    // its lock: RGW's LastModified says it is fresh, so it counts.
    const behind = { ...dead, host: 'another-host', pid: 4242, started: Date.now() - 21 * 60_000, refreshed: Date.now() - 21 * 60_000 };
    await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'shared/locks/writer-fedcba9876543210fedcba9876543210-000000000live', Body: JSON.stringify(behind) }));
    const refused = await cli(['--repo', repo(), 'cleanup'], { env: A });
    assert.match(refused.stderr, /\[LOCKED\].*pid 4242 on another-host/);
    assert.deepEqual(await keys('locks/'), ['shared/locks/writer-fedcba9876543210fedcba9876543210-000000000live'], "the other host's lock stays; the refused cleanup's own is gone");
    await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: 'shared/locks/writer-fedcba9876543210fedcba9876543210-000000000live' }));
  });
});
