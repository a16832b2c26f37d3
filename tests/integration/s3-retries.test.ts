// Retry counts in every job: a backup, a restore, a deep scrub and a cleanup of an S3
// repository through the fault proxy (a third of the requests fail: 500, 503 SlowDown, a reset
// mid-body, a stall past the timeout) report the store requests they retried, by cause, in
// their --json output and in their job log, and still do their work (restored bytes identical).
// A folder repository's jobs report zero retries.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../ceph/fault-proxy';
import { createBucket, removeBucket } from '../ceph/rgw';
import { ok, sha256File, tempDir, writeBlocks } from '../helpers';

interface Retries { retries: number; exhausted: number; causes: Record<string, number> }
interface JobJson { kind: string; state: string; logs: Array<{ message: string }>; result?: { value: { retries?: Retries } } }

/** The causes the S3 store names the proxy's faults by: 500, 503 SlowDown, a reset, a stall. */
const CAUSES = /^(500\b.*|503\b.*|timeout|connection reset|body too long|E[A-Z]+)$/;

describe('retry counts in backup, restore, scrub and cleanup jobs', () => {
  const dir = tempDir();
  let bucket: string;
  let proxy: FaultProxy;
  let env: Record<string, string>;
  const image = join(dir, 'image.raw');
  const other = join(dir, 'other.raw');
  const r = (): string[] => ['--repo', `s3://${bucket}/retries`, '--endpoint', proxy.url, '--path-style'];

  before(async () => {
    bucket = await createBucket();
    proxy = await startFaultProxy({ rate: 0, seed: 424242 });
    env = { XDG_STATE_HOME: join(dir, 'state'), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', AWS_PROFILE: '', BLOCKVAULT_S3_TIMEOUT: '1' };
    writeBlocks(image, Array.from({ length: 40 }, (_, i) => 1000 + i));
    writeBlocks(other, Array.from({ length: 30 }, (_, i) => 2000 + i));
    await ok(['init', `s3://${bucket}/retries`, '--endpoint', proxy.url, '--path-style', '--block-size', '64K'], env);
  });
  after(async () => {
    await proxy.close();
    await removeBucket(bucket);
  });

  const checkRetries = (retries: Retries | undefined, what: string): void => {
    assert.ok(retries, `${what}: --json has retries`);
    assert.ok(retries.retries > 0, `${what}: seed ${proxy.seed}: ${JSON.stringify(retries)} (proxy ${JSON.stringify(proxy.counts)})`);
    assert.equal(Object.values(retries.causes).reduce((a, b) => a + b, 0), retries.retries, `${what}: the causes add up`);
    for (const cause of Object.keys(retries.causes)) assert.match(cause, CAUSES);
    assert.equal(retries.exhausted, 0);
  };

  it('each job reports its retries by cause in --json and in its log', async () => {
    proxy.rate = 0.3;
    const backup = JSON.parse((await ok([...r(), 'backup', image, 'disk', '--json'], env)).split('\n').slice(0, -2).join('\n')) as { uid: string; retries?: Retries };
    checkRetries(backup.retries, 'backup');
    const removable = JSON.parse((await ok([...r(), 'backup', other, 'other', '--json'], env)).split('\n').slice(0, -2).join('\n')) as { uid: string };

    const target = join(dir, 'restored.raw');
    const restored = JSON.parse(await ok([...r(), 'restore', backup.uid, target, '--json'], env)) as { retries?: Retries };
    checkRetries(restored.retries, 'restore');
    assert.equal(await sha256File(target), await sha256File(image));
    rmSync(target);

    const scrub = JSON.parse(await ok([...r(), 'scrub', '--deep', backup.uid, removable.uid, '--json'], env)) as Array<{ problems: unknown[]; retries?: Retries }>;
    assert.equal(scrub.length, 2);
    assert.deepEqual(scrub.map((report) => report.problems.length), [0, 0]);
    checkRetries(scrub[0].retries, 'scrub');

    await ok([...r(), 'rm', '--force', removable.uid], env);
    const cleanup = JSON.parse(await ok([...r(), 'cleanup', '--grace-seconds', '0', '--json'], env)) as { objectsDeleted: number; retries?: Retries };
    assert.equal(cleanup.objectsDeleted, 30);
    checkRetries(cleanup.retries, 'cleanup');
    proxy.rate = 0;

    // The job log says the same, and the job's result keeps the counts.
    const jobs = JSON.parse(await ok([...r(), 'jobs', '--json'], env)) as JobJson[];
    for (const kind of ['backup', 'restore', 'scrub', 'cleanup']) {
      const job = jobs.find((j) => j.kind === kind && j.state === 'succeeded');
      assert.ok(job, `a ${kind} job`);
      assert.ok(job.logs.some((line) => /^store requests: \d+ retr(y|ies) \(\d+x /.test(line.message)), `${kind} log: ${job.logs.map((l) => l.message).join(' | ')}`);
      checkRetries(job.result?.value.retries, `${kind} job result`);
    }
  });

  it('a folder repository\'s jobs report zero retries', async () => {
    const repo = join(dir, 'folder');
    await ok(['init', repo, '--block-size', '64K']);
    const backup = JSON.parse((await ok(['--repo', repo, 'backup', image, 'disk', '--json'])).split('\n').slice(0, -2).join('\n')) as { retries?: Retries };
    assert.deepEqual(backup.retries, { retries: 0, exhausted: 0, causes: {} });
  });
});
