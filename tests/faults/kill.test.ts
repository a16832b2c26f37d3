// Fault suite, kill: `kill -9` at random moments of backup (into a folder and into an S3
// repository on the shared RGW), restore, fast and full cleanup (folder and S3), import, prune
// and copy (folder -> folder and folder -> S3). The kills are spread evenly over these
// operations (each gets KILLS / 10, in a shuffled order).
//
// Every kill lands inside its operation. An operation's time runs from when its command starts
// running (its first line in its --log-file, written once Node has loaded the CLI) to when it
// has ended (the job's final progress line or the result it prints). Each operation's duration
// is measured unkilled first and again whenever a run ends on its own; a kill aims at a random
// moment of that duration, timed from the start line the test watches for. An attempt whose
// operation ended first is not a kill: what it did stays (a completed backup, import or copy
// leaves a valid version that is checked like any other; a completed restore's file is removed;
// a cleanup or prune gets new work before each attempt) and the trial tries again at a moment
// aimed earlier, up to MAX_ATTEMPTS (the suite fails when a trial cannot land its kill).
//
// After each kill, in every repository the killed job wrote to:
//   - the repository opens, every valid version deep-scrubs clean and restores bit-exact;
//   - a killed restore leaves no target that looks complete;
//   - a killed copy leaves no valid version that is not whole in the destination, and running
//     the same copy again completes it (valid, restores bit-exact);
//   - the next backup and cleanup finish within a bound;
//   - after that cleanup nothing is left over: no object the store holds or a row names that no
//     version references (an interrupted put's temporary file waits for the full cleanup), no
//     manifest without its version, no valid version without its manifest, no incomplete
//     version.
// At the end a full cleanup of each repository leaves no byte that no version references,
// temporary files included. Every failed check is collected with its seed and kill, so the
// figure counts kills survived. BLOCKVAULT_FAULT_OPS=backup,prune limits the operations (to
// try one quickly).
import assert from 'node:assert/strict';
import type { ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync, statSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { openStore, MANIFEST_PREFIX, OBJECT_PREFIX, type ObjectStore } from '../../src-main/engine/store/index';
import { createBucket, removeBucket, RGW_CREDENTIALS, RGW_ENDPOINT, s3Spec } from '../ceph/rgw';
import { backupCli, cli, lastLine, ok, query, sha256File, spawnCli, tempDir, writeBlocks } from '../helpers';
import { random, recordFigure, runSeed, timePart } from './figures';

const PART = 'kill';
const KILLS = Number(process.env.BLOCKVAULT_FAULT_KILLS ?? 50);
/** A backup, copy or cleanup after a kill that takes longer than this is hung. */
const BOUND_MS = 45_000;
/** Versions kept in each repository between kills (the oldest go, not killed). */
const MAX_VERSIONS = 4;
/** Attempts a trial may take to land its kill (each one after a run that ended first aims earlier). */
const MAX_ATTEMPTS = 8;

type RepoName = 'folder' | 's3' | 'copies';
type Op = 'backup' | 'backup s3' | 'restore' | 'cleanup' | 'cleanup --full' | 'cleanup s3' | 'import' | 'prune' | 'copy' | 'copy s3';
const ALL_OPS: Op[] = ['backup', 'backup s3', 'restore', 'cleanup', 'cleanup --full', 'cleanup s3', 'import', 'prune', 'copy', 'copy s3'];
const OPS: Op[] = process.env.BLOCKVAULT_FAULT_OPS ? process.env.BLOCKVAULT_FAULT_OPS.split(',').map((op) => {
  if (!ALL_OPS.includes(op as Op)) throw new Error(`BLOCKVAULT_FAULT_OPS: unknown operation "${op}" (one of ${ALL_OPS.join(', ')})`);
  return op as Op;
}) : ALL_OPS;
/** The repository each operation writes to: the one checked after its kill. */
const WRITES: Record<Op, RepoName> = {
  backup: 'folder', 'backup s3': 's3', restore: 'folder', cleanup: 'folder', 'cleanup --full': 'folder', 'cleanup s3': 's3',
  import: 'folder', prune: 'folder', copy: 'copies', 'copy s3': 's3',
};

/**
 * A line a command logs once its operation has ended: a job's final progress line, or the
 * result it prints (a backup's or import's UID, a copy's per-version line, the summaries of
 * backup, restore, cleanup, prune and copy, a prune's decision table).
 */
const ENDED = /% .* done$|^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}(:|$)|^(backed up|restored|deleted \d+ objects|removed \d+ version|copied \d+ version)|^date +uid/;

