// Cleanup: the fast cleanup's grace period, never deleting a referenced object (valid or
// not), the full mark-and-sweep under the exclusive lock, cleanup beside a running backup,
// and a backup killed with SIGKILL.
import assert from 'node:assert/strict';
import { execFileSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { afterEach, before, describe, it } from 'node:test';
import {
  ageObjects, backupCli, BS, cli, exited, freeze, initRepo, lsJson, objectFiles, objectNames, objectPath, ok, openDb, query, repoState, restoreEquals,
  runningBackup, seededBytes, sha256, sleep, spawnCli, tempDir, version, waitFor, writeBlocks,
} from '../helpers';

interface CleanupJson { objectsDeleted: number; bytesFreed: number; temporaryFilesDeleted: number; incompleteVersionsRemoved: string[]; objectsWaiting: number }

async function cleanupJson(repo: string, args: string[] = []): Promise<CleanupJson> {
  return JSON.parse(await ok(['--repo', repo, 'cleanup', '--json', ...args])) as CleanupJson;
}

const digestOf = (seed: number): string => sha256(seededBytes(seed, BS));

/** Object rows and object files agree: every row has its file and every file its row. */
function assertStoreMatchesRows(repo: string): void {
  const rows = query<{ d: string }>(repo, 'SELECT lower(hex(digest)) AS d FROM objects ORDER BY 1').map((r) => r.d);
  assert.deepEqual(objectNames(repo), rows);
  assert.deepEqual([...objectFiles(repo).keys()].filter((p) => !/\/[0-9a-f]{64}$/.test(p)), [], 'no temporary files');
}

function setLock(repo: string, name: string, mode: 'shared' | 'exclusive', pid: number, reason: string): void {
  const db = openDb(repo, false);
  db.prepare('INSERT INTO locks(name, mode, pid, host, since, reason) VALUES (?, ?, ?, ?, ?, ?)').run(name, mode, pid, hostname(), Date.now(), reason);
  db.close();
}

function clearLocks(repo: string): void {
  const db = openDb(repo, false);
  db.prepare('DELETE FROM locks').run();
  db.close();
}

describe('fast cleanup and its grace period', () => {
  const dir = tempDir();
  let repo: string;
  const imageA = join(dir, 'a.img');
  const imageB = join(dir, 'b.img');
  let b: string;

  before(async () => {
    repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '60']);
    writeBlocks(imageA, [1, 2, 3, 0]);
    writeBlocks(imageB, [3, 4]);
    const a = await backupCli(repo, imageA, 'a');
    b = await backupCli(repo, imageB, 'b');
    await ok(['--repo', repo, 'rm', a]);
  });

  it('keeps objects unreferenced for less than the grace period', async () => {
    const result = await cleanupJson(repo);
    assert.equal(result.objectsDeleted, 0);
    assert.equal(result.objectsWaiting, 2);
    for (const seed of [1, 2, 3, 4]) assert.ok(existsSync(objectPath(repo, digestOf(seed))), `object of seed ${seed} kept`);
    const text = await ok(['--repo', repo, 'cleanup']);
    assert.match(text, /2 unreferenced objects .* grace period/);
  });

  it('deletes objects unreferenced for longer than the grace period, only those', async () => {
    ageObjects(repo, Date.now() - 30_000, `digest = x'${digestOf(1)}'`);
    ageObjects(repo, Date.now() - 120_000, `digest = x'${digestOf(2)}'`);
    const result = await cleanupJson(repo);
    assert.equal(result.objectsDeleted, 1);
    assert.ok(result.bytesFreed > 0);
    assert.equal(result.objectsWaiting, 1);
    assert.equal(existsSync(objectPath(repo, digestOf(2))), false);
    assert.ok(existsSync(objectPath(repo, digestOf(1))));
    assertStoreMatchesRows(repo);
  });

  it('never deletes a referenced object, however old', async () => {
    ageObjects(repo, 0);
    const result = await cleanupJson(repo, ['--grace-seconds', '0']);
    assert.equal(result.objectsDeleted, 1, 'only the last unreferenced object');
    assert.deepEqual(objectNames(repo), [digestOf(3), digestOf(4)].sort());
    assertStoreMatchesRows(repo);
    await restoreEquals(repo, b, join(dir, 'b.restored'), imageB);
    const scrub = await cli(['--repo', repo, 'scrub', b, '--deep']);
    assert.equal(scrub.code, 0, scrub.stdout);
    const again = await cleanupJson(repo, ['--grace-seconds', '0']);
    assert.equal(again.objectsDeleted, 0);
  });

  it('never deletes an object referenced only by an invalid version', async () => {
    const imageC = join(dir, 'c.img');
    writeBlocks(imageC, [5, 6]);
    const c = await backupCli(repo, imageC, 'c');
    const damaged = objectPath(repo, digestOf(5));
    const bytes = readFileSync(damaged);
    bytes[100] ^= 1;
    writeFileSync(damaged, bytes);
    const scrub = await cli(['--repo', repo, 'scrub', c, '--deep']);
    assert.equal(scrub.code, 20);
    assert.equal((await version(repo, c)).valid, false);
    ageObjects(repo, 0);
    await cleanupJson(repo, ['--grace-seconds', '0']);
    await cleanupJson(repo, ['--full']);
    assert.ok(existsSync(damaged), 'the damaged object is still referenced and kept');
    assert.ok(existsSync(objectPath(repo, digestOf(6))));
    assert.equal((await lsJson(repo)).some((v) => v.uid === c), true);
  });
});

