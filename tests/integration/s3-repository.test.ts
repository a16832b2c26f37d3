// S3 repositories on the real RGW through the CLI: init, backup, restore (bytes identical by
// sha256), deep scrub, rm and cleanup (fast and full) leave the bucket with the config only;
// the same through the fault proxy; wrong credentials, a missing bucket and a used prefix fail
// fast with their code and change nothing; a lost metadata cache is rebuilt from the bucket; and the
// secret never reaches output, the log file, the job history or the state folder.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { startFaultProxy, type FaultProxy } from '../ceph/fault-proxy';
import { adminClient, createBucket, RGW_ENDPOINT, removeBucket } from '../ceph/rgw';
import { BS, cli, lastLine, ok, seededBytes, sha256File, tempDir, writeBlocks } from '../helpers';

const SECRET = 'testsecret';

async function bucketKeys(bucket: string): Promise<string[]> {
  const client = adminClient();
  try {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket }));
    return (page.Contents ?? []).map((item) => item.Key!).sort();
  } finally {
    client.destroy();
  }
}

/** Every file under dir, recursively, as text (SQLite files included: a secret would show). */
function filesUnder(dir: string): Array<{ path: string; text: string }> {
  return readdirSync(dir, { recursive: true }).map((entry) => join(dir, String(entry))).filter((path) => statSync(path).isFile())
    .map((path) => ({ path, text: readFileSync(path).toString('latin1') }));
}