interface Outcome { code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string; ms: number; timedOut: boolean }

/** One run of an operation with a kill aimed at it. */
interface Attempt {
  outcome: Outcome;
  /** the kill landed: sent while the operation ran, and the process died of it */
  landed: boolean;
  /** ms from the operation's start to the kill, when one was sent */
  killedAt?: number;
  /** ms from the operation's start to its end, when it ended on its own (before the kill) */
  endedAt?: number;
  /** the command failed on its own */
  failed: boolean;
}

/** The lines of a --log-file: time (ms since the epoch) and text. */
function logLines(path: string): Array<{ at: number; text: string }> {
  return readFileSync(path, 'utf8').split('\n').filter((line) => /^\d{4}-\d\d-\d\dT[\d:.]{12}Z /.test(line))
    .map((line) => ({ at: Date.parse(line.slice(0, 24)), text: line.slice(25) }));
}

const median = (values: number[]): number => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)];

function run(child: ChildProcess, timeoutMs: number): Promise<Outcome> {
  const started = Date.now();
  let stdout = '';
  let stderr = '';
  let timedOut = false;
  child.stdout!.on('data', (d) => { stdout += d; });
  child.stderr!.on('data', (d) => { stderr += d; });
  child.stdin!.end();
  const timer = setTimeout(() => { timedOut = true; child.kill('SIGKILL'); }, timeoutMs);
  return new Promise((resolve) => child.on('close', (code, signal) => {
    clearTimeout(timer);
    resolve({ code, signal, stdout, stderr, ms: Date.now() - started, timedOut });
  }));
}

interface Repo {
  name: RepoName;
  /** what --repo takes */
  location: string;
  /** the folder holding its metadata.sqlite (an S3 repository's cache folder) */
  metaDir: string;
  store: ObjectStore;
}

interface Version { uid: string; name: string; valid: boolean }

/** An operation ready to run: its command line and what the checks after its kill need. */
interface Started { args: string[]; target?: string; restored?: string; copied?: string }

