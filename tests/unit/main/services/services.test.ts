// Services over a real repository: the boundary refuses bad calls and changes nothing;
// backups, restores and scrubs run as jobs; the rules of restore and delete hold.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import type { ApiMethod } from '../../../../src-shared/api/contract';
import type { Job } from '../../../../src-shared/api/types';
import { createServices, type Services } from '../../../../src-main/services';
import { tempDir, writeImage } from '../../fixtures';
import { caller } from './caller';

const BLOCK = 64 * 1024;
const dir = tempDir();
let services: Services;
const events: Array<{ name: string; payload: unknown }> = [];

const { call, refusedWith } = caller(() => services);

async function finished(job: Job): Promise<Job> {
  return services.context.jobs.wait(job.id);
}

const sha = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

before(() => {
  services = createServices({ mode: 'cli', configDir: join(dir, 'config') });
  services.events.on((name, payload) => events.push({ name, payload }));
});
after(() => services.close());

test('without a repository: NOT_A_REPOSITORY; bad calls are INVALID_ARGUMENT and change nothing', async () => {
  await refusedWith('NOT_A_REPOSITORY', 'getSummary', {});
  await refusedWith('INVALID_ARGUMENT', 'createRepository', { path: `${dir}/../escape` });
  await refusedWith('INVALID_ARGUMENT', 'createRepository', { path: 'relative', blockSize: 64 * 1024 });
  await refusedWith('INVALID_ARGUMENT', 'createRepository', { path: join(dir, 'r'), blockSize: 1e12 });
  await refusedWith('INVALID_ARGUMENT', 'noSuchMethod' as ApiMethod, {});
  await refusedWith('INVALID_ARGUMENT', 'constructor' as ApiMethod, {});
  assert.equal(existsSync(join(dir, 'r')), false);
  assert.equal(existsSync(join(dir, 'escape')), false);
  assert.deepEqual(await call('listRecentRepositories', {}), []);
});

test('create a repository, back up, compare, restore, scrub and delete through the services', async () => {
  const repo = join(dir, 'repo');
  await call('createRepository', { path: repo, blockSize: BLOCK });
  assert.deepEqual((await call('listRecentRepositories', {}) as Array<{ path: string }>).map((r) => r.path), [repo]);
  const image = join(dir, 'disk.raw');
  const data = writeImage(image, 20, BLOCK);

  await refusedWith('INVALID_ARGUMENT', 'startBackup', { source: image, name: 'disk', hints: '../x' });
  await refusedWith('NOT_FOUND', 'startBackup', { source: join(dir, 'missing.raw'), name: 'disk' });
  await refusedWith('INVALID_ARGUMENT', 'startBackup', { source: join(repo, 'metadata.sqlite'), name: 'disk' });
  assert.deepEqual(await call('listJobs', {}), [], 'refused calls started no job');

  const first = await finished(await call('startBackup', { source: image, name: 'disk', tags: ['t1'] }) as Job);
  assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
  assert.ok(events.some((e) => e.name === 'jobChanged'));
  assert.ok(events.some((e) => e.name === 'versionsChanged'));
  const v1 = first.result!.kind === 'backup' ? first.result!.value.uid : '';
  const base = await call('suggestBase', { name: 'disk' }) as { uid: string };
  assert.equal(base.uid, v1);

  const changed = Buffer.from(data);
  changed.fill(7, 5 * BLOCK, 6 * BLOCK);
  const image2 = join(dir, 'disk2.raw');
  writeFileSync(image2, changed);
  const second = await finished(await call('startBackup', { source: image2, name: 'disk', from: v1 }) as Job);
  assert.equal(second.state, 'succeeded');
  const v2 = second.result!.kind === 'backup' ? second.result!.value.uid : '';
  const comparison = await call('compareVersions', { left: v1, right: v2 }) as { states: number[]; differingBlocks: number };
  assert.equal(comparison.differingBlocks, 1);
  assert.equal(comparison.states[5], 1);
  const map = await call('getBlockMap', { uid: v2 }) as { states: number[] };
  assert.equal(map.states.length, 20);
  assert.equal(map.states[0], 0, 'block 0 is sparse');
  assert.equal(map.states[5], 1, 'block 5 is new in v2');
  assert.equal(map.states[1], 3, 'block 1 is unchanged from the base');
  const info = await call('getBlockInfo', { uid: v2, idx: 5 }) as { object: string; offset: number };
  assert.equal(info.object, createHash('sha256').update(changed.subarray(5 * BLOCK, 6 * BLOCK)).digest('hex'));
  assert.equal(info.offset, 5 * BLOCK);
  await refusedWith('INVALID_ARGUMENT', 'getBlockInfo', { uid: v2, idx: 20 });

  // Restore rules: a new file; an existing one only with force and the typed name; never smaller.
  const target = join(dir, 'restored.raw');
  const restored = await finished(await call('startRestore', { uid: v2, target }) as Job);
  assert.equal(restored.state, 'succeeded');
  assert.equal(sha(target), sha(image2));
  assert.equal(restored.result?.kind === 'restore' && restored.result.value.blocksVerified, 15);
  await refusedWith('TARGET_EXISTS', 'startRestore', { uid: v1, target });
  await refusedWith('INVALID_ARGUMENT', 'startRestore', { uid: v1, target, force: true, confirm: 'wrong' });
  const small = join(dir, 'small.raw');
  writeFileSync(small, Buffer.alloc(100));
  await refusedWith('TARGET_TOO_SMALL', 'startRestore', { uid: v1, target: small, force: true, confirm: 'small.raw' });
  assert.equal(readFileSync(small).length, 100, 'the small target is untouched');
  await refusedWith('INVALID_ARGUMENT', 'startRestore', { uid: v1, target: join(repo, 'out.raw') });
  await refusedWith('NOT_FOUND', 'startRestore', { uid: v1, target: join(dir, 'no', 'dir.raw') });
  const over = await finished(await call('startRestore', { uid: v1, target, force: true, confirm: 'restored.raw' }) as Job);
  assert.equal(over.state, 'succeeded');
  assert.equal(sha(target), sha(image));

  const scrubbed = await finished(await call('startScrub', { uids: [v1, v2], mode: 'deep' }) as Job);
  assert.equal(scrubbed.state, 'succeeded');
  assert.ok(scrubbed.result?.kind === 'scrub' && scrubbed.result.value.reports.every((r) => r.ok));
  const summary = await call('getSummary', {}) as { versions: number; health: string; dedupeRatio: number };
  assert.equal(summary.versions, 2);
  assert.equal(summary.health, 'ok');
  assert.ok(summary.dedupeRatio > 1.8);

  // Delete rules: too young without force, protected never; all or nothing.
  await call('setProtected', { uids: [v1], value: true });
  assert.match(await refusedWith('TOO_YOUNG', 'removeVersions', { uids: [v2] }), /minimum age/);
  await refusedWith('PROTECTED', 'removeVersions', { uids: [v2, v1], force: true });
  assert.equal((await call('listVersions', {}) as unknown[]).length, 2, 'nothing was removed');
  assert.deepEqual(await call('removeVersions', { uids: [v2], force: true }), { removed: [v2] });
  const estimate = await call('estimateCleanup', {}) as { waitingObjects: number };
  assert.equal(estimate.waitingObjects, 1, 'the object only v2 held waits out the grace period');
  const jobs = await call('listJobs', {}) as Job[];
  assert.equal(jobs.length, 5);
  assert.ok(jobs.every((job) => job.state === 'succeeded'));
});
