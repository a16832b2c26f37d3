import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { cli, lastLine, seededBytes, sha256File, tempDir, writeImage } from '../helpers';

const BS = 64 * 1024;
const PASS = 'a long enough passphrase';

function objectFiles(repo: string): string[] {
  const root = join(repo, 'objects');
  return readdirSync(root).flatMap((a) => readdirSync(join(root, a)).flatMap((b) => readdirSync(join(root, a, b)).map((f) => join(root, a, b, f))));
}

describe('encrypted repositories', () => {
  const dir = tempDir();
  const repo = join(dir, 'repo');
  const image = join(dir, 'disk.img');
  const text = Buffer.from('plain text that must not appear in the store '.repeat(2000));
  const env = { BLOCKVAULT_PASSPHRASE: PASS };
  let uid = '';

  it('creates an encrypted repository and backs up, restores and scrubs through it', async () => {
    writeImage(image, 12 * BS + 100, [{ offset: 0, data: seededBytes(9, 3 * BS) }, { offset: 5 * BS, data: text }, { offset: 10 * BS, data: seededBytes(9, BS) }]);
    const init = await cli(['init', repo, '--block-size', '64K', '--encrypt'], { env });
    assert.equal(init.code, 0, init.stderr);
    assert.match(init.stdout, /encrypted/);
    const backup = await cli(['--repo', repo, 'backup', image, 'secret-vm-disk'], { env });
    assert.equal(backup.code, 0, backup.stderr);
    uid = lastLine(backup.stdout);
    const target = join(dir, 'restored.img');
    const restore = await cli(['--repo', repo, 'restore', uid, target], { env });
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(await sha256File(target), await sha256File(image));
    const scrub = await cli(['--repo', repo, 'scrub', '--deep', uid], { env });
    assert.equal(scrub.code, 0, scrub.stdout);
  });

  it('stores neither plaintext nor plaintext digests', async () => {
    const plainDigest = (await import('node:crypto')).createHash('sha256').update(seededBytes(9, BS)).digest('hex');
    const files = objectFiles(repo);
    assert.ok(files.length > 0);
    for (const file of files) {
      assert.ok(!file.includes(plainDigest), 'object named by a plaintext digest');
      const data = readFileSync(file);
      assert.equal(data[6], 1, 'encryption byte of the header');
      assert.ok(!data.includes(Buffer.from('plain text that must not appear')), `plaintext in ${file}`);
    }
  });

  it('refuses a wrong passphrase and a missing one with WRONG_KEY, changing nothing', async () => {
    const before = statSync(join(repo, 'metadata.sqlite')).mtimeMs;
    const wrong = await cli(['--repo', repo, 'ls'], { env: { BLOCKVAULT_PASSPHRASE: 'not the passphrase' } });
    assert.equal(wrong.code, 1);
    assert.match(wrong.stderr, /WRONG_KEY/);
    const none = await cli(['--repo', repo, 'backup', image, 'secret-vm-disk'], { env: { BLOCKVAULT_PASSPHRASE: '' } });
    assert.equal(none.code, 1);
    assert.match(none.stderr, /WRONG_KEY|passphrase/);
    assert.equal(statSync(join(repo, 'metadata.sqlite')).mtimeMs, before);
  });

  it('adds a key file, changes a passphrase and removes keys without re-encrypting data', async () => {
    const objectsBefore = objectFiles(repo).map((f) => readFileSync(f).toString('base64')).sort();
    const keyFile = join(dir, 'repo.key');
    const add = await cli(['--repo', repo, 'key', 'add', '--new-key-file', keyFile, '--generate'], { env });
    assert.equal(add.code, 0, add.stderr);
    const withKey = await cli(['--repo', repo, '--key-file', keyFile, 'ls', '--json']);
    assert.equal(withKey.code, 0, withKey.stderr);
    assert.equal(JSON.parse(withKey.stdout)[0].uid, uid);

    const change = await cli(['--repo', repo, 'key', 'change-passphrase'], { env: { ...env, BLOCKVAULT_NEW_PASSPHRASE: 'the second passphrase' } });
    assert.equal(change.code, 0, change.stderr);
    assert.match((await cli(['--repo', repo, 'ls'], { env })).stderr, /WRONG_KEY/);
    const newEnv = { BLOCKVAULT_PASSPHRASE: 'the second passphrase' };
    const list = await cli(['--repo', repo, 'key', 'list', '--json'], { env: newEnv });
    const keys = JSON.parse(list.stdout) as Array<{ id: string; kind: string }>;
    assert.equal(keys.length, 2);
    const passphraseKey = keys.find((k) => k.kind === 'passphrase')!;
    const fileKey = keys.find((k) => k.kind === 'keyfile')!;
    const remove = await cli(['--repo', repo, 'key', 'remove', passphraseKey.id], { env: newEnv });
    assert.equal(remove.code, 0, remove.stderr);
    assert.match((await cli(['--repo', repo, 'ls'], { env: newEnv })).stderr, /WRONG_KEY/);
    const last = await cli(['--repo', repo, '--key-file', keyFile, 'key', 'remove', fileKey.id]);
    assert.equal(last.code, 1);
    assert.match(last.stderr, /last key/);
    const target = join(dir, 'restored-by-keyfile.img');
    const restore = await cli(['--repo', repo, '--key-file', keyFile, 'restore', uid, target]);
    assert.equal(restore.code, 0, restore.stderr);
    assert.equal(await sha256File(target), await sha256File(image));
    assert.deepEqual(objectFiles(repo).map((f) => readFileSync(f).toString('base64')).sort(), objectsBefore);
  });

  it('reports a tampered object as invalid in scrub and fails restore', async () => {
    const keyFile = join(dir, 'repo.key');
    const file = objectFiles(repo)[0];
    const data = readFileSync(file);
    data[data.length - 20] ^= 0x01;
    writeFileSync(file, data);
    const scrub = await cli(['--repo', repo, '--key-file', keyFile, 'scrub', '--deep', uid]);
    assert.equal(scrub.code, 20, scrub.stdout + scrub.stderr);
    assert.match(scrub.stdout, /authentication failed/);
    const restore = await cli(['--repo', repo, '--key-file', keyFile, 'restore', uid, join(dir, 'never.img')]);
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /OBJECT_CORRUPT.*block \d+/);
  });

  it('encrypts exports and refuses an altered one', async () => {
    const keyFile = join(dir, 'repo.key');
    const file = join(dir, 'export.jsonl');
    const exported = await cli(['--repo', repo, '--key-file', keyFile, 'export', uid, '-f', file]);
    assert.equal(exported.code, 0, exported.stderr);
    const text = readFileSync(file, 'utf8');
    assert.match(text.split('\n')[0], /blockvault-metadata-encrypted/);
    assert.ok(!text.includes('secret-vm-disk'), 'version name readable in an encrypted export');
    const altered = text.slice(0, text.length - 10) + (text[text.length - 10] === 'A' ? 'B' : 'A') + text.slice(text.length - 9);
    writeFileSync(file, altered);
    const imported = await cli(['--repo', repo, '--key-file', keyFile, 'import', '-f', file]);
    assert.equal(imported.code, 1);
    assert.match(imported.stderr, /BAD_EXPORT/);
  });

  it('refuses a short passphrase at init', async () => {
    const result = await cli(['init', join(dir, 'weak'), '--encrypt'], { env: { BLOCKVAULT_PASSPHRASE: 'short' } });
    assert.equal(result.code, 1);
    assert.match(result.stderr, /at least 8/);
  });
});
