// An S3 repository's local metadata is a cache of its bucket (engine/cache.ts), on the real RGW
// through the CLI, with an encrypted repository (manifests sealed with its key):
// - a deleted cache is rebuilt on open (with a notice): every version comes back with its
//   tags and protection, deep-scrubs clean and restores bit-exact;
// - two machines (two state folders) on one bucket: a version one adds is seen by the other,
//   and restored bit-exact there; one it removes is gone there; a tag it adds shows there;
// - a damaged cache is moved aside and rebuilt;
// - `recover s3://...` and `restore --without-database` work on S3;
// - a full cleanup in a process that opened the repository before another machine backed up
//   learns of that version first and keeps its objects;
// - nothing in the bucket (keys and ETags) changes by a rebuild, a sync or a recover.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { cleanup } from '../../src-main/engine/pipeline/cleanup';
import { Repository } from '../../src-main/engine/repository';
import { adminClient, createBucket, RGW_ENDPOINT, removeBucket, s3Spec } from '../ceph/rgw';
import { cli, lastLine, ok, sha256File, tempDir, writeBlocks } from '../helpers';

interface VersionJson { uid: string; name: string; tags: string[]; protected: boolean; valid: boolean; size: number; date: string }

/** Every key of the bucket with its ETag: what a rebuild must leave as it is. */
async function bucketState(bucket: string): Promise<string[]> {
  const client = adminClient();
  try {
    const keys: string[] = [];
    let ContinuationToken: string | undefined;
    do {
      const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken }));
      for (const item of page.Contents ?? []) keys.push(`${item.Key} ${item.ETag}`);
      ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (ContinuationToken);
    return keys.sort();
  } finally {
    client.destroy();
  }
}

const strip = (list: VersionJson[]): unknown => list.map((v) => ({ uid: v.uid, name: v.name, tags: [...v.tags].sort(), protected: v.protected, valid: v.valid, size: v.size, date: v.date }))
  .sort((a, b) => a.uid.localeCompare(b.uid));

