// Fault suite, kill: `kill -9` at random moments of backup, restore, fast and full cleanup and
// import. After each kill: the repository opens; every valid version deep-scrubs clean and
// restores bit-exact; a killed restore leaves no target that looks complete; the next backup
// and cleanup finish within a bound. At the end a full cleanup leaves no byte that no version
// references. Every failed check is collected with its seed and kill, so the figure counts
// kills survived.
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, rmSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { before, describe, it } from 'node:test';
import { backupCli, cli, initRepo, objectFiles, ok, query, sha256File, spawnCli, tempDir, writeBlocks } from '../helpers';
import { random, recordFigure, runSeed } from './figures';

const PART = 'kill';
const KILLS = Number(process.env.BLOCKVAULT_FAULT_KILLS ?? 50);
/** A backup or cleanup after a kill that takes longer than this is hung. */
const BOUND_MS = 45_000;
const MAX_VERSIONS = 5;

type Op = 'backup' | 'restore' | 'cleanup' | 'cleanup --full' | 'import';
const OPS: Op[] = ['backup', 'backup', 'restore', 'cleanup', 'cleanup --full', 'import'];

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number; timedOut: boolean }

function run(child: ChildProcess, timeoutMs: number, killAfterMs?: number): Promise<Outcome> {
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  child.stdin!.end();
  const timers = [setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs)];
  if (killAfterMs !== undefined) timers.push(setTimeout(() => child.kill('SIGKILL'), killAfterMs));
  return new Promise((resolve) => child.on('close', (code, signal) => {
    for (const timer of timers) clearTimeout(timer);
    resolve({ code, signal, stdout, stderr, ms: Date.now() - started, timedOut });
  }));
}

