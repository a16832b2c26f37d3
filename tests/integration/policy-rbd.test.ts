// A backup policy that manages RBD snapshots, on the real one-node Ceph, through the scheduler
// on a controllable clock: each run snapshots the image (blockvault-<policy>-<UTC time>), backs the
// snapshot up incrementally with rbd diff --from-snap the base version's snapshot (reading
// only the changed blocks), restores bit-exact (sha256 against `rbd export` of that snapshot),
// and leaves only its own snapshot (and every snapshot Blockvault did not make). A canceled or
// failed run removes the snapshot it made; a base whose snapshot is gone means a full read, said in the log.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, test } from 'node:test';
import type { PolicyInfo } from '../../src-shared/api/policy';
import type { Job } from '../../src-shared/api/types';
import { createServices, type Services } from '../../src-main/services';
import { rbdSnapshotTag } from '../../src-main/engine/io/rbd-snapshots';
import { tempDir } from '../helpers';
import { run } from '../nbd-helpers';
import { caller } from '../unit/main/services/caller';
import { FakeClock } from '../unit/main/services/fake-clock';

const MiB = 1024 * 1024;
const BLOCK = 64 * 1024;
const BLOCKS = (16 * MiB) / BLOCK;
const CEPH_CONF = '/tmp/ceph/cluster/ceph.conf';
const dir = tempDir();
const image = `bv-policy-${randomBytes(4).toString('hex')}`;
const rbdCli = (...args: string[]): string => run('rbd', ['--conf', CEPH_CONF, ...args]);
const qemuIo = (...commands: string[]): void => {
  run('qemu-io', [...commands.flatMap((c) => ['-c', c]), `json:${JSON.stringify({ driver: 'raw', file: { driver: 'rbd', pool: 'rbd', image, conf: CEPH_CONF } })}`]);
};
const snapshots = (): string[] => (JSON.parse(rbdCli('snap', 'ls', '--format=json', `rbd/${image}`)) as Array<{ name: string }>).map((s) => s.name).sort();
const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

let services: Services | undefined;
after(async () => {
  await services?.close();
  spawnSync('rbd', ['--conf', CEPH_CONF, 'snap', 'purge', `rbd/${image}`]);
  spawnSync('rbd', ['--conf', CEPH_CONF, 'rm', '--no-progress', `rbd/${image}`]);
});

