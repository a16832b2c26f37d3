// What a killed rm, prune or manifest write leaves in the store is reclaimed by a full cleanup:
// rm removes a version's rows first and its manifest after (a crash keeps the version
// recoverable), so a kill between the two leaves a manifest of no version, which `recover`
// would bring back as a version whose data a cleanup has already deleted; a killed put leaves
// a temporary file beside the manifests. A full cleanup removes both, and only those: the
// manifests of the versions there stay, and they restore bit-exact.
import assert from 'node:assert/strict';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, it } from 'node:test';
import { backupCli, initRepo, ok, openDb, restoreEquals, tempDir, writeBlocks } from '../helpers';

describe('a full cleanup and the manifests of no version', () => {
  const dir = tempDir();

  it('removes the manifest a killed rm left and the leftover of a killed manifest put, and nothing else', async () => {
    const repo = await initRepo(dir, ['--min-age-days', '0', '--grace-seconds', '0']);
    const image = join(dir, 'a.img');
    writeBlocks(image, [1, 2, 0, 3]);
    const removed = await backupCli(repo, image, 'a');
    const kept = await backupCli(repo, image, 'a');
    const manifests = join(repo, 'manifests');
    assert.ok(existsSync(join(manifests, removed)), 'each version has its manifest');
    // a kill between rm's rows and its manifest: the rows are gone, the manifest is not
    const db = openDb(repo, false);
    const { id } = db.prepare('SELECT id FROM versions WHERE uid = ?').get(removed) as { id: number };
    db.prepare('DELETE FROM blocks WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM tags WHERE version_id = ?').run(id);
    db.prepare('DELETE FROM versions WHERE id = ?').run(id);
    db.close();
    // a kill during a manifest put: its temporary file
    writeFileSync(join(manifests, `${kept}.tmp-4242-0-7`), 'half a manifest');

    const out = await ok(['--repo', repo, 'cleanup', '--full', '--grace-seconds', '0', '--json']);
    assert.deepEqual(readdirSync(manifests), [kept], `left in manifests/ after a full cleanup (${out})`);
    await restoreEquals(repo, kept, join(dir, 'kept.img'), image);
  });
});
