// The services behind what the GUI says (issue 12): health from every version's state and
// naming the versions; "jobs running at once" read back and kept; the store's bytes over
// time including canceled backups; per-version stored and exclusive bytes and last verified.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { Job, RepositoryInfo, RepositorySummary, StoragePoint, VersionFacts } from '../../../../src-shared/api/types';
import { createServices, type Services } from '../../../../src-main/services';
import { storageHistory } from '../../../../src-main/services/history';
import { VersionState } from '../../../../src-main/engine/meta/schema';
import { tempDir } from '../../fixtures';
import { caller } from './caller';

const BLOCK = 64 * 1024;
const dir = tempDir();
let services: Services;
const { call, refusedWith } = caller(() => services);
const uids: string[] = [];

async function backup(source: string, name: string): Promise<string> {
  const job = await services.context.jobs.wait((await call<Job>('startBackup', { source, name })).id);
  assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
  return job.result!.kind === 'backup' ? job.result!.value.uid : '';
}

before(async () => {
  services = createServices({ mode: 'cli', configDir: join(dir, 'config') });
  await call('createRepository', { path: join(dir, 'repo'), blockSize: BLOCK });
  const data = randomBytes(16 * BLOCK);
  writeFileSync(join(dir, 'a.raw'), data);
  randomBytes(BLOCK).copy(data, 3 * BLOCK);
  writeFileSync(join(dir, 'b.raw'), data);
  uids.push(await backup(join(dir, 'a.raw'), 'disk'), await backup(join(dir, 'b.raw'), 'disk'));
});
after(() => services.close());

test('health comes from every version, not the newest scrub, and names the versions', async () => {
  let summary = await call<RepositorySummary>('getSummary', {});
  assert.equal(summary.health, 'warning');
  assert.equal(summary.verification.neverVerified, 2);
  assert.ok(summary.healthReasons.some((r) => r.includes('never verified') && r.includes(uids[0].slice(0, 8)) && r.includes(uids[1].slice(0, 8))), summary.healthReasons.join(' / '));

  // A clean deep scrub of the newest version only: the older one is still never verified.
  const scrub = await services.context.jobs.wait((await call<Job>('startScrub', { uids: [uids[1]], mode: 'deep' })).id);
  assert.equal(scrub.state, 'succeeded');
  summary = await call<RepositorySummary>('getSummary', {});
  assert.equal(summary.health, 'warning', 'one clean scrub does not make every version good');
  assert.equal(summary.verification.verified, 1);
  assert.ok(summary.healthReasons.some((r) => r.includes('never verified') && r.includes(uids[0].slice(0, 8)) && !r.includes(uids[1].slice(0, 8))), summary.healthReasons.join(' / '));

  // An incomplete version (an interrupted backup) is named too.
  const repo = services.context.requireRepo();
  repo.meta.createVersion({ uid: '00000000-0000-4000-8000-00000000dead', name: 'crashed', snapshot: '', date: Date.now(), size: BLOCK, blockSize: BLOCK, baseUid: null, source: 'x', state: VersionState.incomplete });
  summary = await call<RepositorySummary>('getSummary', {});
  assert.ok(summary.healthReasons.some((r) => r.includes('incomplete') && r.includes('00000000')), summary.healthReasons.join(' / '));

  // Corrupt an object of the older version only (block 3 differs between them): error, naming it.
  const digest = (await call<{ object: string }>('getBlockInfo', { uid: uids[0], idx: 3 })).object;
  const file = join(dir, 'repo', 'objects', digest.slice(0, 2), digest.slice(2, 4), digest);
  const bytes = readFileSync(file);
  bytes[bytes.length >> 1] ^= 0xff;
  writeFileSync(file, bytes);
  await services.context.jobs.wait((await call<Job>('startScrub', { uids: [uids[0]], mode: 'deep' })).id);
  summary = await call<RepositorySummary>('getSummary', {});
  assert.equal(summary.health, 'error');
  assert.equal(summary.verification.failed, 1);
  assert.ok(summary.healthReasons.some((r) => r.includes('invalid') && r.includes(uids[0].slice(0, 8)) && !r.includes(uids[1].slice(0, 8))), summary.healthReasons.join(' / '));
});

