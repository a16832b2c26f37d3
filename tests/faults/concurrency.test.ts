// Fault suite, concurrency: rounds in which an incremental backup (rows copied from its base
// through hints) races the rm of that base, a prune (one version of each disk stays, so the
// base goes too once the round's full backup of it is done), a full backup, a copy into the
// repository from another one, a fast and a full cleanup and a restore, all started within a
// few hundred ms of each other. Every job ends
// within a bound (no hang); each ends ok or is refused with a code that says why (LOCKED, base
// gone; a prune names the versions it could not remove because a job used them); after each
// round every valid version deep-scrubs clean and restores bit-exact, so nothing a version
// references was deleted.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { BS, backupCli, cli, initRepo, ok, sha256File, sleep, spawnCli, tempDir, writeBlocks } from '../helpers';
import { random, recordFigure, runSeed, timePart } from './figures';

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
  timePart(PART);
  const dir = tempDir('bv-faults-race-');
  let repo: string;
  /** where the copied version comes from */
  let source: string;
  let copied = '';
  const seed = runSeed(PART);
  const rnd = random(seed);
  const images = new Map<string, { path: string; sha256: string }>();
  const hints = join(dir, 'x2.hints');

  before(async () => {
    repo = await initRepo(dir, ['--grace-seconds', '0', '--min-age-days', '0', '--compression', 'zstd:9']);
    const x = Array.from({ length: 128 }, (_, i) => (i % 9 === 4 ? 0 : 10_000 + i));
    const x2 = x.map((s, i) => (i % 16 === 5 ? 20_000 + i : s));
    const y = Array.from({ length: 96 }, (_, i) => (i % 2 ? 10_000 + i : 30_000 + i));
    // shares every other block with x
    const z = Array.from({ length: 64 }, (_, i) => (i % 2 ? 10_000 + i : 40_000 + i));
    for (const [name, seeds] of [['x', x], ['x2', x2], ['y', y], ['z', z]] as const) {
      const path = join(dir, `${name}.img`);
      writeBlocks(path, seeds);
      images.set(name, { path, sha256: await sha256File(path) });
    }
    source = await initRepo(dir, [], 'source');
    copied = await backupCli(source, images.get('z')!.path, 'z');
    writeFileSync(hints, JSON.stringify(x.flatMap((_, i) => (i % 16 === 5 ? [{ offset: i * BS, length: BS, exists: true }] : []))));
  });

  async function versions(): Promise<Array<{ uid: string; name: string; valid: boolean }>> {
    return JSON.parse(await ok(['--repo', repo, 'ls', '--json'])) as Array<{ uid: string; name: string; valid: boolean }>;
  }

  it(`${ROUNDS} rounds of backups racing rm of their base, prune, a copy into the repository, cleanups and restores`, async () => {
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
      // the copy has work to do: the version is not in the repository when the round starts
      if (current.some((v) => v.uid === copied)) await ok(['--repo', repo, 'rm', '--force', copied]);
      const others = current.filter((v) => v.valid && v.uid !== base!.uid && v.uid !== copied);
      const restoreOf = others.length ? others[Math.floor(rnd() * others.length)] : base;
      const restored = join(dir, 'raced-restore.img');
      rmSync(restored, { force: true });
      const plan: Array<[string, string[]]> = [
        ['incremental backup', ['backup', images.get('x2')!.path, 'x2', '--from', base.uid, '--hints', hints]],
        ['rm of its base', ['rm', '--force', base.uid]],
        ['prune', ['prune', '--keep-last', '1']],
        ['full backup', ['backup', images.get(rnd() < 0.5 ? 'y' : 'x')!.path, rnd() < 0.5 ? 'y' : 'x']],
        ['fast cleanup', ['cleanup', '--grace-seconds', '0']],
        ['copy into it', ['copy', copied, '--to', repo]],
        ['full cleanup', ['cleanup', '--full', '--grace-seconds', '0']],
        ['restore', ['restore', restoreOf.uid, restored]],
      ];
      // the full backup's name must match its image
      const full = plan.find(([what]) => what === 'full backup')![1];
      full[2] = full[1].endsWith('y.img') ? 'y' : 'x';
      const running = plan.map(async ([what, args]) => {
        // the rm lands anywhere from before the incremental backup starts to its end
        await sleep(Math.floor(rnd() * (what === 'rm of its base' || what === 'prune' ? 1500 : 400)));
        return finish(what, spawnCli(['--repo', what === 'copy into it' ? source : repo, ...args]));
      });
      const outcomes = await Promise.all(running);
      jobs += outcomes.length;
      for (const outcome of outcomes) {
        const code = /error \[([A-Z_]+)\]/.exec(outcome.stderr)?.[1];
        const partial = outcome.what === 'prune' && /could not remove \d+ version/.test(outcome.stderr);
        const key = outcome.code === 0 ? `${outcome.what}: ok` : `${outcome.what}: ${code ?? (partial ? 'some versions in use' : `exit ${outcome.code}`)}`;
        tally.set(key, (tally.get(key) ?? 0) + 1);
        if (outcome.timedOut) failures.push(`${label}: ${outcome.what} hung (killed after ${BOUND_MS / 1000} s)`);
        else if (outcome.code !== 0) {
          // A clean refusal: the repository was locked by the full cleanup, or the base went away
          // (also before its rm: the prune took it),
          // or a prune that names the versions it left because a running job used them.
          const refusedCleanly = code === 'LOCKED' || (['incremental backup', 'restore'].includes(outcome.what) && (code === 'NOT_FOUND' || code === 'INVALID_ARGUMENT'))
            || (outcome.what === 'rm of its base' && code === 'NOT_FOUND') // the prune removed it first
            || partial;
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
