// Job manager: queue and concurrency, states, cooperative cancel, throttled progress with
// the final state always sent, and history persisted in a real repository's SQLite.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { test } from 'node:test';
import type { Job } from '../../../../src-shared/api/types';
import type { Progress } from '../../../../src-shared/model';
import { EngineError } from '../../../../src-main/engine/errors';
import { Repository } from '../../../../src-main/engine/repository';
import { JobHistory } from '../../../../src-main/jobs/history';
import { JobManager, type JobContext } from '../../../../src-main/jobs/manager';
import { tempDir, until } from '../../fixtures';

const result = { kind: 'cleanup' as const, value: { full: false, objectsDeleted: 0, bytesFreed: 0, temporaryFilesDeleted: 0, incompleteVersionsRemoved: [], objectsWaiting: 0, bytesWaiting: 0 } };

function progress(done: number): Progress {
  return { phase: 'work', bytesDone: done, bytesTotal: 100, blocksDone: done, blocksTotal: 100, blocksNew: 0, blocksDedup: 0, blocksSparse: 0, blocksFromBase: 0, blocksInvalid: 0, bytesWritten: 0, rate: 1, eta: 1, elapsedMs: 1 };
}

/** A job body that runs until released or aborted. */
function controllable() {
  let release!: () => void;
  const released = new Promise<void>((resolve) => { release = resolve; });
  let context: JobContext | null = null;
  const run = async (ctx: JobContext) => {
    context = ctx;
    await Promise.race([
      released,
      new Promise<void>((_, reject) => ctx.signal.addEventListener('abort', () => reject(new EngineError('CANCELED', 'stopped on request')))),
    ]);
    return result;
  };
  return { run, release: () => release(), context: () => context };
}

test('jobs queue up to the concurrency limit and run in order', async () => {
  const manager = new JobManager({ maxConcurrent: 2 });
  const bodies = [controllable(), controllable(), controllable()];
  const jobs = bodies.map((body, i) => manager.submit({ kind: 'cleanup', title: `job ${i}`, params: {}, run: body.run }));
  assert.deepEqual(jobs.map((job) => job.state), ['running', 'running', 'queued'], 'submit returns the job as it stands');
  assert.deepEqual([0, 1, 2].map((i) => manager.get(jobs[i].id).state), ['running', 'running', 'queued']);
  bodies[0].release();
  await manager.wait(jobs[0].id);
  assert.equal(manager.get(jobs[0].id).state, 'succeeded');
  assert.equal(manager.get(jobs[2].id).state, 'running');
  bodies[1].release();
  bodies[2].release();
  const done = await manager.wait(jobs[2].id);
  assert.equal(done.state, 'succeeded');
  assert.deepEqual(done.result, result);
  assert.ok(done.started && done.ended && done.logs.some((line) => line.message === 'succeeded'));
});

test('an exclusive job waits for running jobs and runs alone', async () => {
  const manager = new JobManager({ maxConcurrent: 4 });
  const a = controllable();
  const exclusive = controllable();
  const b = controllable();
  const first = manager.submit({ kind: 'backup', title: 'a', params: {}, run: a.run });
  const full = manager.submit({ kind: 'cleanup', title: 'full', params: {}, exclusive: true, run: exclusive.run });
  const later = manager.submit({ kind: 'backup', title: 'b', params: {}, run: b.run });
  assert.equal(manager.get(full.id).state, 'queued');
  assert.equal(manager.get(later.id).state, 'queued', 'later jobs do not overtake the exclusive one');
  a.release();
  await until(() => manager.get(full.id).state === 'running');
  assert.equal(manager.get(later.id).state, 'queued');
  exclusive.release();
  await until(() => manager.get(later.id).state === 'running');
  b.release();
  await manager.wait(later.id);
  assert.equal(manager.get(first.id).state, 'succeeded');
});