describe('S3 repositories on RGW', () => {
  let bucket: string;
  let proxy: FaultProxy;
  const dir = tempDir();
  let image: string;
  let imageSha: string;
  let env: Record<string, string>;
  let credentialsFile: string;
  const s3 = (endpoint = RGW_ENDPOINT): string[] => ['--endpoint', endpoint, '--path-style', '--s3-credentials', credentialsFile];

  before(async () => {
    bucket = await createBucket();
    proxy = await startFaultProxy({ rate: 0 });
    credentialsFile = join(dir, 'credentials');
    writeFileSync(credentialsFile, `[default]\naws_access_key_id = test\naws_secret_access_key = ${SECRET}\n`, { mode: 0o600 });
    // No AWS_* credentials in the environment: they come from the file only.
    env = { XDG_STATE_HOME: join(dir, 'state'), AWS_ACCESS_KEY_ID: '', AWS_SECRET_ACCESS_KEY: '', AWS_PROFILE: '', BLOCKVAULT_S3_TIMEOUT: '3' };
    image = join(dir, 'image.raw');
    // 40 blocks: data, zeros, repeats.
    writeBlocks(image, Array.from({ length: 40 }, (_, i) => (i % 7 === 3 ? 0 : i % 5 === 0 ? 1 : 100 + i)));
    imageSha = await sha256File(image);
  });
  after(async () => {
    await proxy.close();
    await removeBucket(bucket);
  });

  const run = (args: string[]): Promise<string> => ok(args, env);

  it('backs up, restores identical bytes, deep-scrubs and cleans up', async () => {
    const repo = `s3://${bucket}/site/a`;
    const created = await run(['init', repo, ...s3(), '--block-size', '64K', '--log-file', join(dir, 'log.txt')]);
    assert.match(created, new RegExp(`created repository ${repo}`));
    const r = ['--repo', repo, ...s3(), '--log-file', join(dir, 'log.txt')];
    const uid = lastLine(await run([...r, 'backup', image, 'disk', '--json']));
    const keys = await bucketKeys(bucket);
    assert.ok(keys.includes('site/a/repository/blockvault.json'), keys.join(','));
    // 40 blocks: 6 zero, 7 of one repeated seed, 27 of their own: 28 objects.
    assert.equal(keys.filter((k) => k.startsWith('site/a/objects/')).length, 28);
    assert.ok(keys.includes(`site/a/manifests/${uid}`), 'the version has its manifest in the bucket');
    const target = join(dir, 'restored.raw');
    await run([...r, 'restore', uid, target]);
    assert.equal(await sha256File(target), imageSha);
    rmSync(target);
    assert.match(await run([...r, 'scrub', '--deep', uid]), /ok \(deep, 100%\)/);
    await run([...r, 'rm', '--force', uid]);
    await run([...r, 'cleanup', '--grace-seconds', '0']);
    await run([...r, 'cleanup', '--full']);
    // The config that opens the repository and the checksummed settings recover reads stay;
    // the removed version's manifest is gone with it.
    assert.deepEqual(await bucketKeys(bucket), ['site/a/repository/blockvault.json', 'site/a/repository/config']);

    // The secret is nowhere: not in output, the log file, the job history or the state folder.
    const jobs = await run([...r, 'jobs', '--json']);
    assert.ok(JSON.parse(jobs).length >= 4, 'the jobs are in the history');
    assert.doesNotMatch(jobs, new RegExp(SECRET));
    for (const file of [...filesUnder(join(dir, 'state')), { path: 'log.txt', text: readFileSync(join(dir, 'log.txt'), 'utf8') }]) {
      assert.ok(!file.text.includes(SECRET), `${file.path} holds the secret`);
    }
    assert.ok(readFileSync(join(dir, 'log.txt'), 'utf8').includes('backup'), 'the log file has the commands');
  });

  it('backs up, restores, deep-scrubs and cleans up through the fault proxy', async () => {
    proxy.rate = 0.05;
    const before = proxy.counts.requests;
    const faulty = { ...env };
    const repo = `s3://${bucket}/faulty`;
    await ok(['init', repo, ...s3(proxy.url), '--block-size', '64K'], faulty);
    const r = ['--repo', repo, ...s3(proxy.url)];
    const uid = lastLine(await ok([...r, 'backup', image, 'disk'], faulty));
    const second = join(dir, 'second.raw');
    writeBlocks(second, Array.from({ length: 30 }, (_, i) => 300 + i));
    const uid2 = lastLine(await ok([...r, 'backup', second, 'other'], faulty));
    for (const [version, path] of [[uid, image], [uid2, second]] as const) {
      const target = join(dir, `restored-${version}.raw`);
      await ok([...r, 'restore', version, target], faulty);
      assert.equal(await sha256File(target), await sha256File(path), `seed ${proxy.seed}`);
      rmSync(target);
    }
    assert.match(await ok([...r, 'scrub', '--deep', '--all'], faulty), /ok \(deep, 100%\)/);
    await ok([...r, 'rm', '--force', uid2], faulty);
    await ok([...r, 'cleanup', '--grace-seconds', '0'], faulty);
    const target = join(dir, 'after-cleanup.raw');
    await ok([...r, 'restore', uid, target], faulty);
    assert.equal(await sha256File(target), imageSha);
    proxy.rate = 0;
    const faults = proxy.counts['500'] + proxy.counts['503'] + proxy.counts.reset + proxy.counts.stall;
    assert.ok(proxy.counts.requests - before > 100 && faults > 0, `seed ${proxy.seed}: ${JSON.stringify(proxy.counts)}`);
  });

  it('refuses wrong credentials, a missing bucket and a used prefix fast, changing nothing', async () => {
    const wrong = join(dir, 'wrong');
    writeFileSync(wrong, '[default]\naws_access_key_id = test\naws_secret_access_key = not-the-secret\n');
    const before = await bucketKeys(bucket);
    let started = Date.now();
    const denied = await cli(['init', `s3://${bucket}/denied`, '--endpoint', RGW_ENDPOINT, '--path-style', '--s3-credentials', wrong], { env });
    assert.equal(denied.code, 1);
    assert.match(denied.stderr, /\[UNAUTHORIZED\].*access denied/);
    assert.doesNotMatch(denied.stderr, /not-the-secret/);
    const deniedOpen = await cli(['--repo', `s3://${bucket}/site/a`, '--endpoint', RGW_ENDPOINT, '--path-style', '--s3-credentials', wrong, 'ls'], { env });
    assert.match(deniedOpen.stderr, /\[UNAUTHORIZED\]/);
    const missing = await cli(['init', `s3://${bucket}-nope/x`, ...s3()], { env });
    assert.match(missing.stderr, /\[NOT_FOUND\].*bucket "[^"]+-nope" does not exist/);
    assert.ok(Date.now() - started < 20_000, 'each fails within seconds');
    started = Date.now();
    const used = await cli(['init', `s3://${bucket}/site/a`, ...s3()], { env });
    assert.match(used.stderr, /\[REPOSITORY_EXISTS\]/);
    const notRepo = await cli(['--repo', `s3://${bucket}/nothing-here`, ...s3(), 'ls'], { env });
    assert.match(notRepo.stderr, /\[NOT_A_REPOSITORY\]/);
    assert.deepEqual(await bucketKeys(bucket), before);
  });

  it('rebuilds a lost local metadata cache from the bucket, saying so', async () => {
    const repo = `s3://${bucket}/cache`;
    await run(['init', repo, ...s3(), '--block-size', '64K']);
    const small = join(dir, 'small.raw');
    writeFileSync(small, seededBytes(9, 3 * BS));
    const uid = lastLine(await run(['--repo', repo, ...s3(), 'backup', small, 'small']));
    const state = join(dir, 'state', 'blockvault', 'repositories');
    const [id] = readdirSync(state).filter((entry) => readFileSync(join(state, entry, 'location.json'), 'utf8').includes('/cache'));
    rmSync(join(state, id), { recursive: true });
    const rebuilt = await cli(['--repo', repo, ...s3(), 'ls'], { env });
    assert.equal(rebuilt.code, 0, rebuilt.stderr);
    assert.match(rebuilt.stderr, /local metadata of .* is missing \(.*metadata\.sqlite\); rebuilding it from the bucket/);
    assert.match(rebuilt.stdout, new RegExp(uid));
    const target = join(dir, 'small.restored');
    await run(['--repo', repo, ...s3(), 'restore', uid, target]);
    assert.equal(await sha256File(target), await sha256File(small));
  });
});