describe('full cleanup', () => {
  const dir = tempDir();
  let repo: string;
  const image = join(dir, 'x.img');
  let keep: string;

  before(async () => {
    repo = await initRepo(dir, ['--min-age-days', '0']);
    writeBlocks(image, [1, 2, 0, 3]);
    keep = await backupCli(repo, image, 'keep');
  });

  it('deletes unreferenced objects at once, stray objects and temporary files, and nothing referenced', async () => {
    const goneImage = join(dir, 'gone.img');
    writeBlocks(goneImage, [7, 8, 1]);
    const gone = await backupCli(repo, goneImage, 'gone');
    await ok(['--repo', repo, 'rm', gone]);
    const stray = sha256(Buffer.from('a stray object no row names'));
    mkdirSync(join(repo, 'objects', stray.slice(0, 2), stray.slice(2, 4)), { recursive: true });
    writeFileSync(objectPath(repo, stray), 'stray');
    const temp = `${objectPath(repo, digestOf(1))}.tmp-99999-0`;
    writeFileSync(temp, 'half written');
    const fast = await cleanupJson(repo);
    assert.equal(fast.objectsDeleted, 0, 'fast cleanup waits for the grace period');
    assert.ok(existsSync(objectPath(repo, stray)), 'fast cleanup does not sweep the store');
    const full = await cleanupJson(repo, ['--full']);
    assert.equal(full.objectsDeleted, 3, 'two unreferenced objects and the stray one');
    assert.equal(full.temporaryFilesDeleted, 1);
    assert.equal(existsSync(temp), false);
    assert.deepEqual(objectNames(repo), [digestOf(1), digestOf(2), digestOf(3)].sort());
    assertStoreMatchesRows(repo);
    await restoreEquals(repo, keep, join(dir, 'keep.restored'), image);
  });

  it('refuses to run while another process holds a lock, and blocks backups while it runs', async () => {
    // A live backup (this test process stands in for it) holds a shared lock.
    setLock(repo, 'backup:00000000-0000-0000-0000-000000000001', 'shared', process.pid, 'backup of /dev/sdz as busy');
    const before = repoState(repo);
    const refused = await cli(['--repo', repo, 'cleanup', '--full']);
    assert.equal(refused.code, 1);
    assert.match(refused.stderr, /\[LOCKED\].*backup of \/dev\/sdz/);
    assert.equal(repoState(repo), before);
    const fast = await cli(['--repo', repo, 'cleanup']);
    assert.equal(fast.code, 0, 'fast cleanup runs beside backups');
    clearLocks(repo);

    // A full cleanup (again this process) holds the exclusive lock: backups fail clearly.
    setLock(repo, 'repository', 'exclusive', process.pid, 'full cleanup');
    for (const args of [['backup', image, 'blocked'], ['cleanup'], ['restore', keep, join(dir, 'blocked.img')]]) {
      const result = await cli(['--repo', repo, ...args]);
      assert.equal(result.code, 1, `${args[0]} while locked: ${result.stderr}`);
      assert.match(result.stderr, /\[LOCKED\].*full cleanup/);
    }
    assert.equal(repoState(repo), before, 'nothing changed while locked');
    assert.equal(existsSync(join(dir, 'blocked.img')), false);
    const list = await cli(['--repo', repo, 'ls', '--json']);
    assert.equal(list.code, 0, 'reading needs no lock');
    clearLocks(repo);
  });

  it('takes over a lock whose process is gone', async () => {
    const dead = spawnCli(['--version']);
    const pid = dead.pid!;
    await exited(dead);
    setLock(repo, 'repository', 'exclusive', pid, 'full cleanup that crashed');
    const uid = await backupCli(repo, image, 'after-stale-lock');
    await restoreEquals(repo, uid, join(dir, 'stale.restored'), image);
    assert.deepEqual(query(repo, 'SELECT * FROM locks'), [], 'the stale lock is gone and the backup released its own');
  });
});

