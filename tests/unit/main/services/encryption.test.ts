// Encrypted repositories through the services: create with a passphrase, back up, reopen
// (no passphrase and a wrong one fail with WRONG_KEY and change nothing), restore byte-exact;
// the passphrase appears in no job, log, event, recent list or file.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Job, RecentRepository, RepositoryInfo, RepositorySummary } from '../../../../src-shared/api/types';
import { createServices, type Services } from '../../../../src-main/services';
import { tempDir, writeImage } from '../../fixtures';
import { caller } from './caller';

const BLOCK = 64 * 1024;
const PASSPHRASE = 'Sesame-opens-7-blue-doors';
const dir = tempDir();
const configDir = join(dir, 'config');
const encrypted = join(dir, 'secret-repo');
const plain = join(dir, 'plain-repo');
let services: Services;
const events: string[] = [];

const { call, refusedWith } = caller(() => services);

/** Every file under `root` (the repository, the config folder): none may hold the passphrase. */
function filesHolding(root: string, secret: string): string[] {
  const found: string[] = [];
  const walk = (path: string): void => {
    if (statSync(path).isDirectory()) readdirSync(path).forEach((entry) => walk(join(path, entry)));
    else if (readFileSync(path).includes(Buffer.from(secret))) found.push(path);
  };
  if (existsSync(root)) walk(root);
  return found;
}

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

before(() => {
  services = createServices({ mode: 'web', configDir });
  services.events.on((name, payload) => events.push(`${name} ${JSON.stringify(payload)}`));
});
after(() => services.close());

test('an encrypted repository needs a passphrase of at least 8 characters; refusals create nothing', async () => {
  await refusedWith('INVALID_ARGUMENT', 'createRepository', { path: encrypted, encrypt: true });
  await refusedWith('INVALID_ARGUMENT', 'createRepository', { path: encrypted, encrypt: true, passphrase: 'short' });
  await refusedWith('INVALID_ARGUMENT', 'createRepository', { path: encrypted, passphrase: PASSPHRASE });
  assert.equal(existsSync(encrypted), false);
  assert.deepEqual(await call('listRecentRepositories', {}), []);
});

test('create encrypted, back up, reopen with the passphrase and restore byte-exact; wrong or missing passphrases change nothing', async () => {
  const created = await call<RepositoryInfo>('createRepository', { path: encrypted, blockSize: BLOCK, encrypt: true, passphrase: PASSPHRASE });
  assert.equal(created.settings.encrypted, true);
  assert.equal((await call<RepositorySummary>('getSummary', {})).encrypted, true);
  const image = join(dir, 'disk.raw');
  writeImage(image, 24, BLOCK);
  const backup = await services.context.jobs.wait((await call<Job>('startBackup', { source: image, name: 'disk' })).id);
  assert.equal(backup.state, 'succeeded', JSON.stringify(backup.error));
  const uid = backup.result!.kind === 'backup' ? backup.result!.value.uid : '';

  // A plain repository open meanwhile: failed attempts at the encrypted one leave it open.
  // (The encrypted one is closed first: an open repository opens again without its key.)
  await call('closeRepository', {});
  await call('createRepository', { path: plain, blockSize: BLOCK });
  assert.equal((await call<RepositorySummary>('getSummary', {})).encrypted, false);
  const recentBefore = await call<RecentRepository[]>('listRecentRepositories', {});
  assert.deepEqual(recentBefore.map((r) => [r.path, r.encrypted ?? false]), [[plain, false], [encrypted, true]]);

  assert.match(await refusedWith('WRONG_KEY', 'openRepository', { path: encrypted }), /is encrypted: enter its passphrase/);
  assert.match(await refusedWith('WRONG_KEY', 'openRepository', { path: encrypted, passphrase: 'not-the-passphrase' }), /wrong passphrase/);
  assert.equal((await call<RepositoryInfo>('getRepository', {})).path, plain, 'the open repository did not change');
  assert.deepEqual(await call('listRecentRepositories', {}), recentBefore, 'the recent list did not change');

  const reopened = await call<RepositoryInfo>('openRepository', { path: encrypted, passphrase: PASSPHRASE });
  assert.equal(reopened.settings.encrypted, true);
  assert.equal((await call<Array<{ uid: string }>>('listVersions', {}))[0].uid, uid);
  const target = join(dir, 'restored.raw');
  const restore = await services.context.jobs.wait((await call<Job>('startRestore', { uid, target })).id);
  assert.equal(restore.state, 'succeeded', JSON.stringify(restore.error));
  assert.equal(sha(target), sha(image));

  // Opening the open repository again needs nothing more; closing and opening needs the key again.
  assert.equal((await call<RepositoryInfo>('openRepository', { path: encrypted })).path, encrypted);
  await call('closeRepository', {});
  await refusedWith('WRONG_KEY', 'openRepository', { path: encrypted });
  assert.equal(await call('getRepository', {}), null);
});

test('the passphrase appears in no job, log, event, recent list or file', async () => {
  await call('openRepository', { path: encrypted, passphrase: PASSPHRASE });
  const jobs = await call<Job[]>('listJobs', {});
  assert.ok(jobs.length >= 2 && jobs.every((job) => job.logs.length > 0));
  assert.doesNotMatch(JSON.stringify(jobs), new RegExp(PASSPHRASE));
  assert.doesNotMatch(JSON.stringify(await call('listRecentRepositories', {})), new RegExp(PASSPHRASE));
  assert.ok(events.some((e) => e.startsWith('repositoryChanged')));
  assert.ok(events.every((e) => !e.includes(PASSPHRASE)), 'no event carries the passphrase');
  await call('closeRepository', {});
  assert.deepEqual(filesHolding(encrypted, PASSPHRASE), [], 'no file of the repository holds the passphrase');
  assert.deepEqual(filesHolding(configDir, PASSPHRASE), [], 'the config folder does not hold the passphrase');
  assert.match(readFileSync(join(configDir, 'settings.json'), 'utf8'), /"encrypted": true/);
});
