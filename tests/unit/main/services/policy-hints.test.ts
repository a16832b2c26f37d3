// A backup policy with a hints command, through the scheduler on a controllable clock: the
// first run (no base) is full and does not run the command; an incremental runs it with the
// base version in its environment and reads only the blocks its stdout names (plus the samples
// checked against the base), restoring bit-exact; a command that fails or prints no hints
// fails the run and makes no version; stale hints are caught by the samples. Change sources
// that cannot go together are refused when the policy is saved.
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, openSync, readFileSync, writeFileSync, writeSync, closeSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { Policy, PolicyInfo } from '../../../../src-shared/api/policy';
import type { Job } from '../../../../src-shared/api/types';
import { createServices, type Services } from '../../../../src-main/services';
import { tempDir, writeImage } from '../../fixtures';
import { caller } from './caller';
import { FakeClock } from './fake-clock';

const BLOCK = 64 * 1024;
const BLOCKS = 32;
const dir = tempDir();
const image = join(dir, 'disk.raw');
const hints = join(dir, 'hints.json');
const baseSeen = join(dir, 'base-seen');
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');
const overwrite = (block: number, byte: number): void => {
  const fd = openSync(image, 'r+');
  writeSync(fd, Buffer.alloc(BLOCK, byte), 0, BLOCK, block * BLOCK);
  closeSync(fd);
};

let services: Services | undefined;
after(async () => { await services?.close(); });

test('a hints command: incrementals read what its stdout names, with the base in its environment; failures make no version', async () => {
  writeImage(image, BLOCKS, BLOCK);
  const clock = new FakeClock(Date.parse('2025-05-05T00:30:00Z'));
  services = createServices({ mode: 'daemon', configDir: join(dir, 'config'), schedule: true, rememberRecent: false, clock });
  const api = caller(() => services!);
  const repo = join(dir, 'repo');
  await api.call('createRepository', { path: repo, blockSize: BLOCK, minAgeDays: 0 });
  const policy = (extra: Partial<Policy>): Policy => ({ name: 'disk', kind: 'backup', enabled: true, schedule: { cron: '0 * * * *' }, source: image, ...extra });

  // Two change sources at once, or hints for a policy that never runs incrementally: refused.
  assert.match(await api.refusedWith('INVALID_ARGUMENT', 'savePolicy', { policy: policy({ source: `qcow2:${image}`, bitmap: 'b', hintsCommand: 'true' }), create: true }), /two change sources/);
  assert.match(await api.refusedWith('INVALID_ARGUMENT', 'savePolicy', { policy: policy({ incremental: false, hintsCommand: 'true' }), create: true }), /always backs up in full/);
  assert.match(await api.refusedWith('INVALID_ARGUMENT', 'savePolicy', { policy: policy({ kind: 'verify', source: undefined, hintsCommand: 'true' }), create: true }), /belong to backup policies/);
  assert.equal((await api.call<PolicyInfo[]>('listPolicies', {})).length, 0, 'nothing saved');

  await api.call('savePolicy', { policy: policy({ hintsCommand: `printf %s "$BLOCKVAULT_BASE_UID $BLOCKVAULT_BASE_SOURCE" > ${baseSeen}; cat ${hints}` }), create: true });
  const settle = (): Promise<void> => services!.scheduler!.idle();
  const backups = async (): Promise<Job[]> => (await api.call<Job[]>('listJobs', {})).filter((j) => j.kind === 'backup').reverse();
  type Stats = { bytesRead: number; blocksFromBase: number };
  const result = (job: Job): { uid: string; stats: Stats } => (job.result as { value: { uid: string; stats: Stats } }).value;
  const logOf = async (job: Job): Promise<string> => (await api.call<Job>('getJob', { id: job.id })).logs.map((l) => l.message).join('\n');
  const restoredSha = async (uid: string): Promise<string> => {
    const target = join(dir, `${uid}.raw`);
    const job = await api.call<Job>('startRestore', { uid, target });
    assert.equal((await services!.context.jobs.wait(job.id)).state, 'succeeded');
    return sha256(target);
  };

  await clock.moveTo('2025-05-05T01:00:00Z', settle);
  const [first] = await backups();
  assert.equal(first.state, 'succeeded', JSON.stringify(first.error));
  assert.equal(existsSync(baseSeen), false, 'no base: the hints command did not run');
  assert.match(await logOf(first), /no valid base version: a full backup, the hints command is not run/);
  const v1 = result(first).uid;

  // Blocks 5 and 6 change; the hints name a few bytes of each (every block a hint touches is read).
  overwrite(5, 0x55);
  overwrite(6, 0x66);
  writeFileSync(hints, JSON.stringify([{ offset: 5 * BLOCK + 10, length: 100, exists: true }, { offset: 6 * BLOCK, length: BLOCK, exists: 'true' }]));
  await clock.moveTo('2025-05-05T02:00:00Z', settle);
  const second = (await backups())[1];
  assert.equal(second.state, 'succeeded', JSON.stringify(second.error));
  assert.equal(readFileSync(baseSeen, 'utf8'), `${v1} ${image}`, 'the command is told the base version');
  assert.equal(result(second).stats.blocksFromBase, BLOCKS - 2);
  assert.ok(result(second).stats.bytesRead <= (2 + 10) * BLOCK, `read ${result(second).stats.bytesRead} bytes`);
  assert.match(await logOf(second), /hints command: 2 changed extent\(s\) since/);
  assert.equal(await restoredSha(result(second).uid), sha256(image));

  // A failing command, or one that prints no JSON: the run fails and makes no version.
  const versions = async (): Promise<number> => (await api.call<unknown[]>('listVersions', { name: 'disk' })).length;
  await api.call('savePolicy', { policy: policy({ hintsCommand: 'echo "no diff today" >&2; exit 3' }), create: false });
  await clock.moveTo('2025-05-05T03:00:00Z', settle);
  const third = (await backups())[2];
  assert.equal(third.state, 'failed');
  assert.match(third.error!.message, /exited with 3: no diff today/);
  await api.call('savePolicy', { policy: policy({ hintsCommand: 'echo nothing' }), create: false });
  await clock.moveTo('2025-05-05T04:00:00Z', settle);
  const fourth = (await backups())[3];
  assert.equal(fourth.error?.code, 'BAD_HINTS');
  assert.equal(await versions(), 2);

  // Stale hints ("nothing changed") while every block changed: the samples against the base catch it.
  writeImage(image, BLOCKS, BLOCK);
  await api.call('savePolicy', { policy: policy({ hintsCommand: 'echo "[]"' }), create: false });
  await clock.moveTo('2025-05-05T05:00:00Z', settle);
  const fifth = (await backups())[4];
  assert.equal(fifth.state, 'failed');
  assert.match(fifth.error!.message, /hints call unchanged/);
  assert.equal(await versions(), 2);
  assert.equal((await api.call<PolicyInfo[]>('listPolicies', {}))[0].run.lastState, 'failed');
});
