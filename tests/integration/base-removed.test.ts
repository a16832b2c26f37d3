// An incremental backup whose base is removed while it starts, and whose row id (SQLite gives
// the highest id again once its row is gone) a new version takes meanwhile: the backup must not
// copy the new version's blocks as if they were the base's. It fails NOT_FOUND saying the base
// went away and creates nothing; the version that took the id is untouched. (Before, the
// backup read the other version's rows: HINTS_MISMATCH blaming the hints when a sample caught
// the difference, else a valid version with the other version's blocks.) The source is an NBD
// export whose connection nbdkit's delay filter holds for a few seconds: the moment between the
// backup reading its base and reading the base's block list, made long on purpose.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupCli, BS, cli, exited, initRepo, lsJson, ok, query, restoreEquals, spawnCli, tempDir, waitFor, writeBlocks } from '../helpers';
import { nbdkit } from '../nbd-helpers';

/** Connections to a Unix socket: its lines in /proc/net/unix (the listener's and each accepted one). */
function socketLines(path: string): number {
  return readFileSync('/proc/net/unix', 'utf8').split('\n').filter((line) => line.endsWith(` ${path}`)).length;
}

describe('an incremental backup whose base is removed while it starts', () => {
  const dir = tempDir();

  it('fails NOT_FOUND and does not take the version that got the base\'s row id for its base', { timeout: 120_000 }, async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0']);
    const base = Array.from({ length: 32 }, (_, i) => 100 + i);
    const changed = base.map((seed, i) => (i % 8 === 1 ? 500 + i : seed));
    // the same as the source except one block the hints call unchanged
    const other = changed.map((seed, i) => (i === 20 ? 900 : seed));
    const paths = { base: join(dir, 'base.img'), source: join(dir, 'source.img'), other: join(dir, 'other.img') };
    writeBlocks(paths.base, base);
    writeBlocks(paths.source, changed);
    writeBlocks(paths.other, other);
    const hints = join(dir, 'source.hints');
    writeFileSync(hints, JSON.stringify(base.flatMap((_, i) => (i % 8 === 1 ? [{ offset: i * BS, length: BS, exists: true }] : []))));
    const baseUid = await backupCli(repo, paths.base, 'disk');
    const [{ id: baseId }] = query<{ id: number }>(repo, 'SELECT id FROM versions WHERE uid = ?', baseUid);

    const server = await nbdkit(['--filter=delay', 'file', paths.source, 'delay-open=8']);
    const socket = server.address.endpoint.kind === 'unix' ? server.address.endpoint.path : '';
    const child = spawnCli(['--repo', repo, 'backup', server.url, 'disk', '--from', baseUid, '--hints', hints]);
    child.stdin!.end();
    const done = exited(child);
    // The backup has read its base and is connecting to its source: remove the base, and back
    // up another disk (whose version SQLite alone would give the base's row id).
    await waitFor('the backup to connect to its source', () => socketLines(socket) >= 2, 60_000, 20);
    await ok(['--repo', repo, 'rm', '--force', baseUid]);
    const otherUid = await backupCli(repo, paths.other, 'other');
    const [{ id: otherId }] = query<{ id: number }>(repo, 'SELECT id FROM versions WHERE uid = ?', otherUid);
    // SQLite would give the removed base's row id to this version; Blockvault never gives an
    // id twice (tests/unit/engine/meta/version-ids.test.ts), so the backup cannot mistake it.
    assert.notEqual(otherId, baseId, 'a removed version\'s id is never given again');
    assert.equal(socketLines(socket) >= 2 && child.exitCode === null, true, 'the backup was still connecting when the base was replaced');

    const result = await done;
    await server.stop();
    assert.notEqual(result.code, 0, `the backup used another version as its base and ended ok: ${result.stdout}`);
    assert.match(result.stderr, /error \[NOT_FOUND\]: base version .* was removed/, result.stderr);
    assert.deepEqual((await lsJson(repo)).map((v) => v.uid), [otherUid], 'no version was created');
    await restoreEquals(repo, otherUid, join(dir, 'other.out'), paths.other);
    const scrub = await cli(['--repo', repo, 'scrub', '--deep', otherUid]);
    assert.equal(scrub.code, 0, scrub.stdout + scrub.stderr);
  });
});