describe('fault suite: kill -9', { timeout: 1_800_000 }, () => {
  timePart(PART);
  const dir = tempDir('bv-faults-kill-');
  const seed = runSeed(PART);
  const rnd = random(seed);
  const pick = <T>(items: readonly T[]): T => items[Math.floor(rnd() * items.length)];
  /** image name -> its path and hash; a version's name is its image's name */
  const images = new Map<string, { path: string; sha256: string }>();
  const backedUp = (): string[] => [...images.keys()].filter((n) => n !== 'img4' && n !== 'junk');
  const exportFile = join(dir, 'imported.export');
  let importedUid = '';
  let bucket = '';
  const repos = {} as Record<RepoName, Repo>;
  /** how long each operation took (start to end, ms) in the runs that ended on their own */
  const durations = new Map<Op, number[]>();
  const logFile = join(dir, 'operation.log');
  // S3 repositories reach RGW through the environment; their metadata caches live in dir.
  Object.assign(process.env, {
    XDG_STATE_HOME: join(dir, 'state'), AWS_ACCESS_KEY_ID: RGW_CREDENTIALS.accessKeyId, AWS_SECRET_ACCESS_KEY: RGW_CREDENTIALS.secretAccessKey,
    AWS_PROFILE: '', BLOCKVAULT_S3_ENDPOINT: RGW_ENDPOINT, BLOCKVAULT_S3_PATH_STYLE: '1',
  });

  before(async () => {
    bucket = await createBucket('bv-faults-kill');
    const init = ['--block-size', '64K', '--grace-seconds', '0', '--min-age-days', '0'];
    for (const [name, location] of [['folder', join(dir, 'repo')], ['copies', join(dir, 'copies')], ['s3', `s3://${bucket}/kill`]] as const) {
      await ok(['init', location, ...init]);
      const s3 = location.startsWith('s3://');
      const metaDir = s3 ? join(dir, 'state', 'blockvault', 'repositories', readdirSync(join(dir, 'state', 'blockvault', 'repositories'))[0]) : location;
      const store = openStore(s3 ? s3Spec(bucket, { prefix: 'kill' }) : { kind: 'folder', root: location, direct: false });
      repos[name] = { name, location, metaDir, store };
    }
    // 4 MiB images sharing blocks with each other, with sparse runs.
    for (let i = 0; i < 5; i++) {
      const path = join(dir, `img${i}.img`);
      const seeds = Array.from({ length: 64 }, (_, b) => (b % 7 === 3 ? 0 : b % 3 === 0 ? 5000 + b : 100 * (i + 1) + b));
      writeBlocks(path, seeds);
      images.set(`img${i}`, { path, sha256: await sha256File(path) });
    }
    // Work for the cleanups: a 4 MiB image no other image shares a block with, backed up and
    // removed before each cleanup attempt.
    const junk = join(dir, 'junk.img');
    writeBlocks(junk, Array.from({ length: 64 }, (_, b) => 90_000 + b));
    images.set('junk', { path: junk, sha256: await sha256File(junk) });
    const folder = repos.folder.location;
    importedUid = await backupCli(folder, images.get('img4')!.path, 'img4');
    await ok(['--repo', folder, 'export', importedUid, '-f', exportFile]);
    await backupCli(folder, images.get('img0')!.path, 'img0');
    await backupCli(folder, images.get('img1')!.path, 'img1');
    await backupCli(repos.s3.location, images.get('img2')!.path, 'img2');
  });
  after(async () => {
    for (const repo of Object.values(repos)) await repo.store.close();
    if (bucket) await removeBucket(bucket);
  });

  async function versions(repo: Repo): Promise<Version[]> {
    const ls = await cli(['--repo', repo.location, 'ls', '--json']);
    if (ls.code !== 0) throw new Error(`ls of the ${repo.name} repository exited ${ls.code}: ${ls.stderr}`);
    return JSON.parse(ls.stdout) as Version[];
  }
  const validVersions = async (repo: Repo): Promise<Version[]> => (await versions(repo)).filter((v) => v.valid);
  /**
   * The valid versions as the metadata holds them, oldest first, read directly: between kills,
   * to prepare an operation or trim a repository (what `ls` shows, without a CLI process; the
   * checks after a kill use `ls`).
   */
  const validRows = (repo: Repo): Version[] => query<{ uid: string; name: string }>(repo.metaDir, 'SELECT uid, name FROM versions WHERE state = 1 ORDER BY date, id')
    .map((row) => ({ ...row, valid: true }));

  /** A valid version of the folder repository that `to` does not hold valid (one is removed there when it holds them all). */
  async function copyable(to: Repo): Promise<string> {
    const there = new Set(validRows(to).map((v) => v.uid));
    const mine = validRows(repos.folder);
    const candidates = mine.filter((v) => !there.has(v.uid));
    if (candidates.length) return pick(candidates).uid;
    const uid = pick(mine).uid;
    await ok(['--repo', to.location, 'rm', '--force', uid]);
    return uid;
  }

  /**
   * Prepares one operation (unkilled: work for a cleanup or prune, a restore target that is
   * not there yet, a version the destination of a copy lacks) and returns its command line.
   */
  async function start(op: Op): Promise<Started> {
    const folder = repos.folder.location;
    switch (op) {
      case 'backup':
      case 'backup s3': {
        const name = pick(backedUp());
        return { args: ['--repo', repos[WRITES[op]].location, 'backup', images.get(name)!.path, name] };
      }
      case 'restore': {
        const version = pick(validRows(repos.folder));
        const target = join(dir, 'killed-restore.img');
        rmSync(target, { force: true });
        return { args: ['--repo', folder, 'restore', version.uid, target], target, restored: version.uid };
      }
      case 'import':
        if (query(repos.folder.metaDir, 'SELECT 1 FROM versions WHERE uid = ?', importedUid).length) await ok(['--repo', folder, 'rm', '--force', importedUid]);
        return { args: ['--repo', folder, 'import', '-f', exportFile] };
      case 'prune': {
        // one version of each disk stays; the others go (at least one, backed up now if needed)
        const names = validRows(repos.folder).map((v) => v.name);
        if (names.every((name, i) => names.indexOf(name) === i)) {
          const name = pick(names.filter((n) => backedUp().includes(n))) ?? pick(backedUp());
          await backupCli(folder, images.get(name)!.path, name);
        }
        return { args: ['--repo', folder, 'prune', '--keep-last', '1'] };
      }
      case 'copy':
      case 'copy s3': {
        const to = repos[WRITES[op]];
        const uid = await copyable(to);
        return { args: ['--repo', folder, 'copy', uid, '--to', to.location], copied: uid };
      }
      default: {
        // a cleanup: the objects of a version removed just now are its work
        const repo = repos[WRITES[op]];
        const uid = await backupCli(repo.location, images.get('junk')!.path, 'junk');
        await ok(['--repo', repo.location, 'rm', '--force', uid]);
        const full = op === 'cleanup --full' || (op === 'cleanup s3' && rnd() < 0.5);
        return { args: ['--repo', repo.location, 'cleanup', ...(full ? ['--full'] : []), '--grace-seconds', '0'] };
      }
    }
  }

  /**
   * Runs an operation and sends SIGKILL `aimMs` after it starts (its first log line; no kill
   * when aimMs is Infinity). The kill landed when it was sent before the operation ended (no
   * line of its end in the log) and the process died of it.
   */
  async function attempt(args: string[], aimMs: number): Promise<Attempt> {
    writeFileSync(logFile, '');
    let startedAt: number | undefined;
    let killedAt: number | undefined;
    let timer: NodeJS.Timeout | undefined;
    let child: ChildProcess | undefined;
    const watcher = watch(logFile, () => {
      if (startedAt !== undefined || !Number.isFinite(aimMs)) return;
      const [first] = logLines(logFile);
      if (!first) return;
      startedAt = first.at;
      timer = setTimeout(() => { killedAt = Date.now() - first.at; child!.kill('SIGKILL'); }, Math.max(0, first.at + aimMs - Date.now()));
    });
    try {
      child = spawnCli(['--log-file', logFile, ...args]);
      const outcome = await run(child, BOUND_MS);
      clearTimeout(timer);
      const lines = logLines(logFile);
      const ended = lines.find((line) => ENDED.test(line.text));
      const landed = killedAt !== undefined && outcome.signal === 'SIGKILL' && !outcome.timedOut && !ended && lines.length > 0;
      const failed = !landed && (!ended || (outcome.signal !== 'SIGKILL' && outcome.code !== 0));
      return { outcome, landed, killedAt, endedAt: ended && lines[0] ? ended.at - lines[0].at : undefined, failed };
    } finally {
      watcher.close();
      clearTimeout(timer);
    }
  }

  /** Every valid version deep-scrubs clean and restores bit-exact. */
  async function checkVersions(repo: Repo, problems: string[]): Promise<Version[]> {
    const valid = await validVersions(repo);
    if (valid.length) {
      const scrub = await cli(['--repo', repo.location, 'scrub', '--deep', ...valid.map((v) => v.uid)]);
      if (scrub.code !== 0) problems.push(`${repo.name}: deep scrub of the valid versions exited ${scrub.code}: ${scrub.stdout}${scrub.stderr}`);
    }
    for (const version of valid) {
      const image = images.get(version.name)!;
      const restored = join(dir, 'check.img');
      rmSync(restored, { force: true });
      const result = await cli(['--repo', repo.location, 'restore', version.uid, restored]);
      if (result.code !== 0) problems.push(`${repo.name}: valid version ${version.uid} does not restore: ${result.stderr.trim()}`);
      else if ((await sha256File(restored)) !== image.sha256) problems.push(`${repo.name}: valid version ${version.uid} restores wrong bytes`);
      rmSync(restored, { force: true });
    }
    return valid;
  }

  /**
   * What no version needs, as the store and the rows are now: objects (files or rows) that no
   * block references, manifests of no version, valid versions without a manifest, incomplete
   * versions. `temporary`: also count leftovers of interrupted puts (a full cleanup's work).
   */
  async function leftovers(repo: Repo, temporary: boolean): Promise<{ bytes: number; items: string[] }> {
    const referenced = new Set(query<{ d: string }>(repo.metaDir, 'SELECT DISTINCT lower(hex(o.digest)) AS d FROM blocks b JOIN objects o ON o.id = b.object_id').map((r) => r.d));
    const rows = query<{ uid: string; state: number }>(repo.metaDir, 'SELECT uid, state FROM versions');
    const items: string[] = [];
    let bytes = 0;
    for await (const entry of repo.store.list(OBJECT_PREFIX)) {
      if (entry.temporary ? temporary : !referenced.has(entry.key.slice(OBJECT_PREFIX.length))) {
        items.push(entry.key);
        bytes += entry.size ?? (await repo.store.size(entry.key)) ?? 0;
      }
    }
    const manifests = new Set<string>();
    for await (const entry of repo.store.list(MANIFEST_PREFIX)) {
      if (entry.temporary) {
        if (temporary) { items.push(entry.key); bytes += entry.size ?? 0; }
        continue;
      }
      const uid = entry.key.slice(MANIFEST_PREFIX.length);
      manifests.add(uid);
      if (!rows.some((r) => r.uid === uid)) { items.push(`${entry.key} (no such version)`); bytes += entry.size ?? (await repo.store.size(entry.key)) ?? 0; }
    }
    for (const row of rows) {
      if (row.state === 0) items.push(`version ${row.uid} (incomplete)`);
      if (row.state === 1 && !manifests.has(row.uid)) items.push(`version ${row.uid} (valid, no manifest)`);
    }
    const unreferencedRows = query<{ d: string }>(repo.metaDir, 'SELECT lower(hex(o.digest)) AS d FROM objects o WHERE NOT EXISTS (SELECT 1 FROM blocks b WHERE b.object_id = o.id)');
    for (const row of unreferencedRows) items.push(`object row ${row.d.slice(0, 16)}.. (unreferenced)`);
    return { bytes, items };
  }

  it(`survives ${KILLS} kill -9 spread over backup (folder and S3), restore, cleanups, import, prune and copy`, async () => {
    // How long each operation takes here, unkilled (again whenever a run ends before its kill).
    for (const op of OPS) {
      const started = await start(op);
      const first = await attempt(started.args, Infinity);
      assert.ok(!first.failed && first.endedAt !== undefined, `${op}: exit ${first.outcome.code}: ${first.outcome.stderr}`);
      durations.set(op, [first.endedAt!]);
      if (started.target) rmSync(started.target, { force: true });
      if (op === 'prune') await backupCli(repos.folder.location, images.get('img3')!.path, 'img3');
    }
    const plan = Array.from({ length: KILLS }, (_, i) => OPS[i % OPS.length]);
    for (let i = plan.length - 1; i > 0; i--) {
      const j = Math.floor(rnd() * (i + 1));
      [plan[i], plan[j]] = [plan[j], plan[i]];
    }
    const failures: string[] = [];
    /** per operation: the kills that landed, at what fraction of its duration, and the attempts */
    const perOp = new Map<Op, { landed: number; attempts: number; fractions: number[] }>(OPS.map((op) => [op, { landed: 0, attempts: 0, fractions: [] }]));
    let landedKills = 0;
    let attempts = 0;
    let mostAttempts = 0;
    let leftoverAfterNext = 0;
    for (let kill = 0; kill < KILLS; kill++) {
      const op = plan[kill];
      const repo = repos[WRITES[op]];
      const tally = perOp.get(op)!;
      const problems: string[] = [];
      let label = `kill ${kill} (${op}, seed ${seed})`;
      let started: Started | undefined;
      let landed = false;
      // The first attempt aims anywhere in the operation's typical duration; each run that
      // ends first narrows the window to below its own duration.
      let window = median(durations.get(op)!);
      try {
        for (let n = 1; n <= MAX_ATTEMPTS && !landed; n++) {
          started = await start(op);
          const typical = median(durations.get(op)!);
          const aim = Math.floor(rnd() * window);
          const result = await attempt(started.args, aim);
          attempts++;
          tally.attempts++;
          mostAttempts = Math.max(mostAttempts, n);
          if (result.landed) {
            landed = true;
            landedKills++;
            tally.landed++;
            tally.fractions.push(result.killedAt! / typical);
            label = `kill ${kill} (${op} at ${result.killedAt} ms of ~${typical} ms, attempt ${n}, seed ${seed})`;
          } else if (result.failed) {
            const { outcome } = result;
            problems.push(`${op} failed before the kill (attempt ${n}): ${outcome.timedOut ? `did not end within ${BOUND_MS / 1000} s` : `exit ${outcome.code ?? outcome.signal}`}: ${outcome.stderr.trim()}`);
            break;
          } else {
            // It ended first: what it did stays (checked below like the rest); aim earlier.
            durations.get(op)!.push(result.endedAt!);
            window = Math.min(window, result.endedAt!) * 0.8;
            if (started.target) rmSync(started.target, { force: true });
          }
        }
      } catch (error) {
        problems.push(`preparing or running the operation failed: ${(error as Error).message}`);
      }
      if (!landed && !problems.length) problems.push(`no kill landed inside the operation in ${MAX_ATTEMPTS} attempts (it took ${durations.get(op)!.slice(-MAX_ATTEMPTS).join(', ')} ms)`);
      process.stderr.write(`${label}: ${landed ? 'landed' : 'NOT landed'}\n`);
      const { target, restored, copied } = started ?? {};

      try {
        // A killed restore: no file at the target, or one that is the whole version.
        if (target && existsSync(target)) {
          const [row] = query<{ name: string }>(repo.metaDir, 'SELECT name FROM versions WHERE uid = ?', restored);
          const image = images.get(row.name)!;
          if (statSync(target).size === statSync(image.path).size && (await sha256File(target)) !== image.sha256) {
            problems.push(`the killed restore left ${target} at full size with wrong content`);
          }
          rmSync(target, { force: true });
        }
        // The source of a copy only opens (the copy reads it).
        if (copied) await versions(repos.folder);
        await checkVersions(repo, problems);
        if (copied) {
          // Run again, the copy completes: the version is valid there and restores bit-exact.
          const again = await run(spawnCli(['--repo', repos.folder.location, 'copy', copied, '--to', repo.location]), BOUND_MS);
          if (again.timedOut) problems.push(`the copy run again did not finish within ${BOUND_MS / 1000} s`);
          else if (again.code !== 0) problems.push(`the copy run again failed: ${again.stderr.trim()}`);
          else {
            const there = (await validVersions(repo)).find((v) => v.uid === copied);
            if (!there) problems.push(`the copy run again did not leave ${copied} valid in ${repo.name}`);
            else {
              const restored = join(dir, 'check.img');
              rmSync(restored, { force: true });
              const result = await cli(['--repo', repo.location, 'restore', copied, restored]);
              if (result.code !== 0 || (await sha256File(restored)) !== images.get(there.name)!.sha256) problems.push(`the copied version ${copied} does not restore bit-exact: ${result.stderr.trim()}`);
              rmSync(restored, { force: true });
            }
          }
        }
        // The next backup (deduplicating onto what the killed job touched) and cleanup finish in bounded time.
        const name = pick(backedUp());
        const next = await run(spawnCli(['--repo', repo.location, 'backup', images.get(name)!.path, name]), BOUND_MS);
        if (next.timedOut) problems.push(`the next backup did not finish within ${BOUND_MS / 1000} s`);
        else if (next.code !== 0) problems.push(`the next backup failed: ${next.stderr.trim()}`);
        else if (!/^[0-9a-f-]{36}$/.test(lastLine(next.stdout))) problems.push(`the next backup printed no UID: ${next.stdout}`);
        // Keep the repository small: the oldest versions go (not killed), before the cleanup.
        const all = validRows(repo);
        for (const old of all.slice(0, Math.max(0, all.length - MAX_VERSIONS))) await ok(['--repo', repo.location, 'rm', '--force', old.uid]);
        const clean = await run(spawnCli(['--repo', repo.location, 'cleanup', '--grace-seconds', '0']), BOUND_MS);
        if (clean.timedOut) problems.push(`the next cleanup did not finish within ${BOUND_MS / 1000} s`);
        else if (clean.code !== 0) problems.push(`the next cleanup failed: ${clean.stderr.trim()}`);
        else {
          // What the killed job left is gone now (temporary files of interrupted puts: at the full cleanup).
          const left = await leftovers(repo, false);
          leftoverAfterNext += left.bytes;
          if (left.items.length) problems.push(`left over after the next cleanup (${left.bytes} bytes): ${left.items.join(', ')}`);
        }
      } catch (error) {
        problems.push(`the repository does not work: ${(error as Error).message}`);
      }
      if (problems.length) failures.push(`${label}: ${problems.join('; ')}`);
    }

    // Leftovers: after a full cleanup, nothing in any store that no version needs.
    let leftoverBytes = 0;
    const leftoverItems: string[] = [];
    for (const repo of Object.values(repos)) {
      const full = await cli(['--repo', repo.location, 'cleanup', '--full', '--grace-seconds', '0']);
      assert.equal(full.code, 0, full.stderr);
      const left = await leftovers(repo, true);
      leftoverBytes += left.bytes;
      leftoverItems.push(...left.items.map((item) => `${repo.name}: ${item}`));
    }
    const spread = (fractions: number[]): string => {
      if (!fractions.length) return '-';
      const sorted = [...fractions].sort((a, b) => a - b);
      return [sorted[0], median(sorted), sorted[sorted.length - 1]].map((f) => f.toFixed(2)).join('/');
    };
    recordFigure(PART, 'kills landed inside their operation', `${landedKills}/${KILLS}`, `${KILLS}/${KILLS}`);
    recordFigure(PART, 'attempts (runs that ended before their kill: retried)', `${attempts} for ${KILLS} kills, at most ${mostAttempts} for one`, `<= ${MAX_ATTEMPTS} per kill`);
    recordFigure(PART, 'kills survived / kills', `${KILLS - failures.length}/${KILLS}`, 'all, >= 50');
    for (const op of OPS) {
      const { landed, attempts: tries, fractions } = perOp.get(op)!;
      recordFigure(PART, `${op}: kills landed/attempts, moment (min/median/max of its duration)`, `${landed}/${tries}, ${spread(fractions)} of ${median(durations.get(op)!)} ms`);
    }
    recordFigure(PART, 'leftover bytes after the next cleanup, all kills', leftoverAfterNext, '0');
    recordFigure(PART, 'leftover bytes after a full cleanup', `${leftoverBytes} (${leftoverItems.length} items)`, '0');
    assert.equal(landedKills, KILLS, `only ${landedKills} of ${KILLS} kills landed inside their operation:\n${failures.join('\n')}`);
    assert.deepEqual(failures, [], `failed kills:\n${failures.join('\n')}`);
    assert.deepEqual(leftoverItems, [], 'left over after a full cleanup');
  });
});
