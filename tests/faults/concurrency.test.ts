// Fault suite, concurrency: rounds in which an incremental backup (rows copied from its base
// through hints) races the rm of that base, a full backup, a fast and a full cleanup and a
// restore, all started within a few hundred ms of each other. Every job ends within a bound
// (no hang); each ends ok or is refused with a code that says why (LOCKED, base gone); after
// each round every valid version deep-scrubs clean and restores bit-exact, so nothing a
// version references was deleted.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { BS, backupCli, cli, initRepo, ok, sha256File, sleep, spawnCli, tempDir, writeBlocks } from '../helpers';
import { random, recordFigure, runSeed } from './figures';

const PART = 'concurrency';
const ROUNDS = Number(process.env.BLOCKVAULT_FAULT_ROUNDS ?? 10);
const BOUND_MS = 60_000;

interface Outcome { what: string; code: number | null; stderr: string; timedOut: boolean }

function finish(what: string, child: ChildProcess): Promise<Outcome> {
  let stderr = '';
  let timedOut = false;
  child.stderr!.on('data', (d) => { stderr += d; });
  child.stdout!.resume();
  child.stdin!.end();
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, BOUND_MS);
  return new Promise((resolve) => child.on('close', (code) => { clearTimeout(timer); resolve({ what, code, stderr, timedOut }); }));
}

describe('fault suite: concurrency', { timeout: 900_000 }, () => {
  const dir = tempDir('bv-faults-race-');
  let repo: string;
  const seed = runSeed(PART);
  const rnd = random(seed);
  const images = new Map<string, { path: string; sha256: string }>();
  const hints = join(dir, 'x2.hints');

  before(async () => {
    repo = await initRepo(dir, ['--grace-seconds', '0', '--min-age-days', '0', '--compression', 'zstd:9']);
    const x = Array.from({ length: 128 }, (_, i) => (i % 9 === 4 ? 0 : 10_000 + i));
    const x2 = x.map((s, i) => (i % 16 === 5 ? 20_000 + i : s));
    const y = Array.from({ length: 96 }, (_, i) => (i % 2 ? 10_000 + i : 30_000 + i));
    for (const [name, seeds] of [['x', x], ['x2', x2], ['y', y]] as const) {
      const path = join(dir, `${name}.img`);
      writeBlocks(path, seeds);
      images.set(name, { path, sha256: await sha256File(path) });
    }
    writeFileSync(hints, JSON.stringify(x.flatMap((_, i) => (i % 16 === 5 ? [{ offset: i * BS, length: BS, exists: true }] : []))));
  });

  async function versions(): Promise<Array<{ uid: string; name: string; valid: boolean }>> {
    return JSON.parse(await ok(['--repo', repo, 'ls', '--json'])) as Array<{ uid: string; name: string; valid: boolean }>;
  }

  it(`${ROUNDS} rounds of backups racing rm of their base, cleanups and restores`, async () => {
    const failures: string[] = [];
    const tally = new Map<string, number>();
    let jobs = 0;
    for (let round = 0; round < ROUNDS; round++) {
      const label = `round ${round} (seed ${seed})`;
      let current = await versions();
      let base = current.filter((v) => v.valid && v.name === 'x').pop();
      if (!base) {
        await backupCli(repo, images.get('x')!.path, 'x');
        current = await versions();
        base = current.filter((v) => v.valid && v.name === 'x').pop()!;
      }
      const others = current.filter((v) => v.valid && v.uid !== base!.uid);
      const restoreOf = others.length ? others[Math.floor(rnd() * others.length)] : base;
      const restored = join(dir, 'raced-restore.img');
      rmSync(restored, { force: true });
      const plan: Array<[string, string[]]> = [
        ['incremental backup', ['backup', images.get('x2')!.path, 'x2', '--from', base.uid, '--hints', hints]],
        ['rm of its base', ['rm', '--force', base.uid]],
        ['full backup', ['backup', images.get(rnd() < 0.5 ? 'y' : 'x')!.path, rnd() < 0.5 ? 'y' : 'x']],
        ['fast cleanup', ['cleanup', '--grace-seconds', '0']],
        ['full cleanup', ['cleanup', '--full', '--grace-seconds', '0']],
        ['restore', ['restore', restoreOf.uid, restored]],
      ];
      // the full backup's name must match its image
      const full = plan[2][1];
      full[2] = full[1].endsWith('y.img') ? 'y' : 'x';
      const running = plan.map(async ([what, args]) => {
        // the rm lands anywhere from before the incremental backup starts to its end
        await sleep(Math.floor(rnd() * (what === 'rm of its base' ? 1500 : 400)));
        return finish(what, spawnCli(['--repo', repo, ...args]));
      });
      const outcomes = await Promise.all(running);
      jobs += outcomes.length;
      for (const outcome of outcomes) {
        const code = /error \[([A-Z_]+)\]/.exec(outcome.stderr)?.[1];
        const key = outcome.code === 0 ? `${outcome.what}: ok` : `${outcome.what}: ${code ?? `exit ${outcome.code}`}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (outcome.timedOut) failures.push(`${label}: ${outcome.what} hung (killed after ${BOUND_MS / 1000} s)`);
        else if (outcome.code !== 0) {
          // A clean refusal: the repository was locked by the full cleanup, or the base went away.
          const refusedCleanly = code === 'LOCKED' || (['incremental backup', 'restore'].includes(outcome.what) && (code === 'NOT_FOUND' || code === 'INVALID_ARGUMENT'));
          if (!refusedCleanly) failures.push(`${label}: ${outcome.what} failed: ${outcome.stderr.trim()}`);
        }
      }
      // Nothing referenced was deleted: every valid version is whole.
      const after = (await versions()).filter((v) => v.valid);
      if (after.length) {
        const scrub = await cli(['--repo', repo, 'scrub', '--deep', ...after.map((v) => v.uid)]);
        if (scrub.code !== 0) failures.push(`${label}: deep scrub of the valid versions exited ${scrub.code}: ${scrub.stdout}${scrub.stderr}`);
      }
      for (const version of after) {
        const target = join(dir, 'check.img');
        rmSync(target, { force: true });
        const result = await cli(['--repo', repo, 'restore', version.uid, target]);
        if (result.code !== 0) failures.push(`${label}: valid version ${version.uid} (${version.name}) does not restore: ${result.stderr.trim()}`);
        else if ((await sha256File(target)) !== images.get(version.name)!.sha256) failures.push(`${label}: ${version.uid} (${version.name}) restores wrong bytes`);
      }
      for (const old of after.slice(0, Math.max(0, after.length - 4))) await ok(['--repo', repo, 'rm', '--force', old.uid]);
    }
    recordFigure(PART, 'rounds / jobs raced', `${ROUNDS} / ${jobs}`);
    recordFigure(PART, 'outcomes', [...tally].sort().map(([k, v]) => `${k} ${v}`).join(', '));
    recordFigure(PART, 'hangs, referenced data lost, unclear failures', failures.length, '0');
    assert.deepEqual(failures, []);
  });
});