test('per version: stored bytes, bytes only it holds, last verified', async () => {
  const facts = await call<VersionFacts[]>('listVersionFacts', {});
  const byUid = new Map(facts.map((f) => [f.uid, f]));
  const a = byUid.get(uids[0])!;
  const b = byUid.get(uids[1])!;
  assert.ok(a.storedBytes > 0 && b.storedBytes > 0);
  // 16 blocks, one differs: each version holds one object the other does not.
  assert.ok(a.exclusiveBytes > 0 && a.exclusiveBytes < a.storedBytes / 4, `${a.exclusiveBytes} of ${a.storedBytes}`);
  assert.ok(b.exclusiveBytes > 0 && b.exclusiveBytes < b.storedBytes / 4);
  assert.equal(b.lastVerified?.ok, true);
  assert.equal(b.lastVerified?.mode, 'deep');
  assert.equal(a.lastVerified?.ok, false);
  assert.equal(byUid.get('00000000-0000-4000-8000-00000000dead')?.lastVerified, null);
});

test('"jobs running at once" is read back after saving and kept for the next start', async () => {
  const info = await call<RepositoryInfo>('updateSettings', { maxConcurrentJobs: 5 });
  assert.equal(info.maxConcurrentJobs, 5);
  assert.equal((await call<RepositoryInfo>('getRepository', {})).maxConcurrentJobs, 5);
  // A later save of other fields keeps it.
  assert.equal((await call<RepositoryInfo>('updateSettings', { minAgeDays: 3 })).maxConcurrentJobs, 5);
  await refusedWith('INVALID_ARGUMENT', 'updateSettings', { maxConcurrentJobs: 0 });
  const again = createServices({ mode: 'cli', configDir: join(dir, 'config') });
  try {
    const result = await again.api.openRepository({ path: join(dir, 'repo') });
    assert.equal(result.maxConcurrentJobs, 5);
  } finally {
    await again.close();
  }
});

test('storage over time ends at what is stored and counts canceled backups and cleanups', async () => {
  const t = (s: number): string => new Date(Date.UTC(2026, 0, 1, 0, 0, s)).toISOString();
  const progress = (written: number) => ({ phase: 'x', bytesDone: 0, bytesTotal: 0, blocksDone: 0, blocksTotal: 0, blocksNew: 0, blocksDedup: 0, blocksSparse: 0, blocksFromBase: 0, blocksInvalid: 0, bytesWritten: written, rate: 0, eta: null, elapsedMs: 0 });
  const job = (id: string, kind: Job['kind'], state: Job['state'], ended: string, extra: Partial<Job>): Job => ({ id, kind, state, title: id, params: {}, progress: null, created: ended, started: ended, ended, result: null, error: null, logs: [], foreign: false, ...extra });
  const jobs: Job[] = [
    job('b1', 'backup', 'succeeded', t(10), { progress: progress(1000) }),
    job('b2', 'backup', 'canceled', t(20), { progress: progress(500) }),
    job('s1', 'scrub', 'succeeded', t(25), {}),
    job('b3', 'backup', 'failed', t(30), { progress: progress(300) }),
    job('c1', 'cleanup', 'succeeded', t(40), { result: { kind: 'cleanup', value: { full: false, objectsDeleted: 2, bytesFreed: 200, temporaryFilesDeleted: 0, incompleteVersionsRemoved: [], objectsWaiting: 0, bytesWaiting: 0 } } }),
  ];
  const points = storageHistory(jobs, 1600, t(50));
  assert.deepEqual(points.map((p) => p.storedBytes), [1000, 1500, 1800, 1600, 1600]);
  assert.deepEqual(points.map((p) => p.cause), ['backup', 'backup (canceled)', 'backup (failed)', 'cleanup', 'now']);
  // Data from before the job history: the line is lifted so that it ends at what is stored.
  assert.deepEqual(storageHistory(jobs, 2600, t(50)).map((p) => p.storedBytes), [2000, 2500, 2800, 2600, 2600]);

  const served = await call<StoragePoint[]>('getStorageHistory', {});
  const summary = await call<RepositorySummary>('getSummary', {});
  assert.equal(served[served.length - 1].storedBytes, summary.storedBytes);
  assert.ok(served.length >= 3, 'two backups and now');
});

test('a version verified long ago is named as such', async () => {
  const repo = services.context.requireRepo();
  repo.meta.sql('UPDATE scrubs SET date = date - ? WHERE version_uid = ?').run(40 * 86_400_000, uids[1]);
  const summary = await call<RepositorySummary>('getSummary', {});
  assert.equal(summary.verification.stale, 1);
  assert.ok(summary.healthReasons.some((r) => r.includes('more than 30 days ago') && r.includes(uids[1].slice(0, 8))), summary.healthReasons.join(' / '));
});
