// A key change cut short between its two writes (the store's copy `repository/config`, which
// recover reads, and the config: blockvault.json, or repository/blockvault.json in a bucket)
// must not leave a changed passphrase working anywhere. The cut is made exactly: the config's
// bytes from before the change are put back after it, which is the state a kill between the
// two writes leaves. Then the old passphrase fails in open and in recover, the new one opens
// and restores bit-exact, and the first open completes the change (both copies agree again).
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import { decodeRepositoryConfig } from '../../src-main/engine/meta/manifest';
import { adminClient, createBucket, RGW_ENDPOINT, removeBucket } from '../ceph/rgw';
import { cli, lastLine, ok, sha256File, tempDir, writeBlocks } from '../helpers';

const OLD = 'the first passphrase of this repository';
const NEW = 'the passphrase that replaced it';

interface Slots { keys: Array<{ id: string; wrapped: string }>; generation?: number }

function slotList(slots: Slots | undefined): string[] {
  return (slots?.keys ?? []).map((k) => `${k.id}:${k.wrapped}`);
}

describe('a key change cut short between its two writes', () => {
  const dir = tempDir();
  const image = join(dir, 'image.raw');
  before(() => writeBlocks(image, [1, 2, 0, 3, 4, 1, 5]));

  it('folder: the old passphrase fails in open and recover, the new one opens and completes the change', async () => {
    const repo = join(dir, 'repo');
    await ok(['init', repo, '--block-size', '64K', '--encrypt'], { BLOCKVAULT_PASSPHRASE: OLD });
    const uid = lastLine(await ok(['--repo', repo, 'backup', image, 'disk'], { BLOCKVAULT_PASSPHRASE: OLD }));
    const configFile = join(repo, 'blockvault.json');
    const before = readFileSync(configFile);
    await ok(['--repo', repo, 'key', 'change-passphrase'], { BLOCKVAULT_PASSPHRASE: OLD, BLOCKVAULT_NEW_PASSPHRASE: NEW });
    const published = decodeRepositoryConfig(readFileSync(join(repo, 'repository', 'config')));
    assert.equal(published.encryption?.generation, 1, 'the change is the first generation');
    writeFileSync(configFile, before); // the cut: the store's copy is new, the config still old

    const refused = await cli(['--repo', repo, 'ls'], { env: { BLOCKVAULT_PASSPHRASE: OLD } });
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\[WRONG_KEY\]/);
    const target = join(dir, 'restored-folder.raw');
    await ok(['--repo', repo, 'restore', uid, target], { BLOCKVAULT_PASSPHRASE: NEW });
    assert.equal(await sha256File(target), await sha256File(image));
    const completed = JSON.parse(readFileSync(configFile, 'utf8')) as { encryption: Slots };
    assert.deepEqual(slotList(completed.encryption), slotList(published.encryption), 'opening completed the change in blockvault.json');
    assert.equal(completed.encryption.generation, 1);

    // recover (from the store alone) knows only the new passphrase.
    const oldRecover = await cli(['recover', repo], { env: { BLOCKVAULT_PASSPHRASE: OLD } });
    assert.equal(oldRecover.code, 1);
    assert.match(oldRecover.stderr, /\[WRONG_KEY\]/);

    // The next change goes on from the newer generation, and both copies agree.
    await ok(['--repo', repo, 'key', 'change-passphrase'], { BLOCKVAULT_PASSPHRASE: NEW, BLOCKVAULT_NEW_PASSPHRASE: OLD });
    const config = JSON.parse(readFileSync(configFile, 'utf8')) as { encryption: Slots };
    const copy = decodeRepositoryConfig(readFileSync(join(repo, 'repository', 'config')));
    assert.equal(config.encryption.generation, 2);
    assert.deepEqual(slotList(copy.encryption), slotList(config.encryption));
    assert.match((await cli(['--repo', repo, 'ls'], { env: { BLOCKVAULT_PASSPHRASE: NEW } })).stderr, /\[WRONG_KEY\]/);
  });

  describe('S3', () => {
    let bucket = '';
    const env = (passphrase: string, state = 'state-a'): Record<string, string> => ({
      XDG_STATE_HOME: join(dir, state), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', AWS_PROFILE: '',
      BLOCKVAULT_S3_ENDPOINT: RGW_ENDPOINT, BLOCKVAULT_S3_PATH_STYLE: '1', BLOCKVAULT_PASSPHRASE: passphrase,
    });
    before(async () => {
      bucket = await createBucket();
    });
    after(async () => {
      await removeBucket(bucket);
    });

    it('the old passphrase fails on every machine and in recover; the new one opens and completes the change', async () => {
      const s3 = adminClient();
      const get = async (key: string): Promise<Buffer> => Buffer.from(await (await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }))).Body!.transformToByteArray());
      try {
        const repo = `s3://${bucket}/enc`;
        await ok(['init', repo, '--block-size', '64K', '--encrypt'], env(OLD));
        const uid = lastLine(await ok(['--repo', repo, 'backup', image, 'disk'], env(OLD)));
        const before = await get('enc/repository/blockvault.json');
        await ok(['--repo', repo, 'key', 'change-passphrase'], { ...env(OLD), BLOCKVAULT_NEW_PASSPHRASE: NEW });
        await s3.send(new PutObjectCommand({ Bucket: bucket, Key: 'enc/repository/blockvault.json', Body: before })); // the cut

        for (const state of ['state-a', 'state-b']) {
          const refused = await cli(['--repo', repo, 'ls'], { env: env(OLD, state) });
          assert.equal(refused.code, 1, `old passphrase on ${state}`);
          assert.match(refused.stderr, /\[WRONG_KEY\]/);
        }
        const oldRecover = await cli(['recover', repo], { env: env(OLD) });
        assert.match(oldRecover.stderr, /\[WRONG_KEY\]/);
        const target = join(dir, 'restored-s3.raw');
        await ok(['--repo', repo, 'restore', uid, target], env(NEW, 'state-b'));
        assert.equal(await sha256File(target), await sha256File(image));
        const config = JSON.parse((await get('enc/repository/blockvault.json')).toString('utf8')) as { encryption: Slots };
        const copy = decodeRepositoryConfig(await get('enc/repository/config'));
        assert.equal(config.encryption.generation, 1, 'opening completed the change in the bucket');
        assert.deepEqual(slotList(config.encryption), slotList(copy.encryption));
      } finally {
        s3.destroy();
      }
    });
  });
});
