// The scheduler on a controllable clock (no test waits for real minutes): slots of a cron
// policy run as jobs (backup, prune, fast cleanup) in the history; a run missed while nothing
// ran runs once on start; runs of one policy never overlap; a failing run is retried only at
// the next slot and its notification gets the job's JSON; one scheduler per repository.
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Policy, PolicyInfo } from '../../../../src-shared/api/policy';
import type { Job } from '../../../../src-shared/api/types';
import { createServices, type Services } from '../../../../src-main/services';
import { tempDir, writeImage } from '../../fixtures';
import { run } from '../../../nbd-helpers';
import { caller } from './caller';
import { FakeClock } from './fake-clock';

const BLOCK = 64 * 1024;
const dir = tempDir();
const repo = join(dir, 'repo');
const image = join(dir, 'disk.raw');
writeImage(image, 12, BLOCK);

const opened: Services[] = [];
function start(clock: FakeClock, notes: string[] = []): Services {
  const services = createServices({ mode: 'daemon', configDir: join(dir, 'config'), schedule: true, rememberRecent: false, clock, note: (line) => notes.push(line) });
  opened.push(services);
  return services;
}
after(async () => { for (const s of opened) await s.close(); });

const policy = (extra: Partial<Policy>): Policy => ({ name: 'disk', kind: 'backup', enabled: true, schedule: { cron: '0 * * * *' }, source: image, ...extra });