describe('S3 metadata cache rebuilt and synced from the bucket', () => {
  const dir = tempDir();
  let bucket: string;
  const repo = (): string => `s3://${bucket}/cached`;
  const images = new Map<string, string>();
  const machine = (name: string): Record<string, string> => ({
    XDG_STATE_HOME: join(dir, `state-${name}`), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', AWS_PROFILE: '',
    BLOCKVAULT_PASSPHRASE: 'cache test passphrase', BLOCKVAULT_S3_ENDPOINT: RGW_ENDPOINT, BLOCKVAULT_S3_PATH_STYLE: '1',
  });
  const a = machine('a');
  const b = machine('b');
  const r = (): string[] => ['--repo', repo()];
  const ls = async (env: Record<string, string>): Promise<{ versions: VersionJson[]; stderr: string }> => {
    const result = await cli([...r(), 'ls', '--json'], { env });
    assert.equal(result.code, 0, result.stderr);
    return { versions: JSON.parse(result.stdout) as VersionJson[], stderr: result.stderr };
  };
  const cacheDir = (env: Record<string, string>): string => {
    const root = join(env.XDG_STATE_HOME, 'blockvault', 'repositories');
    const [id] = readdirSync(root);
    return join(root, id);
  };
  const restoresExact = async (env: Record<string, string>, uid: string, extra: string[] = []): Promise<void> => {
    const target = join(dir, `restored-${uid}-${Math.random().toString(36).slice(2)}`);
    await ok([...r(), 'restore', uid, target, ...extra], env);
    assert.equal(await sha256File(target), await sha256File(images.get(uid)!), `version ${uid} restores bit-exact`);
    rmSync(target);
  };

  before(async () => {
    bucket = await createBucket();
    await ok(['init', repo(), '--block-size', '64K', '--encrypt'], a);
    const one = join(dir, 'one.img');
    writeBlocks(one, [1, 2, 0, 0, 3, 4, 1, 5]);
    const uid1 = lastLine(await ok([...r(), 'backup', one, 'disk', '-t', 'daily'], a));
    images.set(uid1, one);
    const two = join(dir, 'two.img');
    writeBlocks(two, [1, 2, 0, 6, 3, 4, 1, 7, 8]);
    const uid2 = lastLine(await ok([...r(), 'backup', two, 'disk', '--from', uid1], a));
    images.set(uid2, two);
    await ok([...r(), 'protect', uid2], a);
    await ok([...r(), 'tag', uid2, 'weekly'], a);
  });
  after(async () => {
    await removeBucket(bucket);
  });

  it('rebuilds a deleted cache on open: the same versions, deep scrub clean, every version bit-exact, the bucket untouched', async () => {
    const before = await ls(a);
    assert.equal(before.versions.length, 2);
    const bucketBefore = await bucketState(bucket);
    rmSync(cacheDir(a), { recursive: true });
    const after = await ls(a);
    assert.match(after.stderr, /local metadata of .* is missing .*rebuilding it from the bucket/);
    assert.match(after.stderr, /rebuilt the local metadata from the bucket: 2 version\(s\)/);
    assert.deepEqual(strip(after.versions), strip(before.versions));
    assert.deepEqual(await bucketState(bucket), bucketBefore, 'the rebuild changed nothing in the bucket');
    const scrub = await cli([...r(), 'scrub', '--all', '--deep'], { env: a });
    assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
    for (const uid of images.keys()) await restoresExact(a, uid);
    // Opened again, the cache is fresh: no notice.
    assert.equal((await ls(a)).stderr, '');
    assert.deepEqual(await bucketState(bucket), bucketBefore);
  });

  it('two machines on one bucket see each other\'s versions, removals and tags', async () => {
    // Machine b has never seen the repository: its first open builds its cache.
    const first = await ls(b);
    assert.match(first.stderr, /rebuilding it from the bucket/);
    assert.deepEqual(strip(first.versions), strip((await ls(a)).versions));

    const three = join(dir, 'three.img');
    writeBlocks(three, [9, 10, 0, 11, 1]);
    const uid3 = lastLine(await ok([...r(), 'backup', three, 'other', '-t', 'monthly'], a));
    images.set(uid3, three);
    const seen = await ls(b);
    assert.match(seen.stderr, /behind the bucket .*1 version\(s\) added/);
    const onB = seen.versions.find((v) => v.uid === uid3);
    assert.ok(onB, 'b sees the version a made');
    assert.deepEqual(onB.tags, ['monthly']);
    assert.equal(onB.valid, true);
    await restoresExact(b, uid3);
    const scrub = await cli([...r(), 'scrub', '--deep', uid3], { env: b });
    assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);

    // b removes a version and tags another; a follows.
    const [uid1] = images.keys();
    await ok([...r(), 'rm', '--force', uid1], b);
    await ok([...r(), 'tag', uid3, 'offsite'], b);
    const onA = await ls(a);
    assert.match(onA.stderr, /behind the bucket .*1 removed, 1 changed/);
    assert.ok(!onA.versions.some((v) => v.uid === uid1), 'a no longer lists the version b removed');
    assert.deepEqual([...onA.versions.find((v) => v.uid === uid3)!.tags].sort(), ['monthly', 'offsite']);
    assert.deepEqual(strip(onA.versions), strip((await ls(b)).versions));
    images.delete(uid1);
    for (const uid of images.keys()) await restoresExact(a, uid);
  });

  it('moves a damaged cache aside and rebuilds it', async () => {
    const before = await ls(a);
    const bucketBefore = await bucketState(bucket);
    const file = join(cacheDir(a), 'metadata.sqlite');
    writeFileSync(file, Buffer.alloc(4096, 0x55), { flag: 'r+' });
    const after = await ls(a);
    assert.match(after.stderr, /local metadata of .* is damaged .*moved to .*metadata\.sqlite\.damaged-/);
    assert.deepEqual(strip(after.versions), strip(before.versions));
    assert.ok(readdirSync(cacheDir(a)).some((f) => f.startsWith('metadata.sqlite.damaged-')), 'the damaged file is kept');
    for (const uid of images.keys()) await restoresExact(a, uid);
    assert.deepEqual(await bucketState(bucket), bucketBefore);
  });

  it('recover s3://... rebuilds the cache, and restore --without-database needs none', async () => {
    const before = await ls(a);
    const bucketBefore = await bucketState(bucket);
    const recovered = await cli(['recover', repo()], { env: a });
    assert.equal(recovered.code, 0, recovered.stderr);
    assert.match(recovered.stdout, /recovered 2 version\(s\)/);
    assert.match(recovered.stderr, /old database was moved to metadata\.sqlite\.damaged-/);
    assert.deepEqual(strip((await ls(a)).versions), strip(before.versions));
    // A third machine with no state at all restores from the manifests alone.
    const c = machine('c');
    for (const uid of images.keys()) await restoresExact(c, uid, ['--without-database']);
    assert.ok(!existsSync(c.XDG_STATE_HOME), 'restore --without-database writes no cache');
    assert.deepEqual(await bucketState(bucket), bucketBefore);
  });

  it('a full cleanup first learns of versions another machine made since it opened, and keeps their objects', async () => {
    const saved = process.env.XDG_STATE_HOME;
    process.env.XDG_STATE_HOME = join(dir, 'state-d');
    const repo = await Repository.openS3(s3Spec(bucket, { prefix: 'cached' }), { passphrase: 'cache test passphrase' });
    try {
      const four = join(dir, 'four.img');
      writeBlocks(four, [40, 41, 0, 42, 43]);
      const uid4 = lastLine(await ok([...r(), 'backup', four, 'late'], b));
      images.set(uid4, four);
      assert.equal(repo.meta.getVersion(uid4), undefined, 'opened before the backup, the cache does not know it yet');
      // It may sweep what the version b removed left behind; the new version's objects must stay
      // (without the sync they are unknown to this cache, and the sweep would take them).
      await cleanup(repo, { full: true, graceSeconds: 0 });
      assert.ok(repo.meta.getVersion(uid4), 'the cleanup synced the cache first');
    } finally {
      repo.close();
      process.env.XDG_STATE_HOME = saved;
    }
    const scrub = await cli([...r(), 'scrub', '--all', '--deep'], { env: a });
    assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
    for (const uid of images.keys()) await restoresExact(a, uid);
  });
});
