// The daemon as a real process: it runs a missed slot on start (backup, prune, cleanup as jobs
// in the history), survives being killed and restarted (a killed daemon's claim is stale, the
// next one takes over), shows in `status`, stops on SIGTERM within 10 s, canceling a run that
// would take longer, and a second daemon on the same repository refuses to serve it.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import type { RepositoryStatus } from '../../src-shared/api/policy';
import type { Job } from '../../src-shared/api/types';
import { cli, exited, initRepo, ok, openDb, query, spawnCli, tempDir, waitFor, writeBlocks } from '../helpers';

describe('daemon', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'disk.img');

  /** Moves a policy's record two days back, so its last slot passed while nothing ran. */
  const missSlot = (name: string): void => {
    const db = openDb(repo, false);
    try {
      db.prepare('UPDATE policies SET created = created - ? WHERE name = ?').run(2 * 86_400_000, name);
      db.prepare('UPDATE policy_runs SET last_slot = last_slot - ? WHERE name = ?').run(2 * 86_400_000, name);
    } finally {
      db.close();
    }
  };
  const jobs = async (): Promise<Job[]> => JSON.parse(await ok(['--repo', repo, 'jobs', '--json'])) as Job[];
  const finishedBackups = (): number => query<{ n: number }>(repo, `SELECT count(*) AS n FROM jobs WHERE kind = 'backup' AND state = 'succeeded'`)[0].n;

  before(async () => {
    repo = await initRepo(dir, ['--min-age-days', '0']);
    writeBlocks(image, [1, 2, 0, 3]);
    await ok(['--repo', repo, 'policy', 'add', 'disk', '--source', image, '--every', '1d', '--keep-last', '1']);
  });

  it('runs a missed slot on start, is killed, restarts, and stops on SIGTERM', async () => {
    missSlot('disk');
    const first = spawnCli(['--repo', repo, 'daemon']);
    const firstExit = exited(first);
    await waitFor('the first run', () => query<{ n: number }>(repo, `SELECT count(*) AS n FROM jobs WHERE kind = 'cleanup' AND state = 'succeeded'`)[0].n === 1 || undefined, 60_000);
    assert.equal(finishedBackups(), 1);
    first.kill('SIGKILL');
    assert.equal((await firstExit).signal, 'SIGKILL');

    missSlot('disk');
    const second = spawnCli(['--repo', repo, 'daemon']);
    const secondExit = exited(second);
    await waitFor('the second run', () => finishedBackups() === 2 || undefined, 60_000);
    const status = JSON.parse(await ok(['--repo', repo, 'status', '--json'])) as RepositoryStatus;
    assert.equal(status.scheduler?.pid, second.pid, 'the restarted daemon took over the stale claim');
    assert.equal(status.scheduler?.mode, 'daemon');
    const disk = status.disks.find((d) => d.name === 'disk')!;
    assert.equal(disk.versions, 1, 'keep-last 1 pruned the first version');
    assert.equal(disk.lastBackupJob?.state, 'succeeded');
    assert.ok(disk.nextRun && Date.parse(disk.nextRun) > Date.now(), 'the next run is ahead');

    // A second daemon on the same repository does not serve it.
    const rival = await cli(['--repo', repo, 'daemon']);
    assert.equal(rival.code, 2);
    assert.match(rival.stderr, /served by the daemon \(pid \d+/);

    const stopping = Date.now();
    second.kill('SIGTERM');
    const end = await secondExit;
    assert.equal(end.code, 0, end.stderr);
    assert.ok(Date.now() - stopping < 10_000, 'stopped within 10 s');
    assert.equal(query<{ n: number }>(repo, 'SELECT count(*) AS n FROM schedulers')[0].n, 0, 'the claim is released');

    const history = await jobs();
    const runs = history.filter((j) => j.params.policy === 'disk');
    assert.equal(runs.length, 2, 'both runs are in the job history');
    assert.ok(history.filter((j) => j.kind === 'prune' && j.state === 'succeeded').length === 2);
    assert.match(await ok(['--repo', repo, 'jobs']), /backup\s+succeeded/);
  });

  it('SIGTERM cancels a run that would take longer, within 10 s, and the job reads canceled', async () => {
    await ok(['--repo', repo, 'policy', 'edit', 'disk', '--pre', 'sleep 60']);
    missSlot('disk');
    const daemon = spawnCli(['--repo', repo, 'daemon']);
    const end = exited(daemon);
    await waitFor('the run', () => query<{ n: number }>(repo, `SELECT count(*) AS n FROM jobs WHERE kind = 'backup' AND state = 'running'`)[0].n === 1 || undefined, 30_000);
    const stopping = Date.now();
    daemon.kill('SIGTERM');
    const result = await end;
    assert.equal(result.code, 0, result.stderr);
    assert.ok(Date.now() - stopping < 10_000, `stopped in ${Date.now() - stopping} ms`);
    const [last] = (await jobs()).filter((j) => j.kind === 'backup');
    assert.equal(last.state, 'canceled');
    const status = await cli(['--repo', repo, 'status', '--check']);
    assert.match(status.stdout, /^BLOCKVAULT (OK|WARNING|CRITICAL) - 1 disk/);
  });
});