describe('cleanup beside a running backup, and a killed backup', { timeout: 240_000 }, () => {
  const dir = tempDir();
  const children: ChildProcess[] = [];
  /** Starts a CLI child that is killed after the test if a failed assertion left it behind. */
  const start = (args: string[]): ChildProcess => {
    const child = spawnCli(args);
    children.push(child);
    return child;
  };
  afterEach(() => {
    for (const child of children.splice(0)) {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGCONT');
        child.kill('SIGKILL');
      }
    }
  });
  let repo: string;
  const big = join(dir, 'big.img');
  // 192 blocks: every third repeats one of 64 blocks of an older, removed version (objects
  // old enough for cleanup to take), the others are new. zstd:19 makes the backup slow
  // enough (seconds) to act while it runs.
  const oldSeeds = Array.from({ length: 64 }, (_, i) => 1000 + i);
  const bigSeeds = Array.from({ length: 192 }, (_, i) => (i % 3 === 0 ? oldSeeds[(i / 3) % 64] : 5000 + i));

  before(async () => {
    repo = await initRepo(dir, ['--compression', 'zstd:19', '--min-age-days', '0']);
    writeBlocks(big, bigSeeds);
  });

  async function makeDyingObjects(): Promise<void> {
    const old = join(dir, 'old.img');
    writeBlocks(old, oldSeeds);
    const uid = await backupCli(repo, old, 'old');
    await ok(['--repo', repo, 'rm', uid]);
    ageObjects(repo, Date.now() - 2 * 3600_000, 'NOT EXISTS (SELECT 1 FROM blocks b WHERE b.object_id = objects.id)');
  }

  it('fast cleanup never takes what a running backup needs, even with --grace-seconds 0; --full is refused meanwhile', async () => {
    await makeDyingObjects();
    // Through stdin, the first half first: the old objects of the second half are not reached
    // until the rest comes, however fast the backup runs.
    const data = readFileSync(big);
    const child = start(['--repo', repo, 'backup', '-', 'big']);
    const done = exited(child);
    // A few blocks at a time (block rows are written every half second while blocks come).
    let fed = 0;
    for (; fed < data.length / 2 && !runningBackup(repo, 24); fed += 4 * BS) {
      child.stdin!.write(data.subarray(fed, fed + 4 * BS));
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    await waitFor('the backup to write rows', () => runningBackup(repo, 24));
    // Frozen mid-run: some old objects are already deduplicated, others not yet; some new
    // objects are written but not yet referenced by any row.
    await freeze(child, repo);
    const pendingBefore = query<{ n: number }>(repo, 'SELECT count(*) AS n FROM objects WHERE state = 0')[0].n;
    const first = await cleanupJson(repo);
    assert.ok(first.objectsDeleted > 0 && first.objectsDeleted < 64, `deleted ${first.objectsDeleted} old objects the backup had not reached`);
    const reckless = await cleanupJson(repo, ['--grace-seconds', '0']);
    assert.equal(reckless.objectsDeleted, 0, 'nothing the running backup inserted or touched is taken');
    assert.equal(query<{ n: number }>(repo, 'SELECT count(*) AS n FROM objects WHERE state = 0')[0].n, pendingBefore);
    const full = await cli(['--repo', repo, 'cleanup', '--full']);
    assert.equal(full.code, 1);
    assert.match(full.stderr, /\[LOCKED\].*backup of/);
    child.kill('SIGCONT');
    child.stdin!.end(data.subarray(fed));
    const backup = await done;
    assert.equal(backup.code, 0, backup.stderr);
    const uid = backup.stdout.trim().split('\n').pop()!;
    await restoreEquals(repo, uid, join(dir, 'big.restored'), big);
    const scrub = await cli(['--repo', repo, 'scrub', uid, '--deep']);
    assert.equal(scrub.code, 0, scrub.stdout);
    const dangling = query(repo, 'SELECT b.idx FROM blocks b LEFT JOIN objects o ON o.id = b.object_id WHERE b.object_id IS NOT NULL AND o.id IS NULL');
    assert.deepEqual(dangling, [], 'every block row names an existing object');
    await cleanupJson(repo, ['--grace-seconds', '0']);
    await cleanupJson(repo, ['--full']);
    assertStoreMatchesRows(repo);
    await restoreEquals(repo, uid, join(dir, 'big.restored2'), big);
    await ok(['--repo', repo, 'rm', uid]);
    await cleanupJson(repo, ['--full']);
    assert.deepEqual(objectNames(repo), []);
  });

  it('fast cleanups racing a running backup leave it restorable', async () => {
    await makeDyingObjects();
    // The image comes through stdin in six parts with two cleanups after each, so every
    // cleanup runs while the backup does (however fast the machine), between and during its reads.
    const data = readFileSync(big);
    const child = start(['--repo', repo, 'backup', '-', 'big']);
    const done = exited(child);
    const part = Math.ceil(data.length / 6);
    let cleanups = 0;
    for (let offset = 0; offset < data.length; offset += part) {
      child.stdin!.write(data.subarray(offset, offset + part));
      for (const grace of [3600, 0]) {
        const result = await cli(['--repo', repo, 'cleanup', '--grace-seconds', String(grace)]);
        assert.equal(result.code, 0, result.stderr);
        assert.equal(child.exitCode, null, 'the backup still runs: it waits for the rest of its input');
        cleanups++;
      }
    }
    child.stdin!.end();
    const backup = await done;
    assert.equal(backup.code, 0, backup.stderr);
    assert.equal(cleanups, 12);
    const uid = backup.stdout.trim().split('\n').pop()!;
    await restoreEquals(repo, uid, join(dir, 'race.restored'), big);
    const scrub = await cli(['--repo', repo, 'scrub', uid, '--deep']);
    assert.equal(scrub.code, 0, scrub.stdout);
    await ok(['--repo', repo, 'rm', uid]);
    await cleanupJson(repo, ['--full']);
    assert.deepEqual(objectNames(repo), []);
  });

  it('a backup killed with SIGKILL leaves no valid version; cleanup removes the incomplete one', async () => {
    // Through stdin, without its last quarter: the backup is still running when it is killed,
    // however fast it is (from the file it could finish between the poll and the kill). Rows
    // are written in batches, at the latest with the first block that comes 500 ms after the
    // last batch: a pause, then more blocks.
    const child = start(['--repo', repo, 'backup', '-', 'killed']);
    const done = exited(child);
    child.stdin!.on('error', () => undefined); // EPIPE once it is killed
    const data = readFileSync(big);
    child.stdin!.write(data.subarray(0, 96 * BS));
    await sleep(700);
    child.stdin!.write(data.subarray(96 * BS, 144 * BS));
    const running = await waitFor('the backup to write some rows', () => runningBackup(repo, 10));
    child.kill('SIGKILL');
    const result = await done;
    assert.equal(result.signal, 'SIGKILL', 'the backup was still running when killed');
    const killed = await version(repo, running.uid);
    assert.equal(killed.valid, false);
    assert.equal(killed.status, 'incomplete');

    const restore = await cli(['--repo', repo, 'restore', running.uid, join(dir, 'killed.img')]);
    assert.equal(restore.code, 1);
    assert.match(restore.stderr, /incomplete/);
    assert.equal(existsSync(join(dir, 'killed.img')), false);
    const exported = await cli(['--repo', repo, 'export', running.uid, '-f', join(dir, 'killed.jsonl')]);
    assert.equal(exported.code, 1);
    const scrubAll = await cli(['--repo', repo, 'scrub', '--all']);
    assert.equal(scrubAll.code, 0, 'scrub --all skips incomplete versions');

    const fast = await cleanupJson(repo);
    assert.deepEqual(fast.incompleteVersionsRemoved, [running.uid]);
    assert.equal(fast.objectsDeleted, 0, 'its objects are fresh: the grace period protects them');
    assert.ok(fast.objectsWaiting > 0);
    assert.deepEqual(await lsJson(repo), []);
    const full = await cleanupJson(repo, ['--full']);
    assert.ok(full.objectsDeleted > 0);
    assert.deepEqual(objectNames(repo), []);
    assertStoreMatchesRows(repo);
    assert.deepEqual(query(repo, 'SELECT count(*) AS n FROM blocks'), [{ n: 0 }]);

    const uid = await backupCli(repo, big, 'after-kill');
    await restoreEquals(repo, uid, join(dir, 'after-kill.restored'), big);
    const scrub = await cli(['--repo', repo, 'scrub', uid, '--deep']);
    assert.equal(scrub.code, 0);
  });

  it('a backup killed before its objects were referenced is healed by the next backup', async () => {
    // Kill early, then back up again at once (no cleanup in between): objects the killed
    // process left pending are rewritten, not trusted.
    const other = join(dir, 'other.img');
    writeBlocks(other, Array.from({ length: 96 }, (_, i) => 9000 + i));
    // Through stdin, and only its first half: the backup is still running when it is killed.
    const child = start(['--repo', repo, 'backup', '-', 'killed-early']);
    const done = exited(child);
    child.stdin!.on('error', () => undefined); // EPIPE once it is killed
    child.stdin!.write(readFileSync(other).subarray(0, 48 * BS));
    await waitFor('an object file', () => objectNames(repo).some((n) => n === digestOf(9000) || n === digestOf(9001)) || undefined, 30_000, 5);
    child.kill('SIGKILL');
    assert.equal((await done).signal, 'SIGKILL');
    execFileSync('sync');
    const uid = await backupCli(repo, other, 'retry');
    await restoreEquals(repo, uid, join(dir, 'retry.restored'), other);
    const scrub = await cli(['--repo', repo, 'scrub', uid, '--deep']);
    assert.equal(scrub.code, 0, scrub.stdout);
    const cleaned = await cleanupJson(repo);
    assert.equal(cleaned.incompleteVersionsRemoved.length, 1);
    await restoreEquals(repo, uid, join(dir, 'retry.restored2'), other);
  });
});