test('cancel is cooperative: running -> canceling -> canceled; a queued job is canceled at once', async () => {
  const events: Job[] = [];
  const manager = new JobManager({ maxConcurrent: 1, onChange: (job) => events.push(job) });
  const running = controllable();
  const queued = controllable();
  const a = manager.submit({ kind: 'backup', title: 'a', params: {}, run: running.run });
  const b = manager.submit({ kind: 'backup', title: 'b', params: {}, run: queued.run });
  assert.equal(manager.cancel(b.id).state, 'canceled');
  const canceling = manager.cancel(a.id);
  assert.equal(canceling.state, 'canceling');
  assert.equal(running.context()!.signal.aborted, true);
  const done = await manager.wait(a.id);
  assert.equal(done.state, 'canceled');
  assert.equal(done.error?.code, 'CANCELED');
  assert.deepEqual(events.filter((e) => e.id === a.id).map((e) => e.state), ['queued', 'running', 'canceling', 'canceled']);
});

test('a failing job keeps its error code; an unknown job is NOT_FOUND', async () => {
  const manager = new JobManager();
  const job = manager.submit({ kind: 'restore', title: 'r', params: {}, run: async () => { throw new EngineError('TARGET_TOO_SMALL', 'target is 1 byte'); } });
  const done = await manager.wait(job.id);
  assert.equal(done.state, 'failed');
  assert.deepEqual(done.error, { code: 'TARGET_TOO_SMALL', message: 'target is 1 byte' });
  assert.ok(done.logs.some((line) => line.level === 'error' && line.message.includes('TARGET_TOO_SMALL')));
  assert.throws(() => manager.get('00000000-0000-0000-0000-000000000000'), (error: EngineError) => error.code === 'NOT_FOUND');
});

test('progress reaches listeners at most 5 times a second, and the final state always', async () => {
  const events: Job[] = [];
  const manager = new JobManager({ onChange: (job) => events.push(job) });
  const job = manager.submit({
    kind: 'scrub',
    title: 'busy',
    params: {},
    run: async ({ onProgress }) => {
      const end = Date.now() + 1000;
      let done = 0;
      while (Date.now() < end) {
        onProgress(progress(Math.min(99, done++)));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      onProgress(progress(100));
      return result;
    },
  });
  await manager.wait(job.id);
  const progressEvents = events.filter((e) => e.state === 'running' && e.progress);
  assert.ok(progressEvents.length >= 3 && progressEvents.length <= 7, `${progressEvents.length} progress events in 1 s`);
  const last = events[events.length - 1];
  assert.equal(last.state, 'succeeded');
  assert.equal(last.progress?.bytesDone, 100, 'the final event carries the final counters');
});

test('history persists in the repository; another process sees it, and a dead process\'s job reads as interrupted', async () => {
  const dir = tempDir();
  const repo = Repository.init(join(dir, 'repo'));
  try {
    const history = new JobHistory(repo.meta);
    const manager = new JobManager({ history });
    const body = controllable();
    const job = manager.submit({ kind: 'backup', title: 'persisted', params: { source: '/x', tags: ['a'] }, run: body.run });
    const row = history.get(job.id)!;
    assert.equal(row.state, 'running');
    assert.deepEqual(row.params, { source: '/x', tags: ['a'] });
    body.release();
    await manager.wait(job.id);
    const stored = new JobHistory(repo.meta).list();
    assert.equal(stored[0].id, job.id);
    assert.equal(stored[0].state, 'succeeded');
    assert.deepEqual(stored[0].result, result);

    // A row left running by a process that no longer exists.
    repo.meta.sql("UPDATE jobs SET state = 'running', ended = NULL, pid = 999999999 WHERE id = ?").run(job.id);
    assert.equal(history.get(job.id)!.state, 'failed');
    assert.match(history.get(job.id)!.error!.message, /interrupted/);
    assert.equal(history.markInterrupted(), 1);
    assert.equal((repo.meta.sql('SELECT state FROM jobs WHERE id = ?').get(job.id) as { state: string }).state, 'failed');
  } finally {
    repo.close();
  }
});