test('a policy with RBD snapshots: incrementals read only the changes, restore bit-exact, one Blockvault snapshot stays', { timeout: 600_000 }, async () => {
  run('tests/ceph/micro-ceph.sh', ['start']);
  rbdCli('create', '--size', '16M', `rbd/${image}`);
  qemuIo('write -P 0x41 0 4M', 'write -P 0x42 10M 1M');
  rbdCli('snap', 'create', `rbd/${image}@admin-keep`);

  const clock = new FakeClock(Date.parse('2025-04-07T00:30:00Z'));
  services = createServices({ mode: 'daemon', configDir: join(dir, 'config'), schedule: true, rememberRecent: false, clock });
  const api = caller(() => services!);
  const repo = join(dir, 'repo');
  await api.call('createRepository', { path: repo, blockSize: BLOCK, minAgeDays: 0 });
  const source = `rbd:rbd/${image}?conf=${CEPH_CONF}`;
  await api.refusedWith('INVALID_ARGUMENT', 'savePolicy', { policy: { name: 'vm', kind: 'backup', enabled: true, schedule: null, source: `rbd:rbd/${image}@s1`, rbdSnapshots: true }, create: true });
  await api.refusedWith('INVALID_ARGUMENT', 'savePolicy', { policy: { name: 'vm', kind: 'backup', enabled: true, schedule: null, source: join(dir, 'disk.raw'), rbdSnapshots: true }, create: true });
  await api.call('savePolicy', { policy: { name: 'vm', kind: 'backup', enabled: true, schedule: { cron: '0 * * * *' }, source, rbdSnapshots: true }, create: true });

  const settle = (): Promise<void> => services!.scheduler!.idle();
  const backups = async (): Promise<Job[]> => (await api.call<Job[]>('listJobs', {})).filter((j) => j.kind === 'backup').reverse();
  type Stats = { bytesRead: number; blocksFromBase: number };
  const result = (job: Job): { uid: string; stats: Stats } => (job.result as { value: { uid: string; stats: Stats } }).value;
  const logOf = async (job: Job): Promise<string> => (await api.call<Job>('getJob', { id: job.id })).logs.map((l) => l.message).join('\n');
  const restoreSha = async (uid: string, name: string): Promise<string> => {
    const target = join(dir, `${name}.raw`);
    const job = await api.call<Job>('startRestore', { uid, target });
    const done = await services!.context.jobs.wait(job.id);
    assert.equal(done.state, 'succeeded', JSON.stringify(done.error));
    return sha256(target);
  };
  /** One scheduled run at `iso`: the backup job, and the sha256 of `rbd export` of the snapshot it made. */
  const runAt = async (iso: string, snap: string): Promise<{ job: Job; exported: string }> => {
    await clock.moveTo(iso, settle);
    const job = (await backups()).pop()!;
    assert.equal(job.state, 'succeeded', JSON.stringify(job.error));
    assert.deepEqual(snapshots(), ['admin-keep', snap], 'only the snapshot just read stays beside the admin\'s');
    const file = join(dir, `${snap}.raw`);
    rbdCli('export', '--no-progress', `rbd/${image}@${snap}`, file);
    return { job, exported: sha256(file) };
  };

  // 1: a full backup of the first snapshot.
  const first = await runAt('2025-04-07T01:00:00Z', 'blockvault-vm-20250407T010000Z');
  const v1 = result(first.job).uid;
  const [version1] = await api.call<Array<{ snapshot: string; uid: string }>>('listVersions', { name: 'vm' });
  assert.equal(version1.snapshot, 'blockvault-vm-20250407T010000Z', 'the version records the snapshot it was read from');
  assert.equal(await restoreSha(v1, 'r1'), first.exported);

  // 2: three blocks written; the incremental reads them (and the ten blocks it samples against
  // the base). The writes land in RADOS objects (4 MiB) that exist at the base snapshot: in an
  // object created since, rbd diff reports everything from the object's start.
  qemuIo(`write -P 0x43 ${2 * MiB} 64k`, `write -P 0x44 ${11 * MiB} 128k`);
  const second = await runAt('2025-04-07T02:00:00Z', 'blockvault-vm-20250407T020000Z');
  assert.equal(second.job.params.from, v1);
  assert.match(await logOf(second.job), /rbd diff --from-snap blockvault-vm-20250407T010000Z/);
  assert.equal(result(second.job).stats.blocksFromBase, BLOCKS - 3);
  assert.ok(result(second.job).stats.bytesRead <= (3 + 10) * BLOCK, `read ${result(second.job).stats.bytesRead} bytes`);
  assert.equal(await restoreSha(result(second.job).uid, 'r2'), second.exported);

  // 3: one block rewritten, one discarded.
  qemuIo(`write -P 0x45 ${3 * MiB} 4k`, `write -z ${10 * MiB} 64k`);
  const third = await runAt('2025-04-07T03:00:00Z', 'blockvault-vm-20250407T030000Z');
  assert.equal(result(third.job).stats.blocksFromBase, BLOCKS - 2);
  assert.ok(result(third.job).stats.bytesRead <= (2 + 10) * BLOCK, `read ${result(third.job).stats.bytesRead} bytes`);
  assert.equal(await restoreSha(result(third.job).uid, 'r3'), third.exported);
  assert.notEqual(third.exported, second.exported);

  // 4 is canceled once it has made its snapshot: the snapshot goes, the base's stays.
  const moving = clock.moveTo('2025-04-07T04:00:00Z', settle);
  let canceled: Job | undefined;
  for (const deadline = Date.now() + 60_000; !canceled && Date.now() < deadline; await new Promise((resolve) => setTimeout(resolve, 5))) {
    canceled = services.context.jobs.list(5, 20).find((j) => j.kind === 'backup' && j.state === 'running' && j.logs.some((l) => l.message.startsWith('created snapshot')));
  }
  assert.ok(canceled, 'the fourth run started');
  await api.call('cancelJob', { id: canceled.id });
  await moving;
  const cancelRun = (await backups()).pop()!;
  assert.equal(cancelRun.id, canceled.id);
  assert.equal(cancelRun.state, 'canceled');
  assert.match(await logOf(cancelRun), /removed the snapshot rbd\/.*@blockvault-vm-20250407T040000Z this run made \(it did not finish\)/);
  assert.deepEqual(snapshots(), ['admin-keep', 'blockvault-vm-20250407T030000Z']);
  assert.equal((await api.call<unknown[]>('listVersions', { name: 'vm' })).length, 3, 'no version from the canceled run');

  // 5 fails after making its snapshot: the base's snapshot was replaced behind Blockvault's back
  // with newer content, so rbd diff misses changes and the samples against the base catch it.
  // The run removes the snapshot it made; the base's stays for the next run.
  qemuIo(`write -P 0x46 0 16M`);
  rbdCli('snap', 'rm', '--no-progress', `rbd/${image}@blockvault-vm-20250407T030000Z`);
  rbdCli('snap', 'create', '--no-progress', `rbd/${image}@blockvault-vm-20250407T030000Z`);
  await clock.moveTo('2025-04-07T05:00:00Z', settle);
  const failed = (await backups()).pop()!;
  assert.equal(failed.state, 'failed');
  assert.match(failed.error!.message, /hints call unchanged/);
  assert.match(await logOf(failed), /removed the snapshot rbd\/.*@blockvault-vm-20250407T050000Z this run made \(it did not finish\)/);
  assert.deepEqual(snapshots(), ['admin-keep', 'blockvault-vm-20250407T030000Z']);
  assert.equal((await api.call<PolicyInfo[]>('listPolicies', {}))[0].run.lastState, 'failed');

  // 6: the base's snapshot is gone: a full read, said in the log; restores bit-exact.
  rbdCli('snap', 'rm', '--no-progress', `rbd/${image}@blockvault-vm-20250407T030000Z`);
  const fifth = await runAt('2025-04-07T06:00:00Z', 'blockvault-vm-20250407T060000Z');
  assert.match(await logOf(fifth.job), /snapshot blockvault-vm-20250407T030000Z, which no longer exists: this run reads the whole image/);
  assert.equal(result(fifth.job).stats.blocksFromBase, 0);
  assert.equal(await restoreSha(result(fifth.job).uid, 'r5'), fifth.exported);
  assert.equal(sha256(join(dir, 'r5.raw')), createHash('sha256').update(Buffer.alloc(16 * MiB, 0x46)).digest('hex'));
  assert.deepEqual(snapshots(), ['admin-keep', 'blockvault-vm-20250407T060000Z']);

  // 7: a second policy on the same image keeps its own snapshot, and leaves the first one's.
  await api.call('savePolicy', { policy: { name: 'vm db', kind: 'backup', enabled: true, schedule: { cron: '30 * * * *' }, source, rbdSnapshots: true }, create: true });
  const dbSnap = (time: string): string => `blockvault-${rbdSnapshotTag('vm db')}-${time}`;
  assert.match(dbSnap('20250407T063000Z'), /^blockvault-vm_db_[0-9a-f]{8}-20250407T063000Z$/);
  await clock.moveTo('2025-04-07T06:30:00Z', settle);
  assert.equal((await backups()).pop()!.state, 'succeeded');
  assert.deepEqual(snapshots(), ['admin-keep', 'blockvault-vm-20250407T060000Z', dbSnap('20250407T063000Z')].sort());
  qemuIo(`write -P 0x47 ${5 * MiB} 64k`);
  await clock.moveTo('2025-04-07T07:00:00Z', settle);
  const vmRun = (await backups()).pop()!;
  assert.equal(vmRun.state, 'succeeded');
  assert.match(await logOf(vmRun), /rbd diff --from-snap blockvault-vm-20250407T060000Z/);
  assert.deepEqual(snapshots(), ['admin-keep', 'blockvault-vm-20250407T070000Z', dbSnap('20250407T063000Z')].sort(), "the first policy removed only its own older snapshot");
  await clock.moveTo('2025-04-07T07:30:00Z', settle);
  const dbRun = (await backups()).pop()!;
  assert.equal(dbRun.state, 'succeeded');
  assert.match(await logOf(dbRun), new RegExp(`rbd diff --from-snap ${dbSnap('20250407T063000Z')}`));
  assert.deepEqual(snapshots(), ['admin-keep', 'blockvault-vm-20250407T070000Z', dbSnap('20250407T073000Z')].sort());
  assert.equal(await restoreSha(result(dbRun).uid, 'r-db'), await restoreSha(result(vmRun).uid, 'r-vm'), 'both policies read the same unchanged image');
});
