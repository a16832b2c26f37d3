// Copy between repositories through the CLI: folder -> S3 -> folder with restored bytes
// identical and deep scrubs clean, only missing objects transferred (a second version, a
// repeated copy), a copy killed midway resumed, encrypted -> encrypted re-encrypted under the
// destination's key, and refusals (block sizes, encrypted into plain) that change nothing.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { startFaultProxy, type FaultProxy } from '../ceph/fault-proxy';
import { createBucket, RGW_ENDPOINT, removeBucket } from '../ceph/rgw';
import { backupCli, cli, lsJson, objectNames, ok, restoreEquals, sha256File, spawnCli, tempDir, waitFor, writeBlocks } from '../helpers';

interface CopyJson { destination: string; versions: Array<{ uid: string; outcome: string; objectsTransferred: number; objectsPresent: number }>; objectsTransferred: number; objectsPresent: number }

describe('copy between repositories', () => {
  const dir = tempDir();
  let bucket: string;
  let proxy: FaultProxy;
  // S3 repositories reach RGW through the environment here (the CLI's flags in other tests).
  Object.assign(process.env, { XDG_STATE_HOME: join(dir, 'state'), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', BLOCKVAULT_S3_ENDPOINT: RGW_ENDPOINT, BLOCKVAULT_S3_PATH_STYLE: '1' });
  const env: Record<string, string> = {};
  const run = (args: string[], extra: Record<string, string> = {}): Promise<string> => ok(args, { ...env, ...extra });
  const copy = async (args: string[], extra: Record<string, string> = {}): Promise<CopyJson> => JSON.parse(await run([...args, '--json'], extra)) as CopyJson;
  const image1 = join(dir, 'one.raw');
  const image2 = join(dir, 'two.raw');

  before(async () => {
    bucket = await createBucket();
    proxy = await startFaultProxy({ rate: 0 });
    writeBlocks(image1, Array.from({ length: 24 }, (_, i) => (i % 6 === 5 ? 0 : 10 + i)));
    // shares its first 12 blocks with image1
    writeBlocks(image2, Array.from({ length: 24 }, (_, i) => (i < 12 ? (i % 6 === 5 ? 0 : 10 + i) : 500 + i)));
  });
  after(async () => {
    await proxy.close();
    await removeBucket(bucket);
  });

  it('copies folder -> S3 -> folder: only missing objects, identical bytes, clean deep scrubs', async () => {
    const a = join(dir, 'a');
    await run(['init', a, '--block-size', '64K']);
    const uid1 = await backupCli(a, image1, 'one');
    const uid2 = await backupCli(a, image2, 'two');
    const b = `s3://${bucket}/b`;
    await run(['init', b, '--block-size', '64K']);

    const first = await copy(['--repo', a, 'copy', uid1, '--to', b]);
    assert.equal(first.destination, b);
    assert.deepEqual(first.versions.map((v) => [v.uid, v.outcome, v.objectsTransferred, v.objectsPresent]), [[uid1, 'copied', 20, 0]]);
    const second = await copy(['--repo', a, 'copy', '--all', '--to', b]);
    const byUid = new Map(second.versions.map((v) => [v.uid, v]));
    assert.equal(byUid.get(uid1)!.outcome, 'present');
    assert.equal(byUid.get(uid2)!.objectsTransferred, 12, 'only the blocks version one did not have');
    assert.equal(byUid.get(uid2)!.objectsPresent, 10);
    const again = await copy(['--repo', a, 'copy', '--name', 'two', '--to', b]);
    assert.equal(again.objectsTransferred, 0);

    const inB = await lsJson(b);
    assert.deepEqual(inB.map((v) => [v.uid, v.name, v.valid]).sort(), [[uid1, 'one', true], [uid2, 'two', true]].sort());
    for (const [uid, image] of [[uid1, image1], [uid2, image2]] as const) await restoreEquals(b, uid, join(dir, `from-b-${uid}.raw`), image);
    const c = join(dir, 'c');
    await run(['init', c, '--block-size', '64K']);
    const back = await copy(['--repo', b, 'copy', '--all', '--to', c]);
    assert.equal(back.objectsTransferred, 32);
    for (const [uid, image] of [[uid1, image1], [uid2, image2]] as const) await restoreEquals(c, uid, join(dir, `from-c-${uid}.raw`), image);
    assert.match(await run(['--repo', c, 'scrub', '--deep', '--all']), /ok \(deep, 100%\)/);
    assert.match(await run(['--repo', b, 'scrub', '--deep', '--all']), /ok \(deep, 100%\)/);
    assert.deepEqual(objectNames(c), objectNames(a), 'the same objects under the same names');
    const jobs = JSON.parse(await run(['--repo', a, 'jobs', '--json'])) as Array<{ kind: string; state: string }>;
    assert.ok(jobs.filter((j) => j.kind === 'copy' && j.state === 'succeeded').length >= 3, 'copies are jobs in the history');
  });

  it('resumes a copy killed midway; the version is valid only at the end', async () => {
    const a = join(dir, 'resume-src');
    await run(['init', a, '--block-size', '64K']);
    const uid = await backupCli(a, image1, 'one');
    const d = `s3://${bucket}/resume`;
    await run(['init', d, '--block-size', '64K']);
    const stalled = proxy.counts.stall;
    proxy.script([...Array(14).fill('pass'), ...Array(200).fill('stall')]);
    const child = spawnCli(['--repo', a, 'copy', uid, '--to', d, '--endpoint', proxy.url, '--path-style'], { ...env, BLOCKVAULT_S3_TIMEOUT: '60' });
    // The proxy picks a request's fate once it has its whole body, in order: two stalls picked
    // means the 14 passes before them were whole and went on to RGW (counting arrivals instead
    // let a loaded machine kill the copy while the passes' bodies were still on their way).
    await waitFor('the copy to stall', () => proxy.counts.stall - stalled >= 2, 30_000);
    child.kill('SIGKILL');
    await new Promise((resolve) => child.once('exit', resolve));
    proxy.script([]);
    const listed = await lsJson(d);
    assert.ok(listed.every((v) => !v.valid), 'no valid version after the kill');
    const resumed = await copy(['--repo', a, 'copy', uid, '--to', d]);
    assert.equal(resumed.versions[0].outcome, 'copied');
    assert.ok(resumed.versions[0].objectsPresent > 0, `objects put before the kill are not sent again (${JSON.stringify(resumed)})`);
    assert.equal(resumed.versions[0].objectsPresent + resumed.versions[0].objectsTransferred, 20);
    await restoreEquals(d, uid, join(dir, 'resumed.raw'), image1);
    assert.match(await run(['--repo', d, 'scrub', '--deep', uid]), /ok \(deep, 100%\)/);
  });

  it('re-encrypts between encrypted repositories and refuses what cannot be right', async () => {
    const keys = { BLOCKVAULT_PASSPHRASE: 'source passphrase 1', BLOCKVAULT_TO_PASSPHRASE: 'destination passphrase 2' };
    const e1 = join(dir, 'e1');
    const e2 = join(dir, 'e2');
    await run(['init', e1, '--block-size', '64K', '--encrypt'], keys);
    await run(['init', e2, '--block-size', '64K', '--encrypt'], { BLOCKVAULT_PASSPHRASE: keys.BLOCKVAULT_TO_PASSPHRASE });
    const uid = lastUid(await run(['--repo', e1, 'backup', image1, 'one'], keys));
    const copied = await copy(['--repo', e1, 'copy', uid, '--to', e2], keys);
    assert.equal(copied.objectsTransferred, 20);
    assert.equal(objectNames(e2).filter((n) => objectNames(e1).includes(n)).length, 0, 'named by the destination\'s key');
    await run(['--repo', e2, 'restore', uid, join(dir, 'e2.raw')], { BLOCKVAULT_PASSPHRASE: keys.BLOCKVAULT_TO_PASSPHRASE });
    assert.equal(await sha256File(join(dir, 'e2.raw')), await sha256File(image1));
    assert.match(await run(['--repo', e2, 'scrub', '--deep', uid], { BLOCKVAULT_PASSPHRASE: keys.BLOCKVAULT_TO_PASSPHRASE }), /ok \(deep, 100%\)/);

    const wrongKey = await cli(['--repo', e1, 'copy', uid, '--to', e2], { env: { ...env, ...keys, BLOCKVAULT_TO_PASSPHRASE: 'not the passphrase' } });
    assert.match(wrongKey.stderr, /\[WRONG_KEY\]/);
    const plain = join(dir, 'plain');
    await run(['init', plain, '--block-size', '64K']);
    const intoPlain = await cli(['--repo', e1, 'copy', uid, '--to', plain], { env: { ...env, ...keys } });
    assert.equal(intoPlain.code, 1);
    assert.match(intoPlain.stderr, /\[INVALID_ARGUMENT\].*source is encrypted and the destination is not/);
    const big = join(dir, 'big');
    await run(['init', big, '--block-size', '128K']);
    const sizes = await cli(['--repo', join(dir, 'a'), 'copy', '--all', '--to', big], { env });
    assert.match(sizes.stderr, /\[INVALID_ARGUMENT\].*block sizes differ: the source has 65536 bytes, the destination 131072/);
    assert.deepEqual(await lsJson(plain), []);
    assert.deepEqual(await lsJson(big), []);
    assert.deepEqual(objectNames(plain), []);
  });
});

function lastUid(stdout: string): string {
  const lines = stdout.trim().split('\n');
  return lines[lines.length - 1].trim();
}
