// What a killed rm, prune or manifest write leaves in the store is reclaimed by a cleanup:
// rm removes a version's rows first and its manifest after (a crash keeps the version
// recoverable), so a kill between the two leaves a manifest of no version, which `recover`
// would bring back as a version whose data a cleanup has already deleted; a killed put leaves
// a temporary file beside the manifests. A full cleanup removes both, and only those: the
// manifests of the versions there stay, and they restore bit-exact. The fast cleanup (the one
// run after every backup) completes the cut-short removal too, before it deletes the version's
// objects, in a folder and in an S3 repository; there a manifest the machine's cache has not
// seen (another machine's new version) is never taken for one: the version stays and restores.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { ListObjectsV2Command } from '@aws-sdk/client-s3';
import { adminClient, createBucket, removeBucket, RGW_ENDPOINT } from '../ceph/rgw';
import { backupCli, initRepo, lsJson, ok, openDb, restoreEquals, tempDir, writeBlocks } from '../helpers';

/** What a kill between rm's rows and its manifest leaves: the version's rows are gone from the metadata in `metaDir`. */
function removeRows(metaDir: string, uid: string, forgetStamp = false): void {
  const db = openDb(metaDir, false);
  try {
    const { id } = db.prepare('SELECT id FROM versions WHERE uid = ?').get(uid) as { id: number };
    db.prepare('DELETE FROM blocks WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM tags WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM versions WHERE id = ?').run(id);
    if (forgetStamp) db.prepare('DELETE FROM store_manifests WHERE key = ?').run(`manifests/${uid}`);
  } finally {
    db.close();
  }
}

async function bucketKeys(bucket: string, prefix: string): Promise<string[]> {
  const client = adminClient();
  try {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix }));
    return (page.Contents ?? []).map((item) => item.Key!.slice(prefix.length)).sort();
  } finally {
    client.destroy();
  }
}

describe('a full cleanup and the manifests of no version', () => {
  const dir = tempDir();

  it('removes the manifest a killed rm left and the leftover of a killed manifest put, and nothing else', async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0']);
    const image = join(dir, 'a.img');
    writeBlocks(image, [1, 2, 0, 3]);
    const removed = await backupCli(repo, image, 'a');
    const kept = await backupCli(repo, image, 'a');
    const manifests = join(repo, 'manifests');
    assert.ok(existsSync(join(manifests, removed)), 'each version has its manifest');
    // a kill between rm's rows and its manifest: the rows are gone, the manifest is not
    const db = openDb(repo, false);
    const { id } = db.prepare('SELECT id FROM versions WHERE uid = ?').get(removed) as { id: number };
    db.prepare('DELETE FROM blocks WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM tags WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM versions WHERE id = ?').run(id);
    db.close();
    // a kill during a manifest put: its temporary file
    writeFileSync(join(manifests, `${kept}.tmp-4242-0-7`), 'half a manifest');

    const out = await ok(['--repo', repo, 'cleanup', '--full', '--grace-seconds', '0', '--json']);
    assert.deepEqual(readdirSync(manifests), [kept], `left in manifests/ after a full cleanup (${out})`);
    await restoreEquals(repo, kept, join(dir, 'kept.img'), image);
  });

  it('a fast cleanup completes a removal cut short in a folder repository, and keeps every other manifest', async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0'], 'fast');
    const image = join(dir, 'b.img');
    writeBlocks(image, [11, 12, 0, 13]);
    const other = join(dir, 'c.img');
    writeBlocks(other, [21, 22]);
    const removed = await backupCli(repo, image, 'b');
    const kept = await backupCli(repo, other, 'c');
    removeRows(repo, removed);
    const out = await ok(['--repo', repo, 'cleanup', '--grace-seconds', '0']);
    assert.deepEqual(readdirSync(join(repo, 'manifests')), [kept], `left in manifests/ after a fast cleanup (${out})`);
    // recover (from the store alone) finds exactly the version that exists
    await ok(['recover', repo]);
    assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [kept]);
    await restoreEquals(repo, kept, join(dir, 'kept-fast.img'), other);
  });
});

describe('a fast cleanup and the manifests of no version in an S3 repository', () => {
  const dir = tempDir();
  let bucket = '';
  const env = {
    XDG_STATE_HOME: join(dir, 'state'), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', AWS_PROFILE: '',
    BLOCKVAULT_S3_ENDPOINT: RGW_ENDPOINT, BLOCKVAULT_S3_PATH_STYLE: '1',
  };
  after(async () => { if (bucket) await removeBucket(bucket); });

  it('removes the manifest of a version this machine removed, and brings back one it has not seen', async () => {
    bucket = await createBucket();
    Object.assign(process.env, env);
    const repo = `s3://${bucket}/orphans`;
    await ok(['init', repo, '--block-size', '64K', '--min-age-days', '0', '--grace-seconds', '0']);
    const image = join(dir, 'd.img');
    writeBlocks(image, [31, 32, 0, 33]);
    const other = join(dir, 'e.img');
    writeBlocks(other, [41, 42]);
    const removed = await backupCli(repo, image, 'd');
    const unseen = await backupCli(repo, other, 'e');
    await ok(['--repo', repo, 'ls']); // this machine's cache has seen both manifests now
    const states = join(dir, 'state', 'blockvault', 'repositories');
    const cache = join(states, readdirSync(states)[0]);
    // a removal cut short here; and a manifest this cache has not seen, of a version it has no row of
    removeRows(cache, removed);
    removeRows(cache, unseen, true);
    const out = await ok(['--repo', repo, 'cleanup', '--grace-seconds', '0']);
    assert.deepEqual(await bucketKeys(bucket, 'orphans/manifests/'), [unseen], `manifests in the bucket after a fast cleanup (${out})`);
    assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [unseen]);
    await restoreEquals(repo, unseen, join(dir, 'unseen.img'), other);
  });
});
