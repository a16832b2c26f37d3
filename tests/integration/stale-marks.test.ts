// Stale `deleting` marks left by a killed cleanup (issue 9 #1): the next backup that dedupes
// onto such an object takes it back and finishes within seconds; the next cleanup reclaims
// the rest. A mark held by a live cleanup makes a backup wait a bounded time, then fail with
// LOCKED naming who holds it, never loop silently. The same holds for every writer of a
// version (engine/meta/block-rows.ts): a copy into a repository and an import, which once
// waited on such a mark forever.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { rmSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { after, describe, it } from 'node:test';
import { backupCli, BS, cli, initRepo, objectPath, ok, openDb, query, restoreEquals, seededBytes, sha256, tempDir, writeBlocks } from '../helpers';

const DELETING = 3;
const digestOf = (seed: number): string => sha256(seededBytes(seed, BS));

/** The state a cleanup killed between its mark and its sweep leaves: marks, a lock row, some files gone. */
function killedCleanupLeftovers(repo: string, pid: number, goneFiles: string[]): void {
  const db = openDb(repo, false);
  db.prepare(`UPDATE objects SET state = ${DELETING}`).run();
  db.prepare('INSERT INTO locks(name, mode, pid, host, since, reason) VALUES (?, ?, ?, ?, ?, ?)').run(`cleanup:${pid}`, 'shared', pid, hostname(), Date.now(), 'cleanup');
  db.close();
  for (const digest of goneFiles) rmSync(objectPath(repo, digest));
}

/** A pid that belonged to a process that has exited. */
async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '0']);
  await new Promise((resolve) => child.on('close', resolve));
  return child.pid!;
}

describe('stale deleting marks of a killed cleanup', () => {
  const dir = tempDir();

  it('a backup deduping onto objects a killed cleanup marked finishes and restores bit-exact', { timeout: 60_000 }, async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0'], 'killed');
    const image = join(dir, 'a.img');
    writeBlocks(image, [1, 2, 3, 0, 2]);
    const first = await backupCli(repo, image, 'a');
    await ok(['--repo', repo, 'rm', first]);
    killedCleanupLeftovers(repo, await deadPid(), [digestOf(1)]);

    const result = await cli(['--repo', repo, 'backup', image, 'a']);
    assert.equal(result.code, 0, result.stderr);
    const uid = result.stdout.trim().split('\n').pop()!;
    await restoreEquals(repo, uid, join(dir, 'a.out'), image);
    await ok(['--repo', repo, 'scrub', '--deep', uid]);
    const states = query<{ state: number }>(repo, 'SELECT state FROM objects');
    assert.ok(states.every((row) => row.state !== DELETING), 'no mark is left on an object a version references');
  });

  it('a mark held by a live cleanup ends the backup with LOCKED and who holds it, within a bounded time', { timeout: 90_000 }, async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0'], 'live');
    const image = join(dir, 'b.img');
    writeBlocks(image, [7, 8]);
    const first = await backupCli(repo, image, 'b');
    await ok(['--repo', repo, 'rm', first]);
    const holder = spawn('sleep', ['120']);
    after(() => holder.kill());
    killedCleanupLeftovers(repo, holder.pid!, []);
    const result = await cli(['--repo', repo, 'backup', image, 'b']);
    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /LOCKED/);
    assert.match(result.stderr, new RegExp(`pid ${holder.pid}`));
    assert.equal(query(repo, 'SELECT 1 FROM versions WHERE state = 1').length, 0, 'no valid version');
  });

  it('a copy into a repository whose objects a killed cleanup marked finishes and restores bit-exact', { timeout: 60_000 }, async () => {
    const source = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0'], 'copy-src');
    const destination = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0'], 'copy-dst');
    const image = join(dir, 'c.img');
    writeBlocks(image, [4, 5, 6, 0, 5]);
    const uid = await backupCli(source, image, 'c');
    await ok(['--repo', source, 'copy', uid, '--to', destination]);
    await ok(['--repo', destination, 'rm', uid]);
    killedCleanupLeftovers(destination, await deadPid(), [digestOf(4)]);

    const result = await cli(['--repo', source, 'copy', uid, '--to', destination]);
    assert.equal(result.code, 0, result.stderr);
    await restoreEquals(destination, uid, join(dir, 'c.out'), image);
    await ok(['--repo', destination, 'scrub', '--deep', uid]);
    const states = query<{ state: number }>(destination, 'SELECT state FROM objects');
    assert.ok(states.every((row) => row.state !== DELETING), 'no mark is left on an object the copied version references');
  });
});