describe('fault suite: kill -9', () => {
  const dir = tempDir('bv-faults-kill-');
  let repo: string;
  const seed = runSeed(PART);
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
  /** image name -> its path and hash; a version's name is its image's name */
  const images = new Map<string, { path: string; sha256: string }>();
  const exportFile = join(dir, 'imported.export');
  let importedUid = '';
  const durations = new Map<Op, number>();

  before(async () => {
    repo = await initRepo(dir, ['--grace-seconds', '0']);
    // 6 MiB images sharing blocks with each other, with sparse runs.
    for (let i = 0; i < 5; i++) {
      const path = join(dir, `img${i}.img`);
      const seeds = Array.from({ length: 96 }, (_, b) => (b % 7 === 3 ? 0 : b % 3 === 0 ? 5000 + b : 100 * (i + 1) + b));
      writeBlocks(path, seeds);
      images.set(`img${i}`, { path, sha256: await sha256File(path) });
    }
    importedUid = await backupCli(repo, images.get('img4')!.path, 'img4');
    await ok(['--repo', repo, 'export', importedUid, '-f', exportFile]);
    await backupCli(repo, images.get('img0')!.path, 'img0');
  });

  async function validVersions(): Promise<Array<{ uid: string; name: string; valid: boolean }>> {
    const ls = await cli(['--repo', repo, 'ls', '--json']);
    if (ls.code !== 0) throw new Error(`ls exited ${ls.code}: ${ls.stderr}`);
    return (JSON.parse(ls.stdout) as Array<{ uid: string; name: string; valid: boolean }>).filter((v) => v.valid);
  }

  /** Starts one operation as a child process (and any unkilled preparation it needs). */
  async function start(op: Op): Promise<{ child: ChildProcess; target?: string }> {
    if (op === 'backup') {
      const name = pick([...images.keys()].filter((n) => n !== 'img4'));
      return { child: spawnCli(['--repo', repo, 'backup', images.get(name)!.path, name]) };
    }
    if (op === 'restore') {
      const versions = await validVersions();
      const version = pick(versions);
      const target = join(dir, 'killed-restore.img');
      rmSync(target, { force: true });
      return { child: spawnCli(['--repo', repo, 'restore', version.uid, target]), target };
    }
    if (op === 'import') {
      if (query(repo, 'SELECT 1 FROM versions WHERE uid = ?', importedUid).length) await ok(['--repo', repo, 'rm', '--force', importedUid]);
      return { child: spawnCli(['--repo', repo, 'import', '-f', exportFile]) };
    }
    return { child: spawnCli(['--repo', repo, ...op.split(' '), '--grace-seconds', '0']) };
  }

  it(`survives ${KILLS} kill -9 at random moments`, async () => {
    // How long each operation takes here: kills land uniformly over its lifetime.
    for (const op of ['backup', 'restore', 'cleanup', 'cleanup --full', 'import'] as Op[]) {
      const { child, target } = await start(op);
      const outcome = await run(child, BOUND_MS);
      assert.equal(outcome.code, 0, `${op}: ${outcome.stderr}`);
      durations.set(op, outcome.ms);
      if (target) rmSync(target, { force: true });
    }
    const failures: string[] = [];
    const perOp = new Map<Op, number>();
    let killedMidway = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const op = pick(OPS);
      perOp.set(op, (perOp.get(op) ?? 0) + 1);
      const at = Math.floor(rnd() * durations.get(op)! * 1.1);
      const label = `kill ${kill} (${op} at ${at} ms, seed ${seed})`;
      const problems: string[] = [];
      const { child, target } = await start(op);
      const outcome = await run(child, BOUND_MS, at);
      if (outcome.signal === 'SIGKILL') killedMidway++;
      else if (outcome.code !== 0) problems.push(`${op} failed before the kill: ${outcome.stderr.trim()}`);

      try {
        // A killed restore: no file at the target, or one that is the whole version.
        if (target && existsSync(target)) {
          const uid = /restore (\S+)/.exec(child.spawnargs.join(' '))![1];
          const [row] = query<{ name: string }>(repo, 'SELECT name FROM versions WHERE uid = ?', uid);
          const image = images.get(row.name)!;
          if (statSync(target).size === statSync(image.path).size && (await sha256File(target)) !== image.sha256) {
            problems.push(`the killed restore left ${target} at full size with wrong content`);
          }
          rmSync(target, { force: true });
        }
        const versions = await validVersions();
        if (versions.length) {
          const scrub = await cli(['--repo', repo, 'scrub', '--deep', ...versions.map((v) => v.uid)]);
          if (scrub.code !== 0) problems.push(`deep scrub of the valid versions exited ${scrub.code}: ${scrub.stdout}${scrub.stderr}`);
        }
        for (const version of versions) {
          const image = images.get(version.name)!;
          const restored = join(dir, 'check.img');
          rmSync(restored, { force: true });
          const result = await cli(['--repo', repo, 'restore', version.uid, restored]);
          if (result.code !== 0) problems.push(`valid version ${version.uid} does not restore: ${result.stderr.trim()}`);
          else if ((await sha256File(restored)) !== image.sha256) problems.push(`valid version ${version.uid} restores wrong bytes`);
          rmSync(restored, { force: true });
        }
        // The next backup (deduplicating onto what the killed job touched) and cleanup finish in bounded time.
        const name = pick([...images.keys()].filter((n) => n !== 'img4'));
        const next = await run(spawnCli(['--repo', repo, 'backup', images.get(name)!.path, name]), BOUND_MS);
        if (next.timedOut) problems.push(`the next backup did not finish within ${BOUND_MS / 1000} s`);
        else if (next.code !== 0) problems.push(`the next backup failed: ${next.stderr.trim()}`);
        const clean = await run(spawnCli(['--repo', repo, 'cleanup', '--grace-seconds', '0']), BOUND_MS);
        if (clean.timedOut) problems.push(`the next cleanup did not finish within ${BOUND_MS / 1000} s`);
        else if (clean.code !== 0) problems.push(`the next cleanup failed: ${clean.stderr.trim()}`);
        // Keep the repository small: the oldest versions go (not killed).
        const all = await validVersions();
        for (const old of all.slice(0, Math.max(0, all.length - MAX_VERSIONS))) await ok(['--repo', repo, 'rm', '--force', old.uid]);
      } catch (error) {
        problems.push(`the repository does not work: ${(error as Error).message}`);
      }
      if (problems.length) failures.push(`${label}: ${problems.join('; ')}`);
    }

    // Leftovers: after a full cleanup, no file in the store that no version references.
    const full = await cli(['--repo', repo, 'cleanup', '--full', '--grace-seconds', '0']);
    assert.equal(full.code, 0, full.stderr);
    const referenced = new Set(query<{ d: string }>(repo, 'SELECT DISTINCT lower(hex(o.digest)) AS d FROM blocks b JOIN objects o ON o.id = b.object_id').map((r) => r.d));
    let leftoverBytes = 0;
    let leftoverFiles = 0;
    for (const [path, size] of objectFiles(repo)) {
      const name = path.split('/').pop()!;
      if (!referenced.has(name)) { leftoverBytes += size; leftoverFiles++; }
    }
    recordFigure(PART, 'kills survived / kills', `${KILLS - failures.length}/${KILLS}`, 'all');
    recordFigure(PART, 'kills per operation', [...perOp].map(([op, n]) => `${op} ${n}`).join(', '));
    recordFigure(PART, 'killed before the operation ended', `${killedMidway}/${KILLS}`);
    recordFigure(PART, 'leftover bytes after a full cleanup', `${leftoverBytes} (${leftoverFiles} files)`, '0');
    assert.deepEqual(failures, [], `failed kills:\n${failures.join('\n')}`);
    assert.equal(leftoverBytes, 0, `${leftoverFiles} files nobody references remain after a full cleanup`);
  });
});