test('hourly slots run backup, prune and cleanup jobs; a missed run runs once on start; a second scheduler is refused', async () => {
  const clock = new FakeClock(Date.parse('2025-01-06T00:10:00Z'));
  let services = start(clock);
  let api = caller(() => services);
  await api.call('createRepository', { path: repo, blockSize: BLOCK, minAgeDays: 0 });
  assert.equal(services.scheduler!.serves(repo), true);
  const saved = await api.call<PolicyInfo>('savePolicy', { policy: policy({ retention: { keepLast: 2 } }), create: true });
  assert.equal(saved.nextRun, '2025-01-06T01:00:00.000Z');
  const settle = (): Promise<void> => services.scheduler!.idle();
  const jobs = async (): Promise<Job[]> => (await api.call<Job[]>('listJobs', {})).reverse();

  await clock.moveTo('2025-01-06T00:59:00Z', settle);
  assert.deepEqual(await jobs(), [], 'nothing before the first slot');
  await clock.moveTo('2025-01-06T01:00:00Z', settle);
  const first = await jobs();
  assert.deepEqual(first.map((j) => `${j.kind}:${j.state}`).sort(), ['backup:succeeded', 'cleanup:succeeded', 'prune:succeeded']);
  const at = (kind: string, field: 'started' | 'ended'): number => Date.parse(first.find((j) => j.kind === kind)![field]!);
  assert.ok(at('backup', 'ended') <= at('prune', 'started') && at('prune', 'ended') <= at('cleanup', 'started'), 'backup, then prune, then cleanup');
  assert.equal((await jobs())[0].params.policy, 'disk');
  await clock.moveTo('2025-01-06T03:30:00Z', settle);
  const runs = (await jobs()).filter((j) => j.kind === 'backup');
  assert.equal(runs.length, 3, 'the 02:00 and 03:00 slots ran');
  assert.equal(runs[1].params.from, runs[0].result?.kind === 'backup' ? runs[0].result.value.uid : '', 'incremental from the latest valid version');
  assert.equal((await api.call<unknown[]>('listVersions', { name: 'disk' })).length, 2, 'keep-last 2 pruned the oldest');
  const info = (await api.call<PolicyInfo[]>('listPolicies', {}))[0];
  assert.equal(info.run.lastState, 'succeeded');
  assert.equal(info.run.lastSlot, Date.parse('2025-01-06T03:00:00Z'));
  assert.equal(info.nextRun, '2025-01-06T04:00:00.000Z');

  // A second scheduler (the desktop app beside the daemon) does not serve the repository.
  const notes: string[] = [];
  const other = start(clock, notes);
  await caller(() => other).call('openRepository', { path: repo });
  assert.equal(other.scheduler!.serves(repo), false);
  assert.match(notes.join('\n'), /not scheduling here: the schedules of this repository are served by the daemon \(pid \d+/);
  await other.close();

  // Asleep for ten hours: on start, one run for the ten missed slots.
  await services.close();
  clock.time = Date.parse('2025-01-06T13:20:00Z');
  services = start(clock);
  api = caller(() => services);
  await api.call('openRepository', { path: repo });
  await services.scheduler!.idle();
  const afterSleep = (await jobs()).filter((j) => j.kind === 'backup');
  assert.equal(afterSleep.length, 4, 'exactly one catch-up run');
  assert.equal((await api.call<PolicyInfo[]>('listPolicies', {}))[0].run.lastSlot, Date.parse('2025-01-06T13:00:00Z'));
  await clock.moveTo('2025-01-06T13:59:00Z', settle);
  assert.equal((await jobs()).filter((j) => j.kind === 'backup').length, 4);
  await api.call('removePolicy', { name: 'disk' });
  await clock.moveTo('2025-01-06T16:00:00Z', settle);
  assert.equal((await jobs()).filter((j) => j.kind === 'backup').length, 4, 'a removed policy no longer runs');
});

test('no overlap: a slot that comes while the last run still runs is skipped; failures wait for the next slot and notify', async () => {
  const clock = new FakeClock(Date.parse('2025-02-01T00:00:30Z'));
  const notes: string[] = [];
  const services = start(clock, notes);
  const api = caller(() => services);
  const path = join(dir, 'repo2');
  await api.call('createRepository', { path, blockSize: BLOCK, minAgeDays: 0 });
  const marker = join(dir, 'pre-ran');
  // The pre command waits until the test lets it go, so the run is still going at the next slot.
  await api.call('savePolicy', { policy: policy({ schedule: { cron: '* * * * *' }, pre: `touch ${marker}; while [ ! -e ${marker}.go ]; do sleep 0.05; done` }), create: true });
  await clock.moveTo('2025-02-01T00:01:00Z', async () => {});
  await waitUntil(() => existsSync(marker));
  await clock.moveTo('2025-02-01T00:02:00Z', async () => {});
  assert.match(notes.join('\n'), /slot 2025-02-01T00:02:00.000Z skipped, the last run still runs/);
  const { writeFileSync } = await import('node:fs');
  writeFileSync(`${marker}.go`, '');
  await services.scheduler!.idle();
  const backups = (await api.call<Job[]>('listJobs', {})).filter((j) => j.kind === 'backup');
  assert.equal(backups.length, 1, 'one run for two slots');
  assert.equal(backups[0].state, 'succeeded');
  assert.ok(backups[0].logs.some((l) => l.message.startsWith('pre command:')), 'the pre command is in the job log');

  // A failing source: the run fails, is recorded, notifies, and is not retried before the next slot.
  const report = join(dir, 'failure.json');
  await api.call('savePolicy', { policy: policy({ name: 'broken', schedule: { cron: '0 * * * *' }, source: join(dir, 'missing.raw'), notify: { onFailure: `cat > ${report}` } }), create: true });
  const settle = (): Promise<void> => services.scheduler!.idle();
  await clock.moveTo('2025-02-01T01:00:00Z', settle);
  const failed = (await api.call<Job[]>('listJobs', {})).filter((j) => j.params.policy === 'broken');
  assert.deepEqual(failed.map((j) => j.state), ['failed']);
  assert.equal(failed[0].error?.code, 'NOT_FOUND');
  const sent = JSON.parse(readFileSync(report, 'utf8')) as { state: string; policy: string; job: Job };
  assert.equal(sent.state, 'failed');
  assert.equal(sent.policy, 'broken');
  assert.equal(sent.job.id, failed[0].id);
  const info = (await api.call<PolicyInfo[]>('listPolicies', {})).find((p) => p.name === 'broken')!;
  assert.equal(info.run.lastState, 'failed');
  assert.match(info.run.lastError ?? '', /NOT_FOUND/);
  await clock.moveTo('2025-02-01T01:59:00Z', settle);
  assert.equal((await api.call<Job[]>('listJobs', {})).filter((j) => j.params.policy === 'broken').length, 1, 'no retry loop');
  await clock.moveTo('2025-02-01T02:00:00Z', settle);
  assert.equal((await api.call<Job[]>('listJobs', {})).filter((j) => j.params.policy === 'broken').length, 2, 'retried at the next slot');
});

async function waitUntil(check: () => boolean): Promise<void> {
  const deadline = Date.now() + 20_000;
  while (!check()) {
    if (Date.now() > deadline) throw new Error('timed out');
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

test('a policy with a dirty bitmap: the first run creates it, each later run reads only what it marks and starts it afresh', async () => {
  const clock = new FakeClock(Date.parse('2025-03-03T00:30:00Z'));
  const services = start(clock);
  const api = caller(() => services);
  const path = join(dir, 'repo-bitmap');
  await api.call('createRepository', { path, blockSize: BLOCK, minAgeDays: 0 });
  const disk = join(dir, 'vm.qcow2');
  run('qemu-img', ['create', '-q', '-f', 'qcow2', disk, '4M']);
  run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x31 0 ${8 * BLOCK}`, disk]);
  await api.call('savePolicy', { policy: policy({ name: 'vm', source: `qcow2:${disk}`, bitmap: 'nightly' }), create: true });
  const settle = (): Promise<void> => services.scheduler!.idle();
  const backups = async (): Promise<Job[]> => (await api.call<Job[]>('listJobs', {})).filter((j) => j.kind === 'backup').reverse();
  const stats = (job: Job): { bytesRead: number; blocksFromBase: number } => (job.result as { value: { stats: { bytesRead: number; blocksFromBase: number } } }).value.stats;

  await clock.moveTo('2025-03-03T01:00:00Z', settle);
  const [first] = await backups();
  assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
  assert.match(run('qemu-img', ['info', '--output=json', disk]), /"name": "nightly"/, 'the first run created the bitmap');

  run('qemu-io', ['-f', 'qcow2', '-c', `write -P 0x32 ${20 * BLOCK} ${BLOCK}`, disk]);
  await clock.moveTo('2025-03-03T02:00:00Z', settle);
  const second = (await backups())[1];
  assert.equal(second.state, 'succeeded', JSON.stringify(second.error));
  assert.equal(second.params.bitmap, 'nightly');
  // the one block the bitmap marks, plus the ten blocks every incremental samples against its base
  assert.equal(stats(second).blocksFromBase, 64 - 1, 'every block the bitmap does not mark came from the base');
  assert.ok(stats(second).bytesRead <= BLOCK + 10 * BLOCK, `read ${stats(second).bytesRead} bytes`);

  await clock.moveTo('2025-03-03T03:00:00Z', settle);
  const third = stats((await backups())[2]);
  assert.equal(third.blocksFromBase, 64, 'the bitmap was started afresh: nothing changed since');
  assert.ok(third.bytesRead <= 10 * BLOCK, `read ${third.bytesRead} bytes (the samples only)`);
  const target = join(dir, 'vm-restored.raw');
  const last = (await backups())[2].result as { value: { uid: string } };
  const restore = await api.call<Job>('startRestore', { uid: last.value.uid, target });
  for (let state = restore.state; !['succeeded', 'failed', 'canceled'].includes(state); ) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    state = (await api.call<Job>('getJob', { id: restore.id })).state;
  }
  assert.match(run('qemu-img', ['compare', '-f', 'raw', '-F', 'qcow2', target, disk]), /Images are identical/);
  await api.call('savePolicy', { policy: policy({ name: 'bad', kind: 'verify', source: undefined, bitmap: 'x' }), create: true }).then(
    () => assert.fail('a bitmap on a verify policy must be refused'),
    (error: { code?: string }) => assert.equal(error.code, 'INVALID_ARGUMENT'),
  );
});
