// Key changes of an encrypted S3 repository on the real RGW through the CLI: change-passphrase
// makes the old passphrase fail with WRONG_KEY and the new one open and restore bit-exact; a
// key file added opens it too, and removing the passphrase slot leaves only the key file; the
// bucket's config and its checksummed copy (repository/config, which recover reads) hold the
// same slots, no copy of an old config is left behind, and another machine (another state
// folder) opens with the new key only.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { GetObjectCommand, ListObjectsV2Command } from '@aws-sdk/client-s3';
import { decodeRepositoryConfig } from '../../src-main/engine/meta/manifest';
import { adminClient, createBucket, RGW_ENDPOINT, removeBucket } from '../ceph/rgw';
import { cli, lastLine, ok, sha256File, tempDir, writeBlocks } from '../helpers';

async function object(bucket: string, key: string): Promise<Buffer> {
  const client = adminClient();
  try {
    const answer = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
    return Buffer.from(await answer.Body!.transformToByteArray());
  } finally {
    client.destroy();
  }
}

async function keys(bucket: string): Promise<string[]> {
  const client = adminClient();
  try {
    return ((await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: 'enc/repository/' }))).Contents ?? []).map((item) => item.Key!).sort();
  } finally {
    client.destroy();
  }
}

describe('key changes of an encrypted S3 repository', () => {
  const dir = tempDir();
  let bucket: string;
  const image = join(dir, 'image.raw');
  const base = (state: string): Record<string, string> => ({
    XDG_STATE_HOME: join(dir, state), AWS_ACCESS_KEY_ID: 'test', AWS_SECRET_ACCESS_KEY: 'testsecret', AWS_PROFILE: '',
    BLOCKVAULT_S3_ENDPOINT: RGW_ENDPOINT, BLOCKVAULT_S3_PATH_STYLE: '1',
  });
  const OLD = 'the first passphrase of this repository';
  const NEW = 'a second, better passphrase';
  const r = (): string[] => ['--repo', `s3://${bucket}/enc`];
  let uid: string;

  const restoresExact = async (env: Record<string, string>, extra: string[] = []): Promise<void> => {
    const target = join(dir, `restored-${Math.random().toString(36).slice(2)}`);
    await ok([...r(), ...extra, 'restore', uid, target], env);
    assert.equal(await sha256File(target), await sha256File(image));
  };
  const slotsAgree = async (): Promise<string[]> => {
    const config = JSON.parse((await object(bucket, 'enc/repository/blockvault.json')).toString('utf8')) as { encryption: { keys: Array<{ id: string; wrapped: string }> } };
    const stored = decodeRepositoryConfig(await object(bucket, 'enc/repository/config'));
    assert.deepEqual(stored.encryption?.keys.map((k) => [k.id, k.wrapped]), config.encryption.keys.map((k) => [k.id, k.wrapped]), 'repository/config holds the same slots');
    assert.deepEqual(await keys(bucket), ['enc/repository/blockvault.json', 'enc/repository/config'], 'no copy of an old config is left');
    return config.encryption.keys.map((k) => k.id);
  };

  before(async () => {
    bucket = await createBucket();
    writeBlocks(image, [1, 2, 0, 3, 4, 1, 5]);
    const env = { ...base('state-a'), BLOCKVAULT_PASSPHRASE: OLD };
    await ok(['init', `s3://${bucket}/enc`, '--block-size', '64K', '--encrypt'], env);
    uid = lastLine(await ok([...r(), 'backup', image, 'disk'], env));
  });
  after(async () => {
    await removeBucket(bucket);
  });

  it('changes the passphrase: the old one fails clearly, the new one opens and restores bit-exact', async () => {
    const [slot] = await slotsAgree();
    const changed = await cli([...r(), 'key', 'change-passphrase'], { env: { ...base('state-a'), BLOCKVAULT_PASSPHRASE: OLD, BLOCKVAULT_NEW_PASSPHRASE: NEW } });
    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual(await slotsAgree(), [slot], 'the same slot, wrapped again');

    for (const state of ['state-a', 'state-b']) {
      const refused = await cli([...r(), 'ls'], { env: { ...base(state), BLOCKVAULT_PASSPHRASE: OLD } });
      assert.equal(refused.code, 1);
      assert.match(refused.stderr, /\[WRONG_KEY\]: wrong passphrase: no key of this repository opens with it/);
      await restoresExact({ ...base(state), BLOCKVAULT_PASSPHRASE: NEW });
    }
    // recover reads repository/config: the new passphrase opens it, the old one does not.
    const oldRecover = await cli(['recover', `s3://${bucket}/enc`], { env: { ...base('state-a'), BLOCKVAULT_PASSPHRASE: OLD } });
    assert.match(oldRecover.stderr, /\[WRONG_KEY\]/);
    await ok(['recover', `s3://${bucket}/enc`], { ...base('state-a'), BLOCKVAULT_PASSPHRASE: NEW });
    await restoresExact({ ...base('state-a'), BLOCKVAULT_PASSPHRASE: NEW });
  });

  it('adds a key file and removes the passphrase slot', async () => {
    const keyFile = join(dir, 'repo.key');
    const env = { ...base('state-a'), BLOCKVAULT_PASSPHRASE: NEW };
    await ok([...r(), 'key', 'add', '--new-key-file', keyFile, '--generate'], env);
    const slots = await slotsAgree();
    assert.equal(slots.length, 2);
    const list = JSON.parse(await ok([...r(), 'key', 'list', '--json'], env)) as Array<{ id: string; kind: string; current: boolean }>;
    const passphraseSlot = list.find((k) => k.kind === 'passphrase')!;
    await ok([...r(), '--key-file', keyFile, 'key', 'remove', passphraseSlot.id], base('state-a'));
    assert.equal((await slotsAgree()).length, 1);
    const refused = await cli([...r(), 'ls'], { env: { ...base('state-b'), BLOCKVAULT_PASSPHRASE: NEW } });
    assert.match(refused.stderr, /\[WRONG_KEY\]/);
    await restoresExact(base('state-b'), ['--key-file', keyFile]);
    const last = await cli([...r(), '--key-file', keyFile, 'key', 'remove', slots.find((id) => id !== passphraseSlot.id)!], { env: base('state-a') });
    assert.equal(last.code, 1);
    assert.match(last.stderr, /last key/);
    assert.equal((await slotsAgree()).length, 1, 'a refused change leaves the config as it was');
  });
});
